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

KINDS = ["produce", "transfer", "part", "split", "merge", "loss", "replay"]
STEP = st.tuples(st.sampled_from(KINDS), st.integers(0, 50), st.integers(0, 50), st.integers(1, 5000))
# with certificates from custody: parcels exported, and returned when their certificate is cancelled or rejected
CERTIFICATE_STEP = st.tuples(st.sampled_from([*KINDS, *["export", "unexport"] * 3]), st.integers(0, 50),
                             st.integers(0, 50), st.integers(1, 5000))


def _certificate_step(officers: dict[str, Any], world: World, kind: str, a: int, b: int, n: int) -> None:
    """Export some of the exporter's parcels under a certificate, or end a certificate unused (cancelled or
    rejected): its parcels come back to the exporter (a `return`, from the certificates' events)."""
    from kpcs.certificates import services as certificates
    from kpcs.certificates.models import Certificate

    when = DAY + dt.timedelta(hours=n)
    before = (CustodyEvent.objects.count(), Parcel.objects.filter(status="held").count())
    try:
        if kind == "export":
            held = list(Parcel.objects.filter(status="held", holder=world.exporter).order_by("pk")
                        .values_list("pk", flat=True))
            if not held:
                return
            chosen = held[a % len(held):][:1 + b % 3]
            certificates.issue(officers["exp"], {"importing_participant": "EU", "exporter": {"licence": "BW-EXP-9"},
                                                 "importer": {"name": "EU importer Ltd", "address": "Antwerp"},
                                                 "parcels": chosen}, now=when)
            return
        issued = list(Certificate.objects.filter(status="issued").order_by("pk").values_list("number", flat=True))
        if not issued:
            return
        number = issued[a % len(issued)]
        if b % 2:
            certificates.cancel(officers["exp"], number, {"reason": "withdrawn"}, now=when)
        else:
            certificates.reject(officers["imp"], number, {"reason": "seal", "discrepancy": {"kind": "seals_broken"}},
                                now=when)
    except DomainError:
        assert (CustodyEvent.objects.count(), Parcel.objects.filter(status="held").count()) == before


def _apply(world: World, step: tuple[str, int, int, int], n: int, officers: dict[str, Any] | None = None) -> None:
    kind, a, b, c = step
    if kind in ("export", "unexport"):
        if officers is not None:
            _certificate_step(officers, world, kind, a, b, n)
        return
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
    returned = CustodyEvent.objects.filter(type="return").values("certificate")
    away = Parcel.objects.filter(consumed_by__type="export").exclude(consumed_by__certificate__in=returned)
    exported = away.aggregate(s=Sum("carats_centi"))["s"] or 0
    assert produced == held + lost + exported  # mass balance over the whole node
    for back in CustodyEvent.objects.filter(type="return"):  # a return gives back what its export took
        export = CustodyEvent.objects.get(type="export", certificate=back.certificate)
        assert back.outputs.aggregate(s=Sum("carats_centi"))["s"] == export.inputs.aggregate(
            s=Sum("carats_centi"))["s"]
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
        gone = ParcelOrigin.objects.filter(parcel__in=away, site=site).aggregate(s=Sum("carats_centi"))["s"] or 0
        assert Decimal(forward["produced"]) == Decimal(forward["held"]) + sum(
            Decimal(v) for v in forward["removed"].values()) + Decimal(gone).scaleb(-2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=2, max_size=14))
def test_random_events_keep_mass_balance(world: World, steps: list[tuple[str, int, int, int]]) -> None:
    with transaction.atomic():
        for n, step in enumerate([("produce", 0, 0, 2500), ("produce", 1, 0, 1300), *steps]):
            _apply(world, step, n)
        _check(world)
        transaction.set_rollback(True)


@pytest.fixture
def officers(world: World, make_user: Any, kp: Any) -> dict[str, Any]:
    services.set_control(kp.SYSTEM, "BW", dt.date(2025, 1, 1), True)
    return {"exp": make_user("export@bw.test", "exporting_officer", "BW"),
            "imp": make_user("imp@eu.test", "importing_officer", "EU", "EU-BE-ANTWERP")}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(steps=st.lists(CERTIFICATE_STEP, min_size=2, max_size=14))
def test_random_events_with_certificates_and_returns_keep_mass_balance(
        world: World, officers: dict[str, Any], steps: list[tuple[str, int, int, int]]) -> None:
    """Issue 9: exports, and returns of cancelled or rejected certificates' parcels, keep the balance; returned
    parcels trace back to production through their export and can be sold and exported again."""
    with transaction.atomic():
        start = [("produce", 0, 0, 2500), ("produce", 1, 0, 1300), ("transfer", 0, 3, 1), ("export", 0, 1, 1)]
        for n, step in enumerate([*start, *steps]):
            _apply(world, step, n, officers)
        _check(world)
        transaction.set_rollback(True)
