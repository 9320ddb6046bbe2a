"""Goods crossing borders under certificates from custody: the import event on confirmation (IMP-02, CERT-10),
a re-export carrying the origin shares through, and the certificate trace back to the sites (issue 9, done when)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.certificates import services as certificates
from kpcs.certificates.models import Certificate
from kpcs.custody import services
from kpcs.custody.models import CustodyEvent, Parcel, ParcelOrigin
from kpcs.errors import NotFound, ValidationFailed
from kpcs.registry.services import SYSTEM
from tests.conftest import assert_error, path_of
from tests.custody.conftest import DAY, WARRANTY, World

FROM = dt.date(2025, 1, 1)


@dataclass
class Border:
    world: World
    bw_exp: Any
    za_exp: Any
    za_exporter: Any
    eu_imp: Any
    eu_exp: Any
    eu_custody: Any
    eu_importer: Any
    eu_exporter: Any
    za_mine: Any


@pytest.fixture
def border(world: World, make_user: Any, make_operator: Any) -> Border:
    since = dt.date(2020, 1, 1)
    za_miner = make_operator("ZA", "miner", "ZA-MIN-1", valid_from=since)
    za_exporter = make_operator("ZA", "exporter", "ZA-EXP-1", valid_from=since)
    eu_importer = make_operator("EU", "importer", "EU-IMP-1", valid_from=since)
    eu_exporter = make_operator("EU", "exporter", "EU-EXP-1", valid_from=since)
    za_mine = services.register_site(world.za_officer, name="Venetia", kind="industrial_mine", region="Limpopo",
                                     holder=za_miner.pk)
    for code in ("BW", "ZA", "EU"):
        services.set_control(SYSTEM, code, FROM, True)
    b = Border(world, make_user("exp@bw.test", "exporting_officer", "BW"),
               make_user("exp@za.test", "exporting_officer", "ZA"), za_exporter,
               make_user("imp@eu.test", "importing_officer", "EU", "EU-BE-ANTWERP"),
               make_user("exp@eu.test", "exporting_officer", "EU", "EU-BE-ANTWERP"),
               make_user("custody@eu.test", "custody_officer", "EU"), eu_importer, eu_exporter, za_mine)
    return b


def to_exporter(world: World, officer: Any, site: Any, producer: Any, exporter: Any, *carats: str) -> list[int]:
    req = {"type": "production", "site": site.pk, "occurred_at": DAY.isoformat(),
           "produced": [{"carats": c, "value_usd": "1000.00", "hs_code": "7102.31"} for c in carats]}
    made = services.record_event(officer, req).outputs()
    return services.record_event(officer, {
        "type": "transfer", "parcels": made, "seller": producer.pk, "buyer": exporter.pk,
        "occurred_at": DAY.isoformat(), "invoice": "INV-1", "warranty": WARRANTY}).outputs()


def to_eu(officer: Any, licence: str, parcels: list[int], importer: str = "EU importer Ltd") -> Certificate:
    return certificates.issue(officer, {"importing_participant": "EU", "exporter": {"licence": licence},
                                        "importer": {"name": importer, "address": "Antwerp"}, "parcels": parcels})


def confirm(officer: Any, cert: Certificate) -> Certificate:
    return certificates.confirm(officer, cert.number, {
        "received_on": clock.today().isoformat(), "parcels": cert.total_parcels,
        "carats": str(cert.total_carats_centi / 100), "seals_intact": True})


def test_confirmation_brings_the_parcels_into_the_importers_stock(border: Border) -> None:
    w = border.world
    parcels = to_exporter(w, w.officer, w.mine, w.mine_op, w.exporter, "100.00", "20.00")
    cert = to_eu(border.bw_exp, "BW-EXP-9", parcels)
    confirm(border.eu_imp, cert)
    imported = CustodyEvent.objects.get(type="import")
    assert (imported.certificate, imported.participant_id, imported.operator_id) == (
        cert.number, "EU", border.eu_importer.pk)
    made = list(Parcel.objects.filter(created_by=imported).order_by("pk"))
    assert [p.carats_centi for p in made] == [10000, 2000]
    assert all(p.holder_id == border.eu_importer.pk and p.status == "held" for p in made)
    assert {(o.country, o.site_id, o.carats_centi) for o in ParcelOrigin.objects.filter(parcel__in=made)} == {
        ("BW", w.mine.pk, 10000), ("BW", w.mine.pk, 2000)}
    assert audit.verify_chain()[1] is None


def test_an_importer_without_custody_control_gets_nothing(border: Border) -> None:
    w = border.world
    services.set_control(SYSTEM, "EU", dt.date(2025, 2, 1), False)
    cert = to_eu(border.bw_exp, "BW-EXP-9", to_exporter(w, w.officer, w.mine, w.mine_op, w.exporter, "5.00"))
    assert confirm(border.eu_imp, cert).status == "confirmed"
    assert not CustodyEvent.objects.filter(type="import").exists()


def test_the_importer_must_be_a_registered_importing_operator(border: Border) -> None:
    w = border.world
    cert = to_eu(border.bw_exp, "BW-EXP-9", to_exporter(w, w.officer, w.mine, w.mine_op, w.exporter, "5.00"),
                 importer="Nobody BV")
    with pytest.raises(ValidationFailed) as exc:
        confirm(border.eu_imp, cert)
    assert (exc.value.code, exc.value.rule) == ("importer_not_registered", "INT-08")
    assert Certificate.objects.get(pk=cert.pk).status == "issued"
    assert not CustodyEvent.objects.filter(type="import").exists()


def test_mixed_origin_re_export_carries_the_shares_to_the_sites(border: Border, api_as: Any,
                                                                 token_for: Any) -> None:
    """Issue 9's done-when: BW and ZA mines → the EU → re-exported as one mixed parcel, shares carried through."""
    w, b = border.world, border
    bw = to_eu(b.bw_exp, "BW-EXP-9", to_exporter(w, w.officer, w.mine, w.mine_op, w.exporter, "100.00"))
    za = to_eu(b.za_exp, "ZA-EXP-1", to_exporter(w, w.za_officer, b.za_mine, b.za_mine.holder, b.za_exporter,
                                                 "40.00"))
    confirm(b.eu_imp, bw)
    confirm(b.eu_imp, za)
    in_eu = list(Parcel.objects.filter(holder=b.eu_importer, status="held").values_list("pk", flat=True))
    bought = services.record_event(b.eu_custody, {
        "type": "transfer", "parcels": in_eu, "seller": b.eu_importer.pk, "buyer": b.eu_exporter.pk,
        "occurred_at": clock.now().isoformat(), "invoice": "INV-EU", "warranty": WARRANTY}).outputs()
    [merged] = services.record_event(b.eu_custody, {"type": "merge", "parcels": bought,
                                                    "occurred_at": clock.now().isoformat()}).outputs()
    api = api_as("exp@eu.test")
    resp = api.post("/certificates", {"importing_participant": "CH", "exporter": {"licence": "EU-EXP-1"},
                                      "importer": {"name": "Z AG", "address": "Geneva"}, "parcels": [merged]})
    assert resp.status_code == 201, resp.content
    data = resp.json()
    assert (data["origin"], data["origin_countries"]) == ("mixed", ["BW", "ZA"])
    assert data["origins"] == [{"country": "BW", "carats": "100.00"}, {"country": "ZA", "carats": "40.00"}]
    assert data["totals"]["carats"] == "140.00" and data["from_custody"]
    path = path_of(data["number"])
    assert api.get(path).json()["origins"] == data["origins"]

    found = api.get(path + "/trace").json()
    assert found["carats"] == "140.00" and [p["id"] for p in found["parcels"]] == [merged]
    assert [(o["country"], o["site"]["name"], o["carats"]) for o in found["origins"]] == [
        ("BW", "Jwaneng", "100.00"), ("ZA", "Venetia", "40.00")]
    assert sum(float(o["carats"]) for o in found["origins"]) == 140.0
    types = [s["type"] for s in found["path"]]
    assert types.count("export") == 3 and types.count("import") == 2 and types.count("production") == 2
    # the EU's own events in full; BW's and ZA's named but withheld from the EU's officer
    own = [s for s in found["path"] if s["participant"] == "EU"]
    others = [s for s in found["path"] if s["participant"] != "EU"]
    assert own and all(not s["withheld"] and s["operator"] for s in own)
    assert others and all(s["withheld"] and s["operator"] is None for s in others)
    # another participant's certificate: the same 404 as a missing one
    assert_error(api_as("exp@bw.test").get(path + "/trace"), 404)
    assert_error(api.get("/certificates/XX%2099/trace"), 404)
    # the Botswana certificate's trace, as Botswana's officer reads it: its own events in full
    bw_trace = api_as("exp@bw.test").get(path_of(bw.number) + "/trace").json()
    assert [(o["country"], o["carats"]) for o in bw_trace["origins"]] == [("BW", "100.00")]
    assert all(not s["withheld"] for s in bw_trace["path"])
    assert audit.verify_chain()[1] is None


