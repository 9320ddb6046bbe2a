"""The statistics API over HTTP: trade derived from certificates issued through the API, reconciliation,
production submissions and their revisions, reporting compliance, the public non-reporting list, annual
reports; quantities are decimal strings and every refusal is a JSON error."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs import clock
from kpcs.audit.models import AuditEntry
from kpcs.registry.services import SYSTEM, Actor, Grant
from kpcs.statistics import rules
from kpcs.statistics import services as statistics
from kpcs.statistics.models import AnnualReport, Batch, Figure
from tests.conftest import Api, assert_error, certificate_request, path_of

pytestmark = pytest.mark.django_db
NODE = Actor("node", grants=(Grant("admin", None, None),))
HEADER = ",".join(rules.COLUMNS)
BW_STATS = "stats@bw.test.kpcs"
EU_STATS = "stats@eu.test.kpcs"


def load(*lines: str, arrived: dt.datetime | None = None) -> None:
    """Import rows of the exchange format; `arrived` back-dates the batch (when the file came in)."""
    statistics.import_csv(("\n".join((HEADER, *lines)) + "\n").encode(), actor=NODE, filename="t.csv")
    if arrived is not None:
        Batch.objects.update(created_at=arrived)




@pytest.fixture(autouse=True)
def _two_months_to_report(settings: Any) -> None:
    """The due dates below are those of the default (STAT-01, STAT-03), whatever the environment says."""
    settings.KPCS_STATISTICS_DUE_MONTHS = 2


@pytest.fixture
def bw_stats(make_user: Any, api_as: Any) -> Api:
    make_user(BW_STATS, "statistics_officer", "BW")
    return api_as(BW_STATS)


@pytest.fixture
def eu_stats(make_user: Any, api_as: Any) -> Api:
    make_user(EU_STATS, "statistics_officer", "EU")
    return api_as(EU_STATS)


@pytest.fixture
def shipments(api_as: Any, bw_officer: Any, eu_officer: Any) -> list[str]:
    """Three certificates BW→EU issued today through the API: one confirmed by the EU with 1,600.00 ct found
    (1,650.40 declared), one still issued, one cancelled."""
    bw, eu = api_as("bw@test.kpcs"), api_as("eu@test.kpcs")
    numbers = []
    for _ in range(3):
        resp = bw.post("/certificates", certificate_request())
        assert resp.status_code == 201, resp.content
        numbers.append(resp.json()["number"])
    resp = eu.post(path_of(numbers[0]) + "/confirmation", {"received_on": clock.today().isoformat(), "parcels": 4,
                                                           "carats": "1600.00", "seals_intact": True})
    assert resp.status_code == 200, resp.content
    resp = bw.post(path_of(numbers[2]) + "/cancellation", {"reason": "shipment withdrawn"})
    assert resp.status_code == 200, resp.content
    return numbers


def this_quarter() -> str:
    return rules.quarter_of(clock.today()).label


# --- trade derived from certificates ---------------------------------------------------------------

def test_trade_is_derived_from_the_certificates_issued(bw_stats: Api, shipments: list[str]) -> None:
    resp = bw_stats.get("/statistics/trade", participant="bw", period=this_quarter())
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert (body["participant"], body["period"]) == ("BW", this_quarter())
    # The cancelled certificate never left the country; a certificate counts once, on its first line's row.
    assert body["totals"] == {"export": {"carats": "3300.80", "usd": "3775200.00", "certificates": 2},
                              "import": {"carats": "0.00", "usd": "0.00", "certificates": 0}}
    rows = [{k: v for k, v in r.items() if k != "source"} for r in body["rows"]]
    assert rows == [
        {"flow": "export", "period": this_quarter(), "partner": "EU", "origin": "BW", "hs_code": "7102.21",
         "carats": "800.00", "usd": "24000.00", "certificates": 0},
        {"flow": "export", "period": this_quarter(), "partner": "EU", "origin": "BW", "hs_code": "7102.31",
         "carats": "2500.80", "usd": "3751200.00", "certificates": 2},
    ]
    assert all(r["source"].startswith("certificates") for r in body["rows"])
    # The year holds the quarter; another year holds nothing.
    year = bw_stats.get("/statistics/trade", participant="BW", period=str(clock.today().year)).json()
    assert year["totals"] == body["totals"] and len(year["rows"]) == 2
    before = bw_stats.get("/statistics/trade", participant="BW", period=str(clock.today().year - 1)).json()
    assert before["rows"] == [] and before["totals"]["export"] == {"carats": "0.00", "usd": "0.00",
                                                                   "certificates": 0}


def test_imports_count_confirmed_certificates_with_their_declared_figures(eu_stats: Api,
                                                                          shipments: list[str]) -> None:
    body = eu_stats.get("/statistics/trade", participant="EU", period=this_quarter()).json()
    assert body["totals"]["import"] == {"carats": "1650.40", "usd": "1887600.00", "certificates": 1}
    assert body["totals"]["export"] == {"carats": "0.00", "usd": "0.00", "certificates": 0}
    assert [(r["flow"], r["partner"], r["hs_code"], r["carats"]) for r in body["rows"]] == [
        ("import", "BW", "7102.21", "400.00"), ("import", "BW", "7102.31", "1250.40")]


def test_imported_trade_is_reported_when_no_certificate_covers_the_year(bw_stats: Api) -> None:
    load("2024-Q1,BW,export,EU,BW,7102.31,1250400.00,1875600000.00,312",
         "2024-Q2,BW,export,AE,,7102.21,10.50,,")
    body = bw_stats.get("/statistics/trade", participant="BW", period="2024-H1").json()
    assert body["totals"]["export"] == {"carats": "1250410.50", "usd": "1875600000.00", "certificates": 312}
    assert [(r["period"], r["partner"], r["usd"], r["certificates"]) for r in body["rows"]] == [
        ("2024-Q1", "EU", "1875600000.00", 312), ("2024-Q2", "AE", None, None)]
    assert body["rows"][0]["source"] == "imported (t.csv row 2)"


def test_reconciliation_puts_declared_beside_confirmed(eu_stats: Api, bw_stats: Api,
                                                       shipments: list[str]) -> None:
    resp = eu_stats.get("/statistics/reconciliation", participant="EU", period=str(clock.today().year))
    assert resp.status_code == 200, resp.content
    rows = {r["number"]: r for r in resp.json()}
    assert list(rows) == shipments
    today = clock.today().isoformat()
    assert rows[shipments[0]] == {
        "number": shipments[0], "status": "confirmed", "exporting": "BW", "importing": "EU", "issued_on": today,
        "declared_carats": "1650.40", "declared_usd": "1887600.00", "declared_parcels": 4,
        "confirmed_carats": "1600.00", "confirmed_parcels": 4, "received_on": today,
        "carats_difference": "-50.40"}
    for number, status in ((shipments[1], "issued"), (shipments[2], "cancelled")):
        row = rows[number]
        assert row["status"] == status and row["declared_carats"] == "1650.40"
        assert (row["confirmed_carats"], row["confirmed_parcels"], row["received_on"],
                row["carats_difference"]) == (None, None, None, None)
    # The exporting side sees the same certificates.
    assert bw_stats.get("/statistics/reconciliation", participant="BW", period=this_quarter()).json() == resp.json()


def test_a_bad_period_is_422(bw_stats: Api) -> None:
    for path in ("/statistics/trade", "/statistics/reconciliation"):
        for period in ("2025-Q5", "2025-H3", "25", "2025-13", "1989", "2025-q1x"):
            error = assert_error(bw_stats.get(path, participant="BW", period=period), 422, "invalid_period")
            assert "period" in error["message"] or "year" in error["message"], error
        error = assert_error(bw_stats.get(path, participant="BW"), 422, "invalid_request")
        assert error["message"].startswith("period"), error


# --- production ------------------------------------------------------------------------------------

def test_production_submission_is_201_and_keeps_every_revision(bw_stats: Api) -> None:
    resp = bw_stats.post("/statistics/production", {"participant": "BW", "period": "2025-H1",
                                                    "carats": "11000000.00", "usd": "1650000000.00",
                                                    "industrial_carats": "1000000", "artisanal_carats": "0"})
    assert resp.status_code == 201, resp.content
    first = resp.json()
    assert {k: v for k, v in first.items() if k not in ("by", "at")} == {
        "period": "2025-H1", "carats": "11000000.00", "usd": "1650000000.00", "industrial_carats": "1000000.00",
        "artisanal_carats": "0.00", "source": "submitted", "revision": 1, "current": True}
    assert first["by"].startswith(BW_STATS)
    dt.datetime.fromisoformat(first["at"])
    resp = bw_stats.post("/statistics/production", {"participant": "bw", "period": "2025-H1",
                                                    "carats": "11500000.00", "usd": "1700000000.00"})
    assert resp.status_code == 201, resp.content
    assert (resp.json()["revision"], resp.json()["current"], resp.json()["industrial_carats"]) == (2, True, None)
    history = bw_stats.get("/statistics/production", participant="BW")
    assert history.status_code == 200, history.content
    assert [(h["period"], h["revision"], h["current"], h["carats"], h["usd"]) for h in history.json()] == [
        ("2025-H1", 1, False, "11000000.00", "1650000000.00"), ("2025-H1", 2, True, "11500000.00", "1700000000.00")]
    assert AuditEntry.objects.filter(action="statistics.imported").count() == 2


def test_production_history_shows_imported_figures_beside_submitted_ones(bw_stats: Api) -> None:
    load("2024,BW,production,,,,24000000.00,3500000000.00,")
    bw_stats.post("/statistics/production", {"participant": "BW", "period": "2025-H2", "usd": "800000000"})
    history = bw_stats.get("/statistics/production", participant="BW").json()
    assert [(h["period"], h["source"], h["carats"], h["usd"], h["revision"]) for h in history] == [
        ("2024", "imported", "24000000.00", "3500000000.00", 1), ("2025-H2", "submitted", None, "800000000.00", 1)]


def test_production_per_quarter_is_refused_naming_stat_03(bw_stats: Api) -> None:
    resp = bw_stats.post("/statistics/production", {"participant": "BW", "period": "2025-Q1", "carats": "1.00",
                                                    "usd": "1.00"})
    error = assert_error(resp, 422, "invalid_period", "STAT-03")
    assert "half-year" in error["message"]
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"period": "2025-H3", "carats": "1"}, "invalid_period"),
        ({"period": "2025-H1"}, "invalid_quantity"),
        ({"period": "2025-H1", "carats": "-5"}, "invalid_quantity"),
        ({"period": "2025-H1", "carats": "1.234"}, "invalid_quantity"),
        ({"period": "2025-H1", "carats": "10", "industrial_carats": "8", "artisanal_carats": "3"},
         "invalid_quantity"),
        ({"period": "2025-H1", "carats": 10}, "invalid_request"),  # a JSON number, not a decimal string
    ]
    for body, code in refusals:
        assert_error(bw_stats.post("/statistics/production", {"participant": "BW", **body}), 422, code)
    assert not Figure.objects.exists()


def test_production_for_another_participant_is_403(bw_stats: Api) -> None:
    error = assert_error(bw_stats.post("/statistics/production", {"participant": "ZA", "period": "2025-H1",
                                                                  "carats": "1.00"}), 403, "forbidden")
    assert error["details"] == {"action": "statistics.submit"}
    assert_error(bw_stats.get("/statistics/production", participant="ZA"), 403, "forbidden")
    assert not Figure.objects.exists()


# --- compliance, the public list, annual reports ----------------------------------------------------

BW_2025_H1 = ("2025-Q1,BW,export,EU,BW,7102.31,100.00,1000.00,2", "2025-Q2,BW,export,EU,BW,7102.31,100.00,1000.00,2",
              "2025-H1,BW,production,,,,1000.00,50000.00,")


def test_compliance_lists_each_obligation_with_its_status(bw_stats: Api) -> None:
    load(*BW_2025_H1, arrived=dt.datetime(2025, 7, 1, tzinfo=dt.UTC))
    statistics.record_annual_report(SYSTEM, "BW", 2024, dt.date(2025, 3, 20))  # a historical record, loaded
    resp = bw_stats.get("/statistics/compliance", participant="BW", as_of="2025-12-15")
    assert resp.status_code == 200, resp.content
    got = {(o["kind"], o["period"]): (o["status"], o["due_on"], o["received_on"]) for o in resp.json()}
    assert {s for s, _, _ in got.values()} <= {"received", "late", "missing", "pending"}
    assert got[("trade_quarterly", "2025-Q1")] == ("late", "2025-05-31", "2025-07-01")
    assert got[("trade_quarterly", "2025-Q2")] == ("received", "2025-08-31", "2025-07-01")
    assert got[("trade_quarterly", "2025-Q3")] == ("missing", "2025-11-30", None)
    assert got[("trade_quarterly", "2025-Q4")] == ("pending", "2026-02-28", None)
    assert got[("production_half_yearly", "2025-H1")] == ("received", "2025-08-31", "2025-07-01")
    assert got[("production_half_yearly", "2025-H2")] == ("pending", "2026-02-28", None)
    assert got[("annual_report", "2024")] == ("received", "2025-03-31", "2025-03-20")
    assert got[("annual_report", "2025")] == ("pending", "2026-03-31", None)
    # obligations start with the participant's first report of each kind
    assert not [k for k in got if k[0] != "annual_report" and not k[1].startswith("2025")]
    # judged as of a date: on 30 June 2025 the file had not yet come in
    early = {(o["kind"], o["period"]): o["status"]
             for o in bw_stats.get("/statistics/compliance", participant="BW", as_of="2025-06-30").json()}
    assert early[("trade_quarterly", "2025-Q1")] == "missing"
    assert_error(bw_stats.get("/statistics/compliance", participant="BW", as_of="2025-13-01"), 422,
                 "invalid_request")


def test_compliance_of_an_unknown_participant_is_404(make_user: Any, api_as: Any) -> None:
    make_user("analyst@test.kpcs", "kp_analyst")
    assert_error(api_as("analyst@test.kpcs").get("/statistics/compliance", participant="XX"), 404, "not_found")


def test_the_non_reporting_list_is_public(api_as: Any, kp: Any) -> None:
    load(*BW_2025_H1, "2025-Q1,ZA,export,EU,ZA,7102.31,100.00,1000.00,2",
         *[f"2025-Q{q},NA,export,EU,NA,7102.31,100.00,1000.00,2" for q in (1, 2, 3)],
         arrived=dt.datetime(2025, 7, 1, tzinfo=dt.UTC))
    anonymous = api_as(None)
    resp = anonymous.get("/statistics/non-reporting", as_of="2025-12-15")
    assert resp.status_code == 200, resp.content
    assert resp.json() == [
        {"participant": "BW", "name": "Botswana", "missing": ["trade_quarterly 2025-Q3"]},
        {"participant": "ZA", "name": "South Africa", "missing": ["trade_quarterly 2025-Q2",
                                                                  "trade_quarterly 2025-Q3"]},
    ]
    later = anonymous.get("/statistics/non-reporting", as_of="2026-03-15").json()
    assert later[0] == {"participant": "BW", "name": "Botswana", "missing": [
        "trade_quarterly 2025-Q3", "trade_quarterly 2025-Q4", "production_half_yearly 2025-H2"]}
    assert [r["participant"] for r in later] == ["BW", "NA", "ZA"]
    assert_error(anonymous.get("/statistics/non-reporting", as_of="someday"), 422, "invalid_request")


def test_an_annual_report_is_received_on_the_node_clock_and_revisions_are_kept(bw_stats: Api,
                                                                                 monkeypatch: Any) -> None:
    """STAT-11: the receipt date is the node's clock at submission, never one the participant sends; a
    resubmission is a new revision, and compliance counts the first receipt."""
    assert_error(bw_stats.post("/statistics/annual-reports", {"participant": "BW", "year": 2024,
                                                              "received_on": "2025-03-20"}), 422, "invalid_request")
    assert not AnnualReport.objects.exists()
    first_day = dt.datetime(2025, 4, 2, 9, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: first_day)
    resp = bw_stats.post("/statistics/annual-reports", {"participant": "BW", "year": 2024, "note": "by e-mail"})
    assert resp.status_code == 201, resp.content
    assert resp.json() == {"participant": "BW", "year": 2024, "revision": 1, "received_on": "2025-04-02",
                           "first_received_on": "2025-04-02"}
    # resubmitted (corrected) later: a second revision; the first receipt is still what counts
    monkeypatch.setattr(clock, "now", lambda: first_day + dt.timedelta(days=40))
    resp = bw_stats.post("/statistics/annual-reports", {"participant": "bw", "year": 2024, "note": "corrected"})
    assert resp.status_code == 201
    assert resp.json() == {"participant": "BW", "year": 2024, "revision": 2, "received_on": "2025-05-12",
                           "first_received_on": "2025-04-02"}
    reports = list(AnnualReport.objects.values_list("revision", "received_on", "note"))
    assert reports == [(1, dt.date(2025, 4, 2), "by e-mail"), (2, dt.date(2025, 5, 12), "corrected")]
    assert all(r.recorded_by.startswith(BW_STATS) for r in AnnualReport.objects.all())
    assert AuditEntry.objects.filter(action="annual_report.recorded", object_id="BW 2024").count() == 2
    monkeypatch.undo()
    obligations = bw_stats.get("/statistics/compliance", participant="BW", as_of="2025-12-15").json()
    [annual] = [o for o in obligations if (o["kind"], o["period"]) == ("annual_report", "2024")]
    assert (annual["status"], annual["received_on"]) == ("late", "2025-04-02")
    resp = bw_stats.post("/statistics/annual-reports", {"participant": "BW", "year": clock.today().year})
    assert resp.status_code == 201 and resp.json()["received_on"] == clock.today().isoformat()
    for year in (1999, clock.today().year + 1):
        assert_error(bw_stats.post("/statistics/annual-reports", {"participant": "BW", "year": year}), 422,
                     "invalid_year")
    assert_error(bw_stats.post("/statistics/annual-reports", {"participant": "ZA", "year": 2024}), 403,
                 "forbidden")
    assert AnnualReport.objects.count() == 3
