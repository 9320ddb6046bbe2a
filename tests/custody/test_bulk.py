"""Bulk intake of a file of custody events (`custody.bulk`): the same records as the one-by-one path, the same
refusals naming the same line and rule, nothing kept on a refusal, one audit entry, parcels consumed once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kpcs.audit import services as audit
from kpcs.audit.models import AuditEntry
from kpcs.custody import bulk, rules, selectors, services
from kpcs.custody.models import CustodyBatch, CustodyEvent, Parcel, ParcelOrigin
from kpcs.errors import Conflict
from tests.certificates.test_concurrency import race
from tests.custody.conftest import DAY, WARRANTY, World, outputs

pytestmark = pytest.mark.django_db


def at(hours: float) -> str:
    return (DAY + dt.timedelta(hours=hours)).isoformat()


def day_file(world: World, stock: list[int]) -> list[dict[str, Any]]:
    """A buying office's day: production at both sites, sales whole and partial (with and without an invoice
    value), sorting, mixing, a loss and a seizure, and parcels held before the file (`stock`)."""
    w = world
    sale = {"invoice": "INV-9", "warranty": WARRANTY}
    return [
        {"type": "production", "site": w.mine.pk, "occurred_at": at(1),
         "produced": [{"carats": "100.00", "value_usd": "9000.00", "hs_code": "7102.31", "stones": 40},
                      {"carats": "33.33", "value_usd": "1000.01", "hs_code": "7102.21"}]},
        {"type": "production", "site": w.alluvial.pk, "occurred_at": at(1.5),
         "produced": [{"carats": "7.07", "value_usd": "707.00", "hs_code": "7102.31", "stones": 3}]},
        {"type": "transfer", "parcels": ["@1.1"], "seller": w.mine_op.pk, "buyer": w.dealer.pk, "occurred_at": at(2),
         **sale},
        {"type": "transfer", "parcels": ["@2"], "seller": w.digger.pk, "buyer": w.dealer.pk, "carats": "2.02",
         "occurred_at": at(2.5), **sale},  # partial: a split, then the sale of the part
        {"type": "merge", "parcels": ["@3", "@4"], "occurred_at": at(3)},
        {"type": "split", "parcels": ["@5"], "into": [{"carats": "50.01"}, {"carats": "30.00"}, {"carats": "22.01"}],
         "occurred_at": at(3.5)},
        {"type": "transfer", "parcels": ["@6.1", "@6.3", stock[0]], "seller": w.dealer.pk, "buyer": w.exporter.pk,
         "value_usd": "12345.67", "occurred_at": at(4), **sale},
        {"type": "split", "parcels": ["@6.2"], "into": [{"carats": "10.00", "value_usd": "1.00"},
                                                         {"carats": "20.00", "value_usd": "2704.94"}],
         "occurred_at": at(4.5)},
        {"type": "loss", "parcels": ["@8.1"], "reason": "fell in the river", "occurred_at": at(5)},
        {"type": "seizure", "parcels": [stock[1]], "operator": w.mine_op.pk, "reason": "unlawful",
         "occurred_at": at(5.5)},
        {"type": "transfer", "parcels": ["@1.2"], "seller": w.mine_op.pk, "buyer": w.exporter.pk,
         "carats": "33.33", "occurred_at": at(6), **sale},  # "partial" of the whole parcel: a plain sale
        {"type": "merge", "parcels": ["@7", "@11"], "hs_code": "7102.10", "occurred_at": at(7)},
    ]


def snapshot(world: World, since_event: int, since_parcel: int) -> dict[str, Any]:
    """Everything the events recorded, their parcels and origins, every operator's ledger and every parcel's
    trace, with the ids the load gave replaced by their order (the two loads draw different ids on PostgreSQL)."""
    events = list(CustodyEvent.objects.filter(pk__gt=since_event).order_by("pk"))
    parcels = list(Parcel.objects.filter(pk__gt=since_parcel).order_by("pk"))
    ev = {e.pk: f"e{n}" for n, e in enumerate(events)}
    pa = {p.pk: f"p{n}" for n, p in enumerate(parcels)}

    def e_(pk: int | None) -> Any:
        return ev.get(pk, pk) if pk is not None else None

    def p_(pk: int) -> Any:
        return pa.get(pk, pk)

    def step(s: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in s.items() if k not in ("id", "recorded_at")}, "id": e_(s["id"]),
                "inputs": [{**i, "id": p_(i["id"])} for i in s["inputs"]],
                "outputs": [{**o, "id": p_(o["id"])} for o in s["outputs"]]}

    out: dict[str, Any] = {
        "events": [(ev[e.pk], e.type, e.participant_id, e.occurred_at, e.operator_id, e.counterparty_id, e.site_id,
                    e.operator_licence_id, e.counterparty_licence_id, e.details, e.certificate) for e in events],
        "parcels": [(pa[p.pk], p.holder_id, p.participant_id, p.carats_centi, p.usd_cents, p.hs_code, p.stones,
                     p.status, e_(p.created_by_id), p.created_on, e_(p.consumed_by_id), p.consumed_on,
                     sorted((o.country, o.site_id or 0, o.carats_centi) for o in ParcelOrigin.objects.filter(parcel=p)))
                    for p in parcels],
        "stock_consumed": sorted((pk, e_(by)) for pk, by in Parcel.objects.filter(
            pk__lte=since_parcel, consumed_by__gt=since_event).values_list("pk", "consumed_by_id")),
    }
    out["ledgers"] = [services.ledger(world.officer, op.pk, DAY.date() - dt.timedelta(days=1), DAY.date())
                      for op in (world.mine_op, world.digger, world.dealer, world.exporter)]
    traces = []
    for p in Parcel.objects.filter(pk__in=list(pa)).order_by("pk"):
        t = selectors.trace(p)
        view = t["parcel"]
        traces.append({"parcel": {**view, "id": p_(view["id"]), "created_by": e_(view["created_by"]),
                                  "consumed_by": e_(view["consumed_by"])},
                       "origins": t["origins"], "path": [step(s) for s in t["path"]]})
    out["traces"] = traces
    out["sites"] = [selectors.site_trace(s) | {"parcels": [{**r, "parcel": p_(r["parcel"])}
                                                            for r in selectors.site_trace(s)["parcels"]]}
                    for s in (world.mine, world.alluvial)]
    return out


def _stock(world: World) -> list[int]:
    dealer_stock = world.transfer([outputs(world.produce("5.55", when=DAY - dt.timedelta(days=1)))[0].pk],
                                  world.mine_op, world.dealer, when=DAY - dt.timedelta(hours=20))
    [mine_stock] = outputs(world.produce("1.11", when=DAY - dt.timedelta(days=1)))
    return [outputs(dealer_stock)[0].pk, mine_stock.pk]


def _marks() -> tuple[int, int]:
    return (CustodyEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
            Parcel.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)


def test_bulk_records_what_one_by_one_records(world: World) -> None:
    """The same file loaded both ways: the same events, parcels, origin rows, ledgers, site traces and traces."""
    stock = _stock(world)
    lines = list(enumerate(day_file(world, stock), start=1))
    marks = _marks()
    with transaction.atomic():
        services.import_events(world.officer, lines)
        one_by_one = snapshot(world, *marks)
        transaction.set_rollback(True)
    assert _marks() == marks  # rolled back
    data = b"".join(json.dumps(e).encode() + b"\n" for _n, e in lines)
    done = bulk.import_file(world.officer, data, "day.jsonl")
    in_bulk = snapshot(world, *marks)
    assert len(in_bulk["events"]) == 13 and len(in_bulk["parcels"]) == 18  # a partial sale split first
    assert in_bulk["stock_consumed"] == [(stock[0], "e7"), (stock[1], "e10")]
    for key in one_by_one:
        assert in_bulk[key] == one_by_one[key], key
    assert (done.lines, done.events, done.parcels_made, done.parcels_consumed) == (12, 13, 18, 2)
    assert done.by_type == {"production": 2, "transfer": 4, "split": 3, "merge": 2, "loss": 1, "seizure": 1}
    assert all(b["balanced"] for b in in_bulk["ledgers"])


def test_one_audit_entry_binds_the_file(world: World) -> None:
    stock = _stock(world)
    data = b"".join(json.dumps(e).encode() + b"\n" for e in day_file(world, stock))
    before = AuditEntry.objects.count()
    done = bulk.import_file(world.officer, data, "day.jsonl")
    [entry] = AuditEntry.objects.filter(seq__gt=before)
    payload = json.loads(entry.payload)
    assert (entry.action, entry.object_type, entry.object_id, entry.participant) == (
        "custody.imported", "custody_batch", str(done.batch), "BW")
    assert payload["sha256"] == hashlib.sha256(data).hexdigest() and payload["lines"] == 12
    assert payload["events"] == 13 and payload["by_type"]["split"] == 3 and payload["parcels_consumed"] == 2
    assert payload["event_ids"] == [[done.event_ids[0], done.event_ids[-1]]]
    assert "100.00" not in entry.payload and "INV-9" not in entry.payload  # commercial figures stay out
    batch = CustodyBatch.objects.get(pk=done.batch)
    assert (batch.events, batch.filename) == (13, "day.jsonl")
    assert set(CustodyEvent.objects.filter(batch=batch).values_list("pk", flat=True)) == set(done.event_ids)
    verification = audit.verify()
    assert verification.valid, verification.differences


BAD = {
    "seller is buyer": (lambda w, s: {"type": "transfer", "parcels": ["@1.1"], "seller": w.mine_op.pk,
                                      "buyer": w.mine_op.pk, "invoice": "I", "warranty": WARRANTY},
                        "same_operator", "INT-08"),
    "sold twice": (lambda w, s: {"type": "transfer", "parcels": ["@2"], "seller": w.mine_op.pk,
                                 "buyer": w.dealer.pk, "invoice": "I", "warranty": WARRANTY},
                   "not_holder", "INT-09"),
    "consumed earlier in the file": (lambda w, s: {"type": "loss", "parcels": ["@1.1"], "reason": "lost"},
                                     "parcel_consumed", "INT-09"),
    "more than held": (lambda w, s: {"type": "transfer", "parcels": ["@1.2"], "seller": w.mine_op.pk,
                                     "buyer": w.dealer.pk, "carats": "33.34", "invoice": "I", "warranty": WARRANTY},
                       "insufficient_stock", "INT-09"),
    "buyer not licensed to buy": (lambda w, s: {"type": "transfer", "parcels": ["@1.2"], "seller": w.mine_op.pk,
                                                "buyer": w.digger.pk, "invoice": "I", "warranty": WARRANTY},
                                  "unlicensed", "INT-08"),
    "another participant's buyer": (lambda w, s: {"type": "transfer", "parcels": ["@1.2"], "seller": w.mine_op.pk,
                                                  "buyer": w.za_dealer.pk, "invoice": "I", "warranty": WARRANTY},
                                    "not_found", None),
    "not conserved": (lambda w, s: {"type": "split", "parcels": ["@1.2"],
                                    "into": [{"carats": "3.00"}, {"carats": "30.00"}]},
                      "carats_not_conserved", "INT-09"),
    "before its parcel": (lambda w, s: {"type": "loss", "parcels": ["@1.2"], "reason": "x",
                                        "occurred_at": at(0)}, "before_parcel", "INT-09"),
    "stock already consumed": (lambda w, s: {"type": "loss", "parcels": [s[2]], "reason": "x"},
                               "parcel_consumed", "INT-09"),
    "another holder's stock": (lambda w, s: {"type": "merge", "parcels": [s[0], "@1.2"]}, "not_holder", "INT-09"),
    "no such parcel": (lambda w, s: {"type": "loss", "parcels": [987654], "reason": "x"}, "not_found", None),
    "an id out of JSON's range": (lambda w, s: {"type": "loss", "parcels": [2**53 + 1], "reason": "x"},
                                  "invalid_event", None),
    "no such site": (lambda w, s: {"type": "production", "site": 99999, "produced": [
        {"carats": "1.00", "value_usd": "1.00", "hs_code": "7102.31"}]}, "not_found", None),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_line_is_refused_as_one_by_one_refuses_it_and_nothing_is_kept(world: World, case: str) -> None:
    stock = _stock(world)
    [gone] = outputs(world.produce("2.00", when=DAY - dt.timedelta(days=1)))
    world.event(type="loss", parcels=[gone.pk], reason="lost", occurred_at=(DAY - dt.timedelta(hours=1)).isoformat())
    make, code, rule = BAD[case]
    good = [
        {"type": "production", "site": world.mine.pk, "occurred_at": at(1),
         "produced": [{"carats": "10.00", "value_usd": "9.00", "hs_code": "7102.31"},
                      {"carats": "33.33", "value_usd": "1.00", "hs_code": "7102.31"}]},
        {"type": "transfer", "parcels": ["@1.1"], "seller": world.mine_op.pk, "buyer": world.dealer.pk,
         "invoice": "I", "warranty": WARRANTY, "occurred_at": at(2)},
    ]
    bad = {"occurred_at": at(3), **make(world, [*stock, gone.pk])}
    lines = list(enumerate([*good, bad], start=1))
    counts = (CustodyEvent.objects.count(), Parcel.objects.filter(status="held").count(), AuditEntry.objects.count())
    with pytest.raises(rules.LineError) as one:
        services.import_events(world.officer, lines)
    with pytest.raises(rules.LineError) as many:
        bulk.import_events(world.officer, lines, sha256="0" * 64)
    assert (many.value.line, many.value.code, many.value.rule) == (one.value.line, one.value.code, one.value.rule)
    assert (many.value.line, many.value.code, many.value.rule) == (3, code, rule)
    assert many.value.message.startswith("line 3: ")
    assert (CustodyEvent.objects.count(), Parcel.objects.filter(status="held").count(),
            AuditEntry.objects.count()) == counts
    assert not CustodyBatch.objects.exists()


def test_the_refusal_names_the_figures(world: World) -> None:
    lines = [(1, {"type": "production", "site": world.mine.pk, "occurred_at": at(1),
                  "produced": [{"carats": "33.33", "value_usd": "1.00", "hs_code": "7102.31"}]}),
             (4, {"type": "transfer", "parcels": ["@1"], "seller": world.mine_op.pk, "buyer": world.dealer.pk,
                  "carats": "40.00", "invoice": "I", "warranty": WARRANTY, "occurred_at": at(2)})]
    with pytest.raises(rules.LineError) as exc:
        bulk.import_events(world.officer, lines, sha256="0" * 64)
    assert exc.value.message == "line 4: parcel @1.1 holds 33.33 ct; 40.00 ct cannot be sold from it"


def test_another_participants_officer_sees_nothing_to_consume(world: World) -> None:
    [p] = outputs(world.produce("1.00"))
    lines = [(1, {"type": "loss", "parcels": [p.pk], "reason": "x", "occurred_at": at(1)})]
    with pytest.raises(rules.LineError) as exc:
        bulk.import_events(world.za_officer, lines, sha256="0" * 64)
    assert exc.value.code == "not_found" and Parcel.objects.get(pk=p.pk).status == "held"


@pytest.mark.django_db(transaction=True)
def test_a_parcel_sold_by_files_and_requests_at_once_is_consumed_once(world: World) -> None:
    """INT-09 under concurrency: files in bulk and single events racing for one parcel of stock; one wins."""
    [p] = outputs(world.produce("100.00"))

    def work(i: int) -> Any:
        sale = {"type": "transfer", "parcels": [p.pk], "seller": world.mine_op.pk,
                "buyer": (world.dealer if i % 2 else world.exporter).pk, "invoice": f"I-{i}", "warranty": WARRANTY,
                "occurred_at": at(1)}
        if i % 3:
            return bulk.import_events(world.officer, [(1, sale)], sha256="0" * 64).event_ids[0]
        return services.record_event(world.officer, sale).event.pk

    results = race(12, work)
    wins = [r for kind, r in results if kind == "ok"]
    errors = [r for kind, r in results if kind == "error"]
    assert len(wins) == 1, results
    assert Counter(e.code for e in errors) == Counter({"parcel_consumed": 11}), errors
    assert all(isinstance(e, Conflict | rules.LineError) for e in errors)
    assert Parcel.objects.get(pk=p.pk).consumed_by_id == wins[0]
    assert CustodyEvent.objects.filter(type="transfer").count() == 1
    assert audit.verify_chain()[1] is None


def test_an_empty_file_is_refused(world: World) -> None:
    with pytest.raises(rules.LineError) as exc:
        bulk.import_file(world.officer, b"type,occurred_at\n", "day.csv")
    assert (exc.value.line, exc.value.code) == (1, "empty_file")
    assert not CustodyBatch.objects.exists()


# --- property: any file, both paths agree ------------------------------------------------------------------

STEP = st.tuples(st.sampled_from(["produce", "transfer", "part", "split", "merge", "loss", "stock", "replay"]),
                 st.integers(0, 50), st.integers(0, 50), st.integers(1, 5000))


def random_file(world: World, stock: list[int], steps: list[tuple[str, int, int, int]]) -> list[dict[str, Any]]:
    """A file from random steps, naming parcels made by earlier lines ("@LINE.N") and the stock held before it;
    some steps name a parcel already consumed, or sell more than a parcel holds, so that some files are refused."""
    buyers = [world.dealer, world.exporter, world.dealer, world.exporter, world.dealer, world.exporter,
              world.digger]  # now and then one not licensed to buy (INT-08)
    made: list[tuple[str, int, int]] = []  # (reference, holder, carats) of what earlier lines made
    alive: list[int] = []  # indexes into made of what is still held, as far as the file goes
    out: list[dict[str, Any]] = []
    for n, (kind, a, b, c) in enumerate(steps):
        line, when = len(out) + 1, at(n / 60)
        if kind == "produce" or not alive:
            site = [world.mine, world.alluvial][a % 2]
            out.append({"type": "production", "site": site.pk, "occurred_at": when,
                        "produced": [{"carats": rules.centi_text(c), "value_usd": rules.centi_text(c * 3),
                                      "hs_code": ["7102.31", "7102.21"][b % 2]}]})
            alive.append(len(made))
            made.append((f"@{line}.1", site.holder_id, c))
            continue
        i = alive[a % len(alive)]
        ref, holder, carats = made[i]
        if kind == "replay":  # any parcel the file made, consumed or not
            ref, holder, carats = made[a % len(made)]
        elif kind == "stock":
            ref, holder, carats = stock[a % 2], [world.dealer.pk, world.mine_op.pk][a % 2], 555
        if kind in ("transfer", "part", "replay", "stock"):
            buyer = buyers[b % len(buyers)].pk
            if buyer == holder:
                buyer = world.exporter.pk if holder == world.dealer.pk else world.dealer.pk
            seller = holder if c % 4 else world.dealer.pk  # now and then a seller who does not hold it (INT-09)
            sale: dict[str, Any] = {"type": "transfer", "parcels": [ref], "seller": seller, "buyer": buyer,
                                    "invoice": f"I-{n}", "warranty": WARRANTY, "occurred_at": when}
            if kind == "part":
                sale["carats"] = rules.centi_text(1 + c % (carats + 2))
            out.append(sale)
            new = [(f"@{line}.1", buyer, carats)]
        elif kind == "split":
            first = 1 + c % max(carats - 1, 1)
            out.append({"type": "split", "parcels": [ref], "occurred_at": when,
                        "into": [{"carats": rules.centi_text(first)},
                                 {"carats": rules.centi_text(carats - first + (b % 5 == 0))}]})
            new = [(f"@{line}.1", holder, first), (f"@{line}.2", holder, carats - first)]
        elif kind == "merge" and len(alive) > 1:
            others = [k for k in alive if k != i]
            j = others[b % len(others)]
            out.append({"type": "merge", "parcels": [ref, made[j][0]], "hs_code": "7102.10", "occurred_at": when})
            new = [(f"@{line}.1", holder, carats + made[j][2])]
            alive = [k for k in alive if k != j]
        else:
            out.append({"type": "loss", "parcels": [ref], "reason": "lost", "occurred_at": when})
            new = []
        alive = [k for k in alive if k != i]
        for item in new:
            alive.append(len(made))
            made.append(item)
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=14))
def test_any_file_is_recorded_or_refused_alike_both_ways(world: World, steps: list[tuple[str, int, int, int]]
                                                         ) -> None:
    with transaction.atomic():
        stock = _stock(world)
        lines = list(enumerate(random_file(world, stock, steps), start=1))
        marks = _marks()
        outcomes = []
        for load in (lambda: services.import_events(world.officer, lines),
                     lambda: bulk.import_events(world.officer, lines, sha256="0" * 64)):
            with transaction.atomic():
                try:
                    load()
                except rules.LineError as exc:
                    outcomes.append(("refused", exc.line, exc.code, exc.rule))
                else:
                    outcomes.append(("recorded", snapshot(world, *marks)))
                transaction.set_rollback(True)
            assert _marks() == marks
        assert outcomes[1] == outcomes[0]
        event(outcomes[0][0] if outcomes[0][0] == "recorded" else f"refused: {outcomes[0][2]}")
        transaction.set_rollback(True)
