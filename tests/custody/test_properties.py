"""Random sequences of custody events never break mass balance or carat conservation, and every trace adds up
(INT-09, CERT-10). Each example runs in a transaction rolled back at its end, on one small world."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpcs.audit.models import AuditEntry
from kpcs.audit.rules import record_hash
from kpcs.custody import rules, selectors, services
from kpcs.custody.models import CustodyEvent, Parcel, ParcelOrigin
from kpcs.errors import DomainError
from tests.custody.conftest import DAY, WARRANTY, World

pytestmark = pytest.mark.django_db

STEP = st.tuples(st.sampled_from(["produce", "transfer", "part", "split", "merge", "loss", "replay"]),
                 st.integers(0, 50), st.integers(0, 50), st.integers(1, 5000))


def _apply(world: World, step: tuple[str, int, int, int], n: int) -> None:
    kind, a, b, c = step
    when = (DAY + dt.timedelta(hours=n)).isoformat()
    held = list(Parcel.objects.filter(status="held").order_by("pk"))
    every = list(Parcel.objects.order_by("pk"))
    operators = [world.mine_op, world.digger, world.dealer, world.exporter]
    if kind == "produce":
        site = [world.mine, world.alluvial][a % 2]
        req: dict[str, Any] = {"type": "production", "site": site.pk, "occurred_at": when,
                               "produced": [{"carats": rules.centi_text(c), "value_usd": rules.centi_text(c * 7),
                                             "hs_code": "7102.31"}]}
    elif not held:
        return
    elif kind == "transfer":
        p = held[a % len(held)]
        req = {"type": "transfer", "parcels": [p.pk], "seller": p.holder_id, "buyer": operators[b % 4].pk,
               "invoice": f"INV-{n}", "warranty": WARRANTY, "occurred_at": when}
    elif kind == "part":  # part of a parcel, sometimes more than it holds
        p = held[a % len(held)]
        req = {"type": "transfer", "parcels": [p.pk], "seller": p.holder_id, "buyer": operators[b % 4].pk,
               "invoice": f"INV-{n}", "warranty": WARRANTY, "occurred_at": when,
               "carats": rules.centi_text(1 + c % (p.carats_centi + 2))}
    elif kind == "split":
        p = held[a % len(held)]
        first = 1 + (c % max(p.carats_centi - 1, 1))
        req = {"type": "split", "parcels": [p.pk], "occurred_at": when,
               "into": [{"carats": rules.centi_text(first)},
                        {"carats": rules.centi_text(p.carats_centi - first + (b % 3 == 0))}]}
    elif kind == "merge":
        p, q = held[a % len(held)], held[b % len(held)]
        req = {"type": "merge", "parcels": [p.pk, q.pk], "occurred_at": when}
    elif kind == "loss":
        req = {"type": "loss", "parcels": [held[a % len(held)].pk], "reason": "lost", "occurred_at": when}
    else:  # a parcel already consumed, sold again
        p = every[a % len(every)]
        req = {"type": "transfer", "parcels": [p.pk], "seller": p.holder_id, "buyer": operators[b % 4].pk,
               "invoice": f"INV-{n}", "warranty": WARRANTY, "occurred_at": when}
    before = (CustodyEvent.objects.count(), Parcel.objects.filter(status="held").count())
    try:
        services.record_event(world.officer, req)
    except DomainError:
        assert (CustodyEvent.objects.count(), Parcel.objects.filter(status="held").count()) == before


def _check(world: World) -> None:
    produced = Parcel.objects.filter(created_by__type="production").aggregate(s=Sum("carats_centi"))["s"] or 0
    held = Parcel.objects.filter(status="held").aggregate(s=Sum("carats_centi"))["s"] or 0
    lost = Parcel.objects.filter(consumed_by__type="loss").aggregate(s=Sum("carats_centi"))["s"] or 0
    assert produced == held + lost  # mass balance over the whole node
    for event in CustodyEvent.objects.filter(type__in=rules.CONSERVING):
        into = event.inputs.aggregate(s=Sum("carats_centi"))["s"]
        assert into == event.outputs.aggregate(s=Sum("carats_centi"))["s"] and into
    logged = {int(e.object_id): json.loads(e.payload)["record_hash"]
              for e in AuditEntry.objects.filter(object_type="custody_event")}
    for event in CustodyEvent.objects.all():  # what the log binds is what the rows say
        assert logged[event.pk] == record_hash(selectors.event_record(event)), event.type
    for p in Parcel.objects.all():
        rows = ParcelOrigin.objects.filter(parcel=p).aggregate(s=Sum("carats_centi"))["s"]
        assert rows == p.carats_centi, p.pk
        assert (p.status == "consumed") == (p.consumed_by_id is not None)
    for p in Parcel.objects.filter(status="held"):
        trace = selectors.trace(p)
        assert sum(Decimal(o["carats"]) for o in trace["origins"]) == Decimal(trace["parcel"]["carats"])
        assert trace["path"] and trace["path"][-1]["type"] == "production"
    for op in (world.mine_op, world.digger, world.dealer, world.exporter):
        book = services.ledger(world.officer, op.pk, DAY.date(), DAY.date() + dt.timedelta(days=5))
        assert book["balanced"], book
    for site in (world.mine, world.alluvial):
        forward = selectors.site_trace(site)
        assert Decimal(forward["produced"]) == Decimal(forward["held"]) + sum(
            Decimal(v) for v in forward["removed"].values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=2, max_size=14))
def test_random_events_keep_mass_balance(world: World, steps: list[tuple[str, int, int, int]]) -> None:
    with transaction.atomic():
        for n, step in enumerate([("produce", 0, 0, 2500), ("produce", 1, 0, 1300), *steps]):
            _apply(world, step, n)
        _check(world)
        transaction.set_rollback(True)
