"""Statistics use cases on the database: derived trade, imports all-or-nothing, revisions, compliance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from kpcs import clock
from kpcs.certificates import services as certificates
from kpcs.errors import PermissionDenied, ValidationFailed
from kpcs.registry.services import SYSTEM, Actor, Grant
from kpcs.statistics import rules, selectors, services
from kpcs.statistics.models import Batch, Figure
from tests.conftest import certificate_request

pytestmark = pytest.mark.django_db
NODE = Actor("test node", grants=(Grant("wgs_analyst", None, None), Grant("admin", None, None)))
HEADER = ",".join(rules.COLUMNS)
NODE_STATS = Actor("bw stats", grants=(Grant("statistics_officer", "BW", "BW-KPA"),))


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join((HEADER, *lines)) + "\n").encode()


def test_trade_is_derived_from_certificates(bw_officer: Any, eu_officer: Any) -> None:
    when = dt.datetime(2025, 2, 10, tzinfo=dt.UTC)
    a = certificates.issue(bw_officer, certificate_request(), now=when)
    certificates.issue(bw_officer, certificate_request(), now=when)
    cancelled = certificates.issue(bw_officer, certificate_request(), now=when)
    certificates.cancel(bw_officer, cancelled.number, {"reason": "x"}, now=when)
    certificates.confirm(eu_officer, a.number, {"received_on": "2025-04-02", "parcels": 4, "carats": "1650.40",
                                                "seals_intact": True}, now=when + dt.timedelta(days=60))
    # as of a day both uncancelled certificates could still be used
    facts = {(f.participant, f.flow, f.period.label, f.hs_code): f
             for f in services.derived_facts(as_of=dt.date(2025, 3, 1))}
    exp = facts[("BW", "export", "2025-Q1", "7102.31")]
    assert (exp.partner, exp.origin, exp.carats, exp.usd, exp.certificates) == (
        "EU", "BW", Decimal("2500.80"), Decimal("3751200.00"), 2)  # the cancelled one is not an export
    imp = facts[("EU", "import", "2025-Q2", "7102.31")]  # by quarter of receipt
    assert (imp.partner, imp.carats, imp.certificates) == ("BW", Decimal("1250.40"), 1)
    # today the unconfirmed one has expired unused (CERT-09): no export, though nobody ran the expiry yet
    exp = {(f.participant, f.flow, f.period.label, f.hs_code): f for f in services.derived_facts()}[
        ("BW", "export", "2025-Q1", "7102.31")]
    assert (exp.carats, exp.certificates) == (Decimal("1250.40"), 1)
    stats = services.trade_statistics(NODE, rules.parse_period("2025"), "BW")
    assert stats["totals"]["export"] == {"carats": Decimal("1650.40"), "usd": Decimal("1887600.00"), "certificates": 1}


def test_reconciliation_shows_declared_beside_confirmed(bw_officer: Any, eu_officer: Any) -> None:
    when = dt.datetime(2025, 2, 10, tzinfo=dt.UTC)
    a = certificates.issue(bw_officer, certificate_request(), now=when)
    certificates.confirm(eu_officer, a.number, {"received_on": "2025-02-12", "parcels": 4, "carats": "1600.00",
                                                "seals_intact": True}, now=when + dt.timedelta(days=2))
    [row] = services.reconciliation(NODE, rules.parse_period("2025-Q1"), "EU")
    assert (row["declared_carats"], row["confirmed_carats"], row["carats_difference"]) == (
        Decimal("1650.40"), Decimal("1600.00"), Decimal("-50.40"))


def test_import_is_all_or_nothing_and_names_the_row(kp: Any) -> None:
    bad = csv_bytes("2024-Q1,BW,export,EU,BW,7102.31,100.00,1000.00,2",
                    "2024-Q2,BW,export,EU,BW,7102.31,abc,1000.00,2")
    with pytest.raises(rules.RowError) as exc:
        services.import_csv(bad, actor=NODE, filename="bad.csv")
    assert (exc.value.row, exc.value.column) == (3, "carats")
    assert not Figure.objects.exists()
    dup = csv_bytes("2024-Q1,BW,export,EU,BW,7102.31,100.00,1000.00,2", "2024-Q1,BW,export,EU,BW,7102.31,1,1,1")
    with pytest.raises(rules.RowError) as exc:
        services.import_csv(dup, actor=NODE)
    assert exc.value.row == 3 and "row 2" in exc.value.message
    assert not Figure.objects.exists()


def test_reimport_makes_a_revision_and_the_latest_counts(kp: Any) -> None:
    services.import_csv(csv_bytes("2024-H1,BW,production,,,,1000.00,50000.00,"), actor=NODE, filename="a.csv")
    services.import_csv(csv_bytes("2024-H1,BW,production,,,,1200.00,60000.00,"), actor=NODE, filename="b.csv")
    rows = Figure.objects.filter(participant="BW").order_by("revision")
    assert [(r.revision, r.is_current, r.carats_centi) for r in rows] == [(1, False, 100000), (2, True, 120000)]
    [prod] = [f for f in services.effective_facts() if f.flow == "production"]
    assert prod.carats == Decimal("1200.00") and "b.csv row 2" in prod.source


def test_production_submissions_keep_every_revision(make_user: Any) -> None:
    officer = make_user("stats@bw.test", "statistics_officer", "BW")
    services.submit_production(officer, participant="BW", period="2025-H1", carats="11000000.00",
                               usd="1650000000.00", industrial_carats="1000000.00", artisanal_carats="0")
    services.submit_production(officer, participant="BW", period="2025-H1", carats="11500000.00",
                               usd="1700000000.00")
    history = services.production_history(officer, "BW")
    assert [(h["revision"], h["current"], h["carats"]) for h in history] == [
        (1, False, Decimal("11000000.00")), (2, True, Decimal("11500000.00"))]
    assert history[0]["industrial_carats"] == Decimal("1000000.00")
    with pytest.raises(PermissionDenied):
        services.submit_production(officer, participant="ZA", period="2025-H1", carats="1", usd="1")
    with pytest.raises(ValidationFailed):
        services.submit_production(officer, participant="BW", period="2025-Q1", carats="1", usd="1")
    with pytest.raises(ValidationFailed):
        services.submit_production(officer, participant="BW", period="2025-H2", carats=None, usd=None)


def test_imported_trade_gives_way_to_certificates_for_the_same_year(bw_officer: Any) -> None:
    services.import_csv(csv_bytes("2025-Q1,BW,export,EU,BW,7102.31,999.00,999.00,1",
                                  "2024-Q1,BW,export,EU,BW,7102.31,500.00,500.00,1"), actor=NODE)
    certificates.issue(bw_officer, certificate_request(), now=dt.datetime(2025, 2, 10, tzinfo=dt.UTC))
    exports = sorted((f.period.label, f.carats, f.source.split(" ")[0])
                     for f in services.effective_facts(as_of=dt.date(2025, 3, 1)) if f.flow == "export")
    assert exports == [("2024-Q1", Decimal("500.00"), "imported"), ("2025-Q1", Decimal("400.00"), "certificates"),
                       ("2025-Q1", Decimal("1250.40"), "certificates")]


def test_export_writes_what_import_reads(kp: Any, tmp_path: Any) -> None:
    data = csv_bytes("2023,MU,import,EU,,,5000.00,900000.00,3", "2024-H1,BW,production,,,,1000.00,50000.00,",
                     "2024-Q1,BW,export,EU,BW,7102.31,100.00,1000.00,2")
    services.import_csv(data, actor=NODE)
    out = tmp_path / "out.csv"
    with out.open("w", newline="") as fh:
        services.write_csv(services.export_rows(), fh)
    assert sorted(out.read_text().splitlines()) == sorted(data.decode().splitlines())
    only_bw = services.export_rows(participant="BW", period=rules.parse_period("2024-Q1"))
    assert [r.flow for r in only_bw] == ["export"]


def test_reporting_compliance_and_the_public_list(kp: Any) -> None:
    services.import_csv(csv_bytes(*[f"2025-Q{q},BW,export,EU,BW,7102.31,100.00,1000.00,2" for q in (1, 2)],
                                  "2025-H1,BW,production,,,,1000.00,50000.00,"), actor=NODE)
    Batch.objects.update(created_at=dt.datetime(2025, 7, 1, tzinfo=dt.UTC))  # the file arrived on 1 July 2025
    obligations = {(o["kind"], o["period"]): o["status"] for o in services.obligations("BW", dt.date(2025, 12, 15),
                                                                                       years=[2025])}
    assert obligations[("trade_quarterly", "2025-Q1")] == "late"  # due 31 May
    assert obligations[("trade_quarterly", "2025-Q2")] == "received"
    assert obligations[("production_half_yearly", "2025-H1")] == "received"
    assert obligations[("trade_quarterly", "2025-Q3")] == "missing"
    assert obligations[("trade_quarterly", "2025-Q4")] == "pending"
    assert obligations[("production_half_yearly", "2025-H2")] == "pending"
    assert ("annual_report", "2025") not in obligations  # not tracked until the node records one
    services.record_annual_report(SYSTEM, "BW", 2024, dt.date(2025, 4, 2))  # a historical record, loaded
    tracked = {(o["kind"], o["period"]): o["status"] for o in services.obligations("BW", dt.date(2025, 12, 15),
                                                                                   years=[2024, 2025])}
    assert tracked[("annual_report", "2024")] == "late" and tracked[("annual_report", "2025")] == "pending"
    listed = services.non_reporting(dt.date(2025, 12, 15))
    assert listed == [{"participant": "BW", "missing": ["trade_quarterly 2025-Q3"]}]


def test_trade_cells_always_equal_the_certificates(bw_officer: Any, eu_officer: Any, make_user: Any,
                                                   make_operator: Any) -> None:
    """Whatever happens to certificates, the kept totals equal an aggregation straight from their lines."""
    make_operator("EU", "exporter", "EU-EXP-1")
    eu_exporter = make_user("eu.exp@test.kpcs", "exporting_officer", "EU", "EU-BE-ANTWERP")
    bw_importer = make_user("bw.imp@test.kpcs", "importing_officer", "BW")
    when = dt.datetime(2024, 12, 20, tzinfo=dt.UTC)
    mixed = certificate_request(origin="mixed", origin_countries=["BW", "ZA"])
    certs = [certificates.issue(bw_officer, certificate_request(), now=when) for _ in range(3)]
    certs.append(certificates.issue(bw_officer, mixed, now=when))
    back = certificates.issue(eu_exporter, certificate_request(importing_participant="BW",
                                                               exporter={"licence": "EU-EXP-1"}), now=when)
    body = {"parcels": 4, "carats": "1650.40", "seals_intact": True}
    certificates.confirm(eu_officer, certs[0].number, {**body, "received_on": "2025-01-03"},
                         now=when + dt.timedelta(days=14))  # received in the next quarter
    certificates.reject(eu_officer, certs[1].number, {"reason": "seal", "discrepancy": {"kind": "seals_broken"}},
                        now=when)
    certificates.cancel(bw_officer, certs[2].number, {"reason": "postponed"}, now=when)
    certificates.confirm(bw_importer, back.number, {**body, "received_on": "2024-12-22"},
                         now=when + dt.timedelta(days=3))
    certificates.expire_due(dt.date(2025, 6, 1), actor=SYSTEM)  # the mixed one was never used

    def key(f: Any) -> tuple[Any, ...]:
        return (f.period.label, f.participant, f.flow, f.partner, f.origin, f.hs_code, f.carats, f.usd,
                f.certificates)

    kept = sorted(map(key, services.derived_facts()))
    assert kept == sorted(map(key, services.derived_facts_from_lines()))
    assert [k for k in kept if k[2] == "export" and k[1] == "BW" and k[5] == "7102.31"] == [
        ("2024-Q4", "BW", "export", "EU", "BW", "7102.31", Decimal("2500.80"), Decimal("3751200.00"), 2)]
    assert ("2025-Q1", "EU", "import", "BW", "BW", "7102.31", Decimal("1250.40"), Decimal("1875600.00"), 1) in kept


def test_an_annual_report_is_received_on_the_node_clock(kp: Any, monkeypatch: Any) -> None:
    """STAT-11: the receipt is the node's clock at submission; only the system actor (historical records) gives
    a date; every submission is a revision and the first receipt is what compliance counts."""
    with pytest.raises(ValidationFailed) as refused:
        services.record_annual_report(NODE_STATS, "BW", 2024, dt.date(2025, 3, 1))
    assert (refused.value.code, refused.value.rule) == ("received_on_not_allowed", "STAT-11")
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2025, 4, 2, 12, tzinfo=dt.UTC))
    first = services.record_annual_report(NODE_STATS, "BW", 2024, note="first")
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2025, 6, 30, 12, tzinfo=dt.UTC))
    second = services.record_annual_report(NODE_STATS, "BW", 2024, note="corrected")
    assert (first.revision, first.received_on) == (1, dt.date(2025, 4, 2))
    assert (second.revision, second.received_on) == (2, dt.date(2025, 6, 30))
    assert services.annual_reports() == {("BW", 2024): dt.date(2025, 4, 2)}
    historical = services.record_annual_report(SYSTEM, "ZA", 2019, dt.date(2020, 3, 15))
    assert (historical.revision, historical.received_on) == (1, dt.date(2020, 3, 15))
    [status] = selectors.annual_report_status(2024, ["BW"], dt.date(2025, 12, 1))
    assert (status["received_on"], status["status"]) == (dt.date(2025, 4, 2), "late")


def test_scan_facts_keep_origins_apart_only_where_a_code_is_within_its_spans(db: Any) -> None:
    """The anomaly scan reads trade summed over origins, except in quarters in which the participant, the
    partner or the origin is within one of the spans given (monitoring: while barred), where origins stay apart."""
    for quarter in ("2012-Q1", "2012-Q2"):
        for origin, carats in (("BW", 100), ("ZA", 200), ("CI", 50)):
            services.record_trade(flow="export", quarter=quarter, participant="AE", partner="BE", origin=origin,
                                  lines=[(1, "7102.31", carats * 100, carats * 10_000)], sign=1)
        services.record_trade(flow="export", quarter=quarter, participant="AE", partner="IN", origin="BW",
                              lines=[(1, "7102.31", 700, 7_000), (2, "7102.21", 300, 300)], sign=1)

    def facts(spans: dict[str, list[tuple[dt.date, dt.date | None]]] | None) -> set[tuple[Any, ...]]:
        return {(f.period.label, f.partner, f.origin, f.carats, f.usd, f.certificates)
                for f in services.derived_facts(by_hs=False, as_of=dt.date(2013, 1, 1), origins_within=spans)}

    apart = facts(None)
    assert ("2012-Q1", "BE", "CI", Decimal("50.00"), Decimal("5000.00"), 1) in apart and len(apart) == 8
    # CI within a span in the first quarter only: its origin stays apart then, the others are summed
    assert facts({"CI": [(dt.date(2011, 1, 1), dt.date(2012, 4, 1))]}) == {
        ("2012-Q1", "BE", "CI", Decimal("50.00"), Decimal("5000.00"), 1),
        ("2012-Q1", "BE", "", Decimal("300.00"), Decimal("30000.00"), 2),
        ("2012-Q2", "BE", "", Decimal("350.00"), Decimal("35000.00"), 3),
        ("2012-Q1", "IN", "", Decimal("10.00"), Decimal("73.00"), 1),
        ("2012-Q2", "IN", "", Decimal("10.00"), Decimal("73.00"), 1)}
    # the partner within an open span from the second quarter: everything with it is apart from then
    assert facts({"BE": [(dt.date(2012, 6, 30), None)]}) == {
        ("2012-Q1", "BE", "", Decimal("350.00"), Decimal("35000.00"), 3),
        *{x for x in apart if x[0] == "2012-Q2" and x[1] == "BE"},
        ("2012-Q1", "IN", "", Decimal("10.00"), Decimal("73.00"), 1),
        ("2012-Q2", "IN", "", Decimal("10.00"), Decimal("73.00"), 1)}
