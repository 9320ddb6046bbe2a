"""Races against the real database: a parcel is consumed once, however many requests ask for it at once (INT-09).

Meaningful on PostgreSQL (concurrent writers); on SQLite the IMMEDIATE transactions queue the writers, and the
test still checks that exactly one wins.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from kpcs.audit import services as audit
from kpcs.custody import services
from kpcs.custody.models import CustodyEvent, Parcel
from kpcs.errors import Conflict
from tests.certificates.test_concurrency import race
from tests.custody.conftest import World, outputs

pytestmark = pytest.mark.django_db(transaction=True)


def test_twenty_simultaneous_transfers_of_one_parcel_succeed_once(world: World) -> None:
    [p] = outputs(world.produce("100.00"))
    buyers = [world.dealer, world.exporter]
    results = race(20, lambda i: world.transfer([p.pk], world.mine_op, buyers[i % 2]).pk)
    wins = [r for kind, r in results if kind == "ok"]
    errors = [r for kind, r in results if kind == "error"]
    assert len(wins) == 1, results
    assert all(isinstance(e, Conflict) and e.rule == "INT-09" for e in errors), errors
    assert Counter(e.code for e in errors) == Counter({"parcel_consumed": 19})
    assert Parcel.objects.get(pk=p.pk).consumed_by_id == wins[0]
    assert Parcel.objects.filter(created_by__type="transfer").count() == 1
    assert CustodyEvent.objects.filter(type="transfer").count() == 1
    assert audit.verify_chain()[1] is None


def test_retries_racing_with_one_key_apply_once(world: World) -> None:
    req: dict[str, Any] = {"type": "production", "site": world.mine.pk, "occurred_at": "2025-03-03T10:00:00Z",
                           "produced": [{"carats": "1.00", "value_usd": "1.00", "hs_code": "7102.31"}]}
    results = race(10, lambda i: services.record_event(world.officer, req, idempotency_key="same").event.pk)
    assert all(kind == "ok" for kind, _ in results), results
    assert len({r for _, r in results}) == 1
    assert CustodyEvent.objects.count() == 1 and Parcel.objects.count() == 1