def test_trace_of_a_certificate_not_from_custody_is_empty(world: World, bw_officer: Any) -> None:
    from tests.conftest import certificate_request

    cert = certificates.issue(bw_officer, certificate_request())
    assert certificates.trace(bw_officer, cert.number) == {
        "certificate": cert.number, "from_custody": False, "carats": "0.00", "parcels": [], "origins": [],
        "path": []}
    with pytest.raises(NotFound):
        certificates.trace(bw_officer, "BW 999999")


def test_a_body_with_parcels_and_lines_that_differ_is_422_over_the_api(border: Border, api_as: Any) -> None:
    w = border.world
    parcels = to_exporter(w, w.officer, w.mine, w.mine_op, w.exporter, "7.00")
    resp = api_as("exp@bw.test").post("/certificates", {
        "importing_participant": "EU", "exporter": {"licence": "BW-EXP-9"},
        "importer": {"name": "EU importer Ltd", "address": "Antwerp"}, "parcels": parcels, "origin": "ZA"})
    assert_error(resp, 422, "origin_conflict", "CERT-10")
    resp = api_as("exp@bw.test").post("/certificates", {
        "importing_participant": "EU", "exporter": {"licence": "BW-EXP-9"},
        "importer": {"name": "EU importer Ltd", "address": "Antwerp"}})
    assert_error(resp, 422, "parcels_required", "EXP-06")


