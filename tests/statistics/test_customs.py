"""Customs HS 7102 figures for the customs cross-check (issue 10, MON-09, STAT-07): parsing and mapping to
participants, the all-or-nothing import with its revisions and audit, the CLI, the API, and the scan that
compares them with the KP figures."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kpcs.audit.models import AuditEntry
from kpcs.monitoring import services as monitoring
from kpcs.registry.services import Actor, Grant
from kpcs.statistics import rules, selectors, services
from kpcs.statistics.models import Batch, CustomsFigure
from tests.conftest import Api, assert_error

NODE = Actor("test node", grants=(Grant("wgs_analyst", None, None), Grant("admin", None, None)))
HEADER = ",".join(rules.CUSTOMS_COLUMNS)
BW_STATS = "stats@bw.customs.kpcs"


def customs_csv(*lines: str) -> bytes:
    return ("\r\n".join((HEADER, *lines)) + "\r\n").encode()


# --- pure: rows and participants ------------------------------------------------------------------

@pytest.mark.parametrize(("iso2", "year", "participant"), [
    ("BE", 2005, "EU"), ("GB", 2020, "EU"), ("GB", 2021, "GB"), ("HR", 2012, "HR"), ("HR", 2013, "EU"),
    ("RO", 2006, "RO"), ("RO", 2007, "EU"), ("BW", 2020, "BW"), ("CH", 2020, "CH")])
def test_eu_member_states_count_for_the_eu_in_the_years_they_were_members(iso2: str, year: int,
                                                                          participant: str) -> None:
    assert rules.customs_participant(iso2, year) == participant


@pytest.mark.parametrize("hs", ["710231", "7102.31", "7102 31", "71023100"])
def test_hs_codes_go_through_the_node_s_hs_function(hs: str) -> None:
    row = rules.parse_customs_row(["2020", "Botswana", "BW", "export", hs, "1000"], 2)
    assert row is not None and row.hs_code == "7102.31"


def test_worked_diamonds_and_aggregates_without_a_country_are_skipped() -> None:
    assert rules.parse_customs_row(["2020", "Belgium", "BE", "export", "710239", "5000"], 2) is None
    assert rules.parse_customs_row(["2020", "Belgium", "BE", "import", "7102.29", "5000"], 2) is None
    assert rules.parse_customs_row(["2020", "World", "", "import", "710210", "5000"], 2) is None


@pytest.mark.parametrize(("values", "column"), [
    (["20x0", "Botswana", "BW", "export", "710231", "1"], "year"),
    (["2020", "Nowhere", "ZZ", "export", "710231", "1"], "iso2"),
    (["2020", "Botswana", "BW", "re-export", "710231", "1"], "flow"),
    (["2020", "Botswana", "BW", "export", "710310", "1"], "hs6"),
    (["2020", "Botswana", "BW", "export", "710231", "-5"], "usd"),
    (["2020", "Botswana", "BW", "export", "710231", ""], "usd"),
    (["2020", "Botswana", "BW", "export", "710231"], "-"),
])
def test_a_bad_row_is_named_by_row_and_column(values: list[str], column: str) -> None:
    with pytest.raises(rules.RowError) as exc:
        rules.parse_customs_row(values, 7)
    assert (exc.value.row, exc.value.column) == (7, column)


# --- import -----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_import_is_all_or_nothing_and_names_the_row_and_column(kp: Any) -> None:
    bad = customs_csv("2020,Botswana,BW,export,710231,1000", "2020,Botswana,BW,export,710221,abc")
    with pytest.raises(rules.RowError) as exc:
        services.import_customs(bad, actor=NODE, filename="bad.csv")
    assert (exc.value.row, exc.value.column) == (3, "usd")
    dup = customs_csv("2020,Botswana,BW,export,710231,1000", "2020,Botswana,BW,export,7102.31,2000")
    with pytest.raises(rules.RowError) as exc:
        services.import_customs(dup, actor=NODE)
    assert exc.value.row == 3 and "row 2" in exc.value.message
    with pytest.raises(rules.RowError) as exc:
        services.import_customs(b"year,reporter,iso2,flow,hs,usd\n", actor=NODE)
    assert exc.value.column == "header"
    assert not CustomsFigure.objects.exists() and not Batch.objects.exists()


@pytest.mark.django_db
def test_the_same_file_again_changes_nothing_and_a_changed_value_is_a_revision(kp: Any) -> None:
    first = customs_csv("2020,Belgium,BE,import,710231,7000000000", "2020,Germany,DE,import,710231,500000000",
                        "2020,Belgium,BE,import,710239,123", "2020,World,,import,710231,9")
    result = services.import_customs(first, actor=NODE, filename="a.csv")
    assert (result.rows, result.new, result.revised, result.unchanged, result.skipped) == (2, 2, 0, 0, 2)
    entries = AuditEntry.objects.filter(action="statistics.customs_imported")
    assert entries.count() == 1 and entries[0].object_id == str(result.batch_id)
    again = services.import_customs(first, actor=NODE, filename="a.csv")
    assert (again.batch_id, again.unchanged) == (None, 2)
    assert entries.count() == 1 and Batch.objects.count() == 1 and CustomsFigure.objects.count() == 2
    changed = customs_csv("2020,Belgium,BE,import,710231,7100000000", "2020,Germany,DE,import,710231,500000000")
    revised = services.import_customs(changed, actor=NODE, filename="b.csv")
    assert (revised.new, revised.revised, revised.unchanged) == (0, 1, 1)
    be = CustomsFigure.objects.filter(iso2="BE").order_by("revision")
    assert [(f.revision, f.is_current, f.usd_cents) for f in be] == [(1, False, 700000000000),
                                                                     (2, True, 710000000000)]
    payload = json.loads(entries.get(object_id=str(revised.batch_id)).payload or "{}")
    assert payload["revised"] == 1 and payload["file"] == "b.csv"
    facts = selectors.customs_facts(participant="EU")
    assert sorted((f.iso2, f.usd) for f in facts) == [("BE", Decimal("7100000000.00")), ("DE", Decimal("500000000.00"))]
    assert all(f.source.startswith("customs (") for f in facts)


@pytest.mark.django_db
def test_only_a_node_role_that_imports_statistics_may_import_customs(kp: Any) -> None:
    officer = Actor("bw stats", grants=(Grant("statistics_officer", "BW", "BW-KPA"),))
    from kpcs.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.import_customs(customs_csv("2020,Botswana,BW,export,710231,1000"), actor=officer)
    assert not CustomsFigure.objects.exists()


@pytest.mark.django_db
def test_the_scan_compares_kp_figures_with_customs(kp: Any) -> None:
    kp_rows = "period,participant,flow,partner,origin,hs_code,carats,usd,certificates\n" + "".join(
        f"{y},BW,export,,,,20000000.00,{usd},\n" for y, usd in ((2022, "4000000000.00"), (2023, "4200000000.00")))
    services.import_csv(kp_rows.encode(), actor=NODE, filename="kp.csv")
    services.import_customs(customs_csv("2022,Botswana,BW,export,710231,3900000000",
                                        "2023,Botswana,BW,export,710231,1500000000"), actor=NODE, filename="c.csv")
    found = [f for f in monitoring.analyse(as_of=dt.date(2026, 11, 29)) if f.rule == "customs-mirror-discrepancy"]
    assert [(f.participant, f.period, f.severity) for f in found] == [("BW", "2023", "high")]
    assert "c.csv" in found[0].summary and "kp.csv" in str(found[0].evidence["kp_reports"]["from"])


# --- CLI --------------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_cli_imports_a_file_and_refuses_a_bad_one(kp: Any, tmp_path: Path) -> None:
    from kpcs.cli import app

    good = tmp_path / "trade.csv"
    good.write_bytes(customs_csv("2021,Botswana,BW,export,710231,1000", "2021,Belgium,BE,import,710239,5"))
    result = CliRunner().invoke(app, ["stats", "import-customs", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 new" in result.output and "1 skipped" in result.output
    again = CliRunner().invoke(app, ["stats", "import-customs", str(good)])
    assert again.exit_code == 0 and "nothing changed" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(customs_csv("2021,Botswana,BW,export,710231,1000", "2021,Botswana,BW,exp,710231,1"))
    refused = CliRunner().invoke(app, ["stats", "import-customs", str(bad)])
    assert refused.exit_code == 1
    assert "row 3, column flow" in refused.output and "nothing was imported" in refused.output
    assert CustomsFigure.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_cli_loads_the_shipped_reference_file(kp: Any) -> None:
    from kpcs.cli import app

    result = CliRunner().invoke(app, ["stats", "import-customs"])
    assert result.exit_code == 0, result.output
    assert CustomsFigure.objects.filter(participant="EU", iso2="BE", year=2010).exists()
    assert not CustomsFigure.objects.filter(hs_code__in=rules.CUSTOMS_WORKED).exists()


# --- API --------------------------------------------------------------------------------------------

@pytest.fixture
def loaded(kp: Any) -> None:
    services.import_customs(customs_csv("2020,Botswana,BW,export,710231,1000", "2021,Botswana,BW,export,710231,2000",
                                        "2020,South Africa,ZA,export,710231,3000",
                                        "2020,Belgium,BE,import,710221,4000"), actor=NODE, filename="t.csv")


@pytest.mark.django_db
def test_api_reads_the_customs_figures_by_participant_and_year(loaded: None, make_user: Any,
                                                               api_as: Any) -> None:
    make_user(BW_STATS, "statistics_officer", "BW")
    api: Api = api_as(BW_STATS)
    resp = api.get("/statistics/customs", participant="BW", year=2020)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["count"] == 1
    [item] = body["items"]
    assert (item["iso2"], item["flow"], item["hs_code"], item["usd"], item["revision"]) == (
        "BW", "export", "7102.31", "1000.00", 1)
    assert item["source"].startswith("t.csv")
    # without a participant: an officer reads its own participant's only
    assert {i["participant"] for i in api.get("/statistics/customs").json()["items"]} == {"BW"}
    assert_error(api.get("/statistics/customs", participant="ZA"), 403)


@pytest.mark.django_db
def test_api_pages_and_the_wgs_reads_every_participant(loaded: None, make_user: Any, api_as: Any) -> None:
    make_user("wgs@customs.kpcs", "wgs_analyst", None)
    api: Api = api_as("wgs@customs.kpcs")
    first = api.get("/statistics/customs", limit=2).json()
    rest = api.get("/statistics/customs", limit=2, offset=2).json()
    assert first["count"] == 4 and len(first["items"]) == 2 and len(rest["items"]) == 2
    eu = api.get("/statistics/customs", participant="EU").json()["items"]
    assert [(i["iso2"], i["participant"]) for i in eu] == [("BE", "EU")]
    assert_error(api.get("/statistics/customs", year=1800), 422)
