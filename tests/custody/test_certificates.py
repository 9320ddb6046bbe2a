"""Certificates from custody (CERT-10, EXP-06, SPEC-03/04): custody control, issuing from parcels with an export
event, and the race of two certificates over one parcel (INT-09)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from kpcs.audit import services as audit
from kpcs.certificates import services as certificates
from kpcs.certificates.models import Certificate, CertificateOrigin
from kpcs.custody import rules, selectors, services
from kpcs.custody.models import CustodyControl, CustodyEvent, Parcel
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.registry.services import SYSTEM
from tests.custody.conftest import World, outputs

FROM = dt.date(2025, 1, 1)


def held_by_exporter(world: World, *carats: str, site: Any = None) -> list[int]:
    made = outputs(world.produce(*carats, site=site))
    owner = world.mine_op if site is None or site == world.mine else world.digger
    sold = world.transfer([p.pk for p in made], owner, world.exporter)
    return [p.pk for p in outputs(sold)]


def body(parcels: list[int], **extra: Any) -> dict[str, Any]:
    return {"importing_participant": "EU", "exporter": {"licence": "BW-EXP-9"},
            "importer": {"name": "EU importer Ltd", "address": "Hoveniersstraat 22, Antwerp"},
            "parcels": parcels, **extra}


@pytest.fixture
def exporting(make_user: Any) -> Any:
    return make_user("export@bw.test", "exporting_officer", "BW")


@pytest.fixture
def controlled(world: World) -> World:
    services.set_control(SYSTEM, "BW", FROM, True)
    return world


# --- rules -----------------------------------------------------------------------------------------

def test_control_is_the_latest_setting_on_or_before_the_day() -> None:
    on, off = rules.ControlView(dt.date(2025, 1, 1), True), rules.ControlView(dt.date(2025, 6, 1), False)
    assert not rules.control_on([on, off], dt.date(2024, 12, 31))
    assert rules.control_on([off, on], dt.date(2025, 1, 1))
    assert rules.control_on([on, off], dt.date(2025, 5, 31))
    assert not rules.control_on([on, off], dt.date(2025, 6, 1))


def test_export_lines_group_parcels_by_hs_code() -> None:
    lines = rules.export_lines([("7102.31", 1000, 50), ("7102.21", 250, 5), ("7102.31", 1, 1)])
    assert lines == [rules.ExportLine("7102.21", 250, 5, 1), rules.ExportLine("7102.31", 1001, 51, 2)]


def test_export_origin_is_one_country_or_mixed_listing_them() -> None:
    assert rules.export_origin({"BW": 10}) == {"kind": "single", "countries": ["BW"]}
    assert rules.export_origin({"ZA": 5, "BW": 10}) == {"kind": "mixed", "countries": ["BW", "ZA"]}


# --- custody control -------------------------------------------------------------------------------

def test_control_is_date_effective_audited_and_never_edited(world: World) -> None:
    services.set_control(SYSTEM, "bw", dt.date(2025, 1, 1), True)
    services.set_control(SYSTEM, "BW", dt.date(2025, 6, 1), False)
    assert not selectors.custody_required("BW", dt.date(2024, 12, 31))
    assert selectors.custody_required("BW", dt.date(2025, 3, 1))
    assert not selectors.custody_required("BW", dt.date(2025, 6, 1))
    assert not selectors.custody_required("ZA", dt.date(2025, 3, 1))
    with pytest.raises(Conflict) as exc:
        services.set_control(SYSTEM, "BW", dt.date(2025, 6, 1), True)
    assert exc.value.code == "duplicate_control"
    assert CustodyControl.objects.count() == 2
    assert audit.verify_chain()[1] is None


def test_only_the_node_operator_sets_control(world: World) -> None:
    with pytest.raises(PermissionDenied):
        services.set_control(world.officer, "BW", FROM, True)
    with pytest.raises(NotFound):
        services.set_control(SYSTEM, "XX", FROM, True)


# --- issuing from custody --------------------------------------------------------------------------

def test_certificate_from_parcels_takes_lines_and_origin_and_exports_them(controlled: World, exporting: Any) -> None:
    world = controlled
    parcels = held_by_exporter(world, "100.00", "50.25") + held_by_exporter(world, "10.00", site=world.alluvial)
    cert = certificates.issue(exporting, body(parcels))
    data = certificates.to_dict(cert)
    assert data["from_custody"] and data["origin"] == "BW"
    assert data["lines"] == [{"hs_code": "7102.31", "carats": "160.25", "value_usd": "300.00", "parcels": 3}]
    assert data["totals"] == {"carats": "160.25", "value_usd": "300.00", "parcels": 3}
    assert data["origins"] == [{"country": "BW", "carats": "160.25"}]
    export = CustodyEvent.objects.get(type="export")
    assert export.certificate == cert.number and export.operator_id == world.exporter.pk
    assert sorted(Parcel.objects.filter(consumed_by=export).values_list("pk", flat=True)) == sorted(parcels)
    assert not Parcel.objects.filter(holder=world.exporter, status="held").exists()
    again = certificates.to_dict(certificates.get(exporting, cert.number))
    assert again["origins"] == data["origins"] and again["lines"] == data["lines"]
    assert audit.verify_chain()[1] is None


def test_under_control_parcels_are_required(controlled: World, exporting: Any) -> None:
    from tests.conftest import certificate_request

    with pytest.raises(ValidationFailed) as exc:
        certificates.issue(exporting, certificate_request(exporter={"licence": "BW-EXP-9"}))
    assert (exc.value.code, exc.value.rule) == ("parcels_required", "EXP-06")


def test_without_control_certificates_issue_as_before(world: World, exporting: Any) -> None:
    from tests.conftest import certificate_request

    cert = certificates.issue(exporting, certificate_request(exporter={"licence": "BW-EXP-9"}))
    data = certificates.to_dict(cert)
    assert not data["from_custody"] and data["origins"] == [] and data["origin"] == "BW"
    assert not CustodyEvent.objects.filter(type="export").exists()


def test_conflicting_lines_or_origin_are_refused_naming_the_rule(controlled: World, exporting: Any) -> None:
    parcels = held_by_exporter(controlled, "100.00")
    wrong_lines = [{"hs_code": "7102.31", "carats": "99.00", "value_usd": "100.00", "parcels": 1}]
    with pytest.raises(ValidationFailed) as exc:
        certificates.issue(exporting, body(parcels, lines=wrong_lines))
    assert (exc.value.code, exc.value.rule) == ("lines_conflict", "EXP-06")
    with pytest.raises(ValidationFailed) as exc:
        certificates.issue(exporting, body(parcels, origin="ZA"))
    assert (exc.value.code, exc.value.rule) == ("origin_conflict", "CERT-10")
    assert not Certificate.objects.exists() and Parcel.objects.get(pk=parcels[0]).status == "held"
    same = [{"hs_code": "7102.31", "carats": "100.00", "value_usd": "100.00", "parcels": 1}]
    cert = certificates.issue(exporting, body(parcels, lines=same, origin="BW"))
    assert cert.from_custody


def test_parcels_not_held_by_the_named_exporter_are_refused(controlled: World, exporting: Any) -> None:
    world = controlled
    [dealer_parcel] = [p.pk for p in outputs(world.transfer(
        [p.pk for p in outputs(world.produce("5.00"))], world.mine_op, world.dealer))]
    with pytest.raises(Conflict) as exc:
        certificates.issue(exporting, body([dealer_parcel]))
    assert (exc.value.code, exc.value.rule) == ("not_holder", "INT-09")
    with pytest.raises(NotFound):
        certificates.issue(exporting, body([10**9]))
    parcels = held_by_exporter(world, "1.00")
    certificates.issue(exporting, body(parcels))
    with pytest.raises(Conflict) as exc:
        certificates.issue(exporting, body(parcels))
    assert exc.value.code == "parcel_consumed"
    assert Certificate.objects.count() == 1


def test_a_share_from_outside_the_compliant_zones_is_refused(controlled: World, exporting: Any, kp: Any) -> None:
    world = controlled
    parcels = held_by_exporter(world, "3.00")  # Jwaneng, region "Southern"
    record_zone_measure(kp, "BW", ["Central"])
    with pytest.raises(ValidationFailed) as exc:
        certificates.issue(exporting, body(parcels))
    assert (exc.value.code, exc.value.rule) == ("origin_not_cleared", "SPEC-03")
    assert Parcel.objects.get(pk=parcels[0]).status == "held" and not Certificate.objects.exists()
    cleared = held_by_exporter(world, "2.00", site=world.alluvial)  # Lerala river, region "Central"
    assert certificates.issue(exporting, body(cleared)).from_custody


def record_zone_measure(kp: Any, participant: str, zones: list[str]) -> None:
    """A compliant-zones-only measure for the participant from 2020 (SPEC-03), by the node operator."""
    kp.record_measure(participant, "compliant_zones_only", dt.date(2020, 1, 1),
                      zones=[{"name": z, "valid_from": "2020-01-01", "valid_to": None} for z in zones], actor=SYSTEM)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_certificates_over_one_parcel_issue_once(world: World, exporting: Any) -> None:
    from tests.certificates.test_concurrency import race

    services.set_control(SYSTEM, "BW", FROM, True)
    parcels = held_by_exporter(world, "100.00")
    results = race(5, lambda i: certificates.issue(exporting, body(parcels)).number)
    wins = [r for kind, r in results if kind == "ok"]
    errors = [r for kind, r in results if kind == "error"]
    assert len(wins) == 1, results
    assert Counter((e.code, e.rule) for e in errors if isinstance(e, Conflict)) == Counter(
        {("parcel_consumed", "INT-09"): 4}), errors
    assert Certificate.objects.count() == 1 and CertificateOrigin.objects.count() == 1
    assert Parcel.objects.get(pk=parcels[0]).consumed_by.certificate == wins[0]
    assert audit.verify_chain()[1] is None


def test_without_control_issuing_asks_custody_one_cheap_question(world: World, exporting: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.conftest import certificate_request

    with CaptureQueriesContext(connection) as seen:
        certificates.issue(exporting, certificate_request(exporter={"licence": "BW-EXP-9"}))
    custody_sql = [q["sql"] for q in seen.captured_queries if '"custody_' in q["sql"]]
    assert len(custody_sql) == 1 and "custody_custodycontrol" in custody_sql[0], custody_sql


def test_issuing_after_midnight_judges_the_parcels_on_the_new_day(controlled: World, exporting: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The day's checks are repeated when the number is taken on a later day (CERT-09): custody's too."""
    from kpcs import clock

    parcels = held_by_exporter(controlled, "4.00")
    days = iter([dt.datetime(2026, 1, 1, 23, 59, 59, tzinfo=dt.UTC)])
    later = dt.datetime(2026, 1, 2, 0, 0, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: next(days, later))
    planned: list[dt.date] = []
    real = services.plan_export
    monkeypatch.setattr(services, "plan_export", lambda *a: planned.append(a[2]) or real(*a))
    cert = certificates.issue(exporting, body(parcels))
    assert cert.issued_on == dt.date(2026, 1, 2) and planned == [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]


@pytest.mark.parametrize("parcels", [[], "1", [0], [True], [2**63], ["a"], [1, 1]])
def test_parcel_lists_that_are_not_ids_are_refused(controlled: World, exporting: Any, parcels: Any) -> None:
    with pytest.raises(ValidationFailed) as exc:
        certificates.issue(exporting, body(parcels))
    assert exc.value.rule == "EXP-06"