def test_cli_sets_control_and_traces_a_certificate(border: Border, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from kpcs.cli import common
    from tests.custody.test_cli import kpcs

    monkeypatch.setattr(common.out, "width", 250)
    done = kpcs("custody", "control", "NA", "--from", "2025-02-01", "--on")
    assert done.exit_code == 0 and "custody control of NA on from 2025-02-01" in done.text, done.text
    assert kpcs("custody", "control", "NA", "--from", "2025-02-01", "--off").exit_code == 1
    assert kpcs("custody", "control", "NA", "--from", "soon", "--off").exit_code != 0
    w = border.world
    cert = to_eu(border.bw_exp, "BW-EXP-9", to_exporter(w, w.officer, w.mine, w.mine_op, w.exporter, "9.50"))
    traced = kpcs("trace", "--certificate", cert.number, "--format", "json")
    assert traced.exit_code == 0, traced.text
    doc = json.loads(traced.stdout)
    assert doc["carats"] == "9.50" and doc["origins"][0]["site"]["name"] == "Jwaneng"
    table = kpcs("trace", "--certificate", cert.number)
    assert table.exit_code == 0 and "Jwaneng" in table.text and "export" in table.text, table.text
    assert kpcs("trace").exit_code == 1
    assert kpcs("trace", "--certificate", "BW 999999").exit_code == 1


def test_issue_from_parcels_through_the_form_and_read_the_origins(border: Border) -> None:
    from tests.certificates.test_views import issue_form
    from tests.conftest import client_for

    w = border.world
    parcels = to_exporter(w, w.officer, w.mine, w.mine_op, w.exporter, "12.00")
    page = client_for("exp@bw.test")
    blank = {f"lines-{i}-{f}": "" for i in range(3) for f in ("hs_code", "carats", "value_usd", "parcels")}
    refused = page.post("/certificates/new", issue_form(**blank, exporter="BW-EXP-9", origin=""))
    assert refused.status_code == 422 and "EXP-06: " in refused.content.decode()
    done = page.post("/certificates/new", issue_form(**blank, exporter="BW-EXP-9", origin="",
                                                     parcels=", ".join(map(str, parcels))))
    assert done.status_code == 302, done.content.decode()[:3000]
    cert = Certificate.objects.get()
    assert cert.from_custody and cert.total_carats_centi == 1200
    shown = page.get(done["Location"]).content.decode()
    assert "from custody:" in shown and "BW 12.00 ct" in shown
