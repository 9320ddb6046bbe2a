"""Custody events as GS1 EPCIS 2.0 JSON-LD: valid against GS1's schema, read back into the same parcels, refusals
naming the event and its field (issue 9 item 6; INT-06..INT-11)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kpcs.custody import epcis, services
from kpcs.custody.models import CustodyEvent, Parcel, ParcelOrigin
from kpcs.errors import Conflict, NotFound, ValidationFailed
from tests.conftest import Api, assert_error
from tests.custody.conftest import DAY, World, outputs

SCHEMA = json.loads((Path(__file__).parent / "epcis" / "EPCIS-JSON-Schema.json").read_text())
# The schema's formats, checked here without jsonschema's optional packages: an absolute URI (RFC 3986 scheme,
# no spaces) and an RFC 3339 date-time with its offset.
FORMATS = jsonschema.FormatChecker()
FORMATS.checks("uri")(lambda v: not isinstance(v, str) or re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+",
                                                                          v) is not None)
FORMATS.checks("date-time", raises=ValueError)(
    lambda v: not isinstance(v, str) or dt.datetime.fromisoformat(v.replace("Z", "+00:00")).tzinfo is not None)
VALIDATOR = jsonschema.Draft7Validator(SCHEMA, format_checker=FORMATS)


def assert_valid(doc: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(json.loads(json.dumps(doc))), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_the_schema_is_gs1s_and_refuses_what_it_should() -> None:
    """The vendored schema really checks: a document without eventTime or with a bad URI is invalid."""
    assert SCHEMA["$id"] == "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"
    event = {"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2025-03-03T10:00:00Z",
             "eventTimeZoneOffset": "+00:00", "epcList": ["urn:kpcs:parcel:BW:1"]}
    doc = {"@context": epcis.CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2025-03-03T10:00:00Z", "epcisBody": {"eventList": [event]}}
    assert_valid(doc)
    for broken in ({"eventTime": None}, {"epcList": ["not a uri"]}, {"eventTime": "yesterday"},
                   {"kpcs extension": 1}):
        bad = copy.deepcopy(doc)
        bad["epcisBody"]["eventList"][0].update(broken)
        bad["epcisBody"]["eventList"][0] = {k: v for k, v in bad["epcisBody"]["eventList"][0].items()
                                            if v is not None}
        assert not VALIDATOR.is_valid(bad), broken


def later(hours: int) -> dt.datetime:
    return DAY + dt.timedelta(hours=hours)


def history(world: World) -> None:
    """Every event type: production at both sites, transfers (with and without a value, of part of a parcel),
    splits, merges (of one HS code and of two), loss, seizure."""
    a, b, c = outputs(world.produce("10.00", "5.50", "2.25", value="300.00"))
    [d] = outputs(world.produce("7.00", site=world.alluvial, value="50.00"))
    sold = world.transfer([c.pk, a.pk], world.mine_op, world.dealer, when=later(1), value_usd="999.99")
    x, y = outputs(sold)
    pieces = outputs(world.event(type="split", parcels=[x.pk], occurred_at=later(2).isoformat(),
                                 into=[{"carats": "1.00"}, {"carats": "1.25"}]))
    world.transfer([d.pk], world.digger, world.dealer, when=later(2))
    [d2] = Parcel.objects.filter(holder=world.dealer, carats_centi=700)
    world.event(type="merge", parcels=[pieces[0].pk, d2.pk], occurred_at=later(3).isoformat())
    world.event(type="loss", parcels=[b.pk], reason="fell in the river", occurred_at=later(3).isoformat())
    world.event(type="seizure", parcels=[y.pk], reason="no warranty", occurred_at=later(4).isoformat())
    lots = world.event(type="production", site=world.mine.pk, occurred_at=later(5).isoformat(), produced=[
        {"carats": "1.50", "value_usd": "10.00", "hs_code": "7102.21", "stones": 4},
        {"carats": "0.75", "value_usd": "20.00", "hs_code": "7102.31", "stones": 1}])
    [merged] = outputs(world.event(type="merge", parcels=[p.pk for p in outputs(lots)], hs_code="7102.31",
                                   occurred_at=later(5).isoformat()))
    world.transfer([merged.pk], world.mine_op, world.dealer, when=later(6), carats="0.50")  # a split, then a sale


def snapshot() -> list[tuple[Any, ...]]:
    """What the records say, without their ids: each event and the parcels it consumed and made."""
    out = []
    for e in CustodyEvent.objects.order_by("occurred_at", "pk"):
        ins = sorted((p.carats_centi, p.usd_cents) for p in Parcel.objects.filter(consumed_by=e))
        outs = [(p.holder_id, p.carats_centi, p.usd_cents, p.hs_code, p.stones, p.status,
                 sorted((o.country, o.site_id, o.carats_centi) for o in p.origins.all()))
                for p in Parcel.objects.filter(created_by=e).order_by("pk")]
        out.append((e.type, e.occurred_at, e.operator_id, e.counterparty_id, e.site_id, e.details, ins, outs))
    return out


def wipe() -> None:
    ParcelOrigin.objects.all().delete()
    Parcel.objects.all().delete()
    CustodyEvent.objects.all().delete()


pytestmark = pytest.mark.django_db


# --- pure mapping ----------------------------------------------------------------------------------------

def test_urns_are_percent_encoded_and_read_back() -> None:
    uri = epcis.site_uri("BW", "Lerala river: lot 7")
    assert uri == "urn:kpcs:site:BW:Lerala%20river%3A%20lot%207"
    assert epcis.parse_urn(uri, "site") == ("BW", "Lerala river: lot 7")
    assert epcis.parse_urn(uri, "operator") is None
    assert epcis.parse_urn("urn:kpcs:site:BW", "site") is None
    assert epcis.parse_urn(42, "site") is None


@pytest.mark.parametrize(("centi", "number"), [(1250, 12.5), (100, 1), (1, 0.01), (123456789, 1234567.89)])
def test_carats_are_json_numbers_read_back_exactly(centi: int, number: float) -> None:
    assert epcis.carats_number(centi) == number
    assert epcis._quantity(0, "q", json.loads(json.dumps(epcis.carats_number(centi)))) == f"{centi / 100:.2f}"


@pytest.mark.parametrize("bad", [0, -1, "x", True, None, 1.005, "1e999999999", [1]])
def test_a_quantity_is_a_positive_number_with_two_decimals(bad: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        epcis._quantity(3, "quantityList[0].quantity", bad)
    assert caught.value.details == {"event": 3, "field": "quantityList[0].quantity"}


# --- export ------------------------------------------------------------------------------------------------

def test_the_export_validates_against_gs1_schema_for_every_event_type(world: World) -> None:
    history(world)
    doc = epcis.export_document(world.officer)
    assert_valid(doc)
    assert doc["@context"][0] == epcis.EPCIS_CONTEXT and doc["@context"][1] == {"kpcs": epcis.KPCS_NAMESPACE}
    assert doc["schemaVersion"] == "2.0" and doc["type"] == "EPCISDocument"
    events = doc["epcisBody"]["eventList"]
    kinds = [(e["type"], e.get("action"), e["kpcs:eventType"]) for e in events]
    assert ("ObjectEvent", "ADD", "production") in kinds and ("ObjectEvent", "OBSERVE", "transfer") in kinds
    assert ("TransformationEvent", None, "split") in kinds and ("TransformationEvent", None, "merge") in kinds
    assert ("ObjectEvent", "DELETE", "loss") in kinds and ("ObjectEvent", "DELETE", "seizure") in kinds
    assert {e["kpcs:eventType"]: e["bizStep"] for e in events}["production"] == "commissioning"
    quantities = [q for e in events for key in ("quantityList", "inputQuantityList", "outputQuantityList")
                  for q in e.get(key, [])]
    assert quantities and {q["uom"] for q in quantities} == {"CTM"}


def test_a_transfer_names_the_owning_parties_invoice_warranty_and_licences(world: World) -> None:
    [p] = outputs(world.produce("3.00"))
    world.transfer([p.pk], world.mine_op, world.dealer, when=later(1))
    [ev] = [e for e in epcis.export_document(world.officer)["epcisBody"]["eventList"]
            if e["kpcs:eventType"] == "transfer"]
    assert ev["sourceList"] == [{"type": "owning_party", "source": "urn:kpcs:operator:BW:BW-MIN-1"}]
    assert ev["destinationList"] == [{"type": "owning_party", "destination": "urn:kpcs:operator:BW:BW-DEA-1"}]
    assert ev["bizTransactionList"] == [{"type": "inv", "bizTransaction": "urn:kpcs:invoice:BW:INV-1"}]
    assert "conflict free" in ev["kpcs:warranty"] and ev["kpcs:licence"] == "BW-MIN-1"
    assert ev["kpcs:buyerLicence"] == "BW-DEA-1"
    assert ev["quantityList"] == [{"epcClass": epcis.parcel_uri("BW", p.pk), "quantity": 3, "uom": "CTM"}]
    [made] = ev["kpcs:outputs"]
    assert made["from"] == epcis.parcel_uri("BW", p.pk) and made["carats"] == "3.00"
    assert made["origins"] == [{"country": "BW", "site": "urn:kpcs:site:BW:Jwaneng", "carats": "3.00"}]


def test_the_export_is_scoped_filtered_and_bounded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.produce("1.00")
    world.produce("2.00", site=world.alluvial, when=later(48))
    assert epcis.export_document(world.za_officer)["epcisBody"]["eventList"] == []  # BW's records
    mine = epcis.export_document(world.officer, operator=world.digger.pk)["epcisBody"]["eventList"]
    assert [e["kpcs:operator"] for e in mine] == ["urn:kpcs:operator:BW:BW-DIG-1"]
    first_day = epcis.export_document(world.officer, start=DAY.date(), end=DAY.date())
    assert len(first_day["epcisBody"]["eventList"]) == 1
    monkeypatch.setattr(epcis, "MAX_EVENTS", 1)
    with pytest.raises(ValidationFailed) as caught:
        epcis.export_document(world.officer)
    assert caught.value.code == "too_many_events"


# --- import ------------------------------------------------------------------------------------------------

def test_round_trip_gives_the_same_parcels_and_quantities(world: World) -> None:
    history(world)
    before = snapshot()
    doc = json.loads(json.dumps(epcis.export_document(world.officer)))  # as it travels
    wipe()  # a fresh node with the same operators and sites
    done = epcis.import_document(world.officer, doc)
    assert len(done) == len(before)
    assert snapshot() == before


def test_an_import_is_all_or_nothing_and_names_the_event(world: World) -> None:
    [p] = outputs(world.produce("4.00"))
    world.event(type="loss", parcels=[p.pk], reason="lost", occurred_at=later(1).isoformat())
    doc = epcis.export_document(world.officer)
    wipe()
    bad = copy.deepcopy(doc)
    del bad["epcisBody"]["eventList"][1]["kpcs:reason"]
    with pytest.raises(ValidationFailed) as caught:
        epcis.import_document(world.officer, bad)
    assert caught.value.code == "reason_required"
    assert caught.value.details == {"field": "kpcs:reason", "event": 1}
    assert "event 1 (kpcs:reason)" in caught.value.message
    assert CustodyEvent.objects.count() == 0 and Parcel.objects.count() == 0


def test_rules_apply_to_imported_events(world: World) -> None:
    """The same services record them: a seller's licence (INT-08) and mass balance (INT-09) still hold."""
    [p] = outputs(world.produce("4.00"))
    world.event(type="split", parcels=[p.pk], into=[{"carats": "1.00"}, {"carats": "3.00"}],
                occurred_at=later(1).isoformat())
    doc = epcis.export_document(world.officer)
    wipe()
    heavier = copy.deepcopy(doc)
    heavier["epcisBody"]["eventList"][1]["outputQuantityList"][1]["quantity"] = 3.5
    with pytest.raises(ValidationFailed) as caught:
        epcis.import_document(world.officer, heavier)
    assert caught.value.rule == "INT-09" and caught.value.details["event"] == 1
    twice = copy.deepcopy(doc)
    twice["epcisBody"]["eventList"].append(copy.deepcopy(twice["epcisBody"]["eventList"][1]))
    with pytest.raises(ValidationFailed) as named:
        epcis.import_document(world.officer, twice)
    assert named.value.details == {"event": 2, "field": "eventID"}
    twice["epcisBody"]["eventList"][2]["eventID"] = "urn:example:another"
    with pytest.raises(Conflict) as consumed:
        epcis.import_document(world.officer, twice)
    assert consumed.value.code == "parcel_consumed" and consumed.value.details["event"] == 2
    assert CustodyEvent.objects.count() == 0


def test_unknown_operators_sites_and_parcels_are_refused(world: World) -> None:
    [p] = outputs(world.produce("4.00"))
    world.transfer([p.pk], world.mine_op, world.dealer, when=later(1))
    doc = epcis.export_document(world.officer)
    wipe()
    stranger = copy.deepcopy(doc)
    stranger["epcisBody"]["eventList"][1]["destinationList"][0]["destination"] = "urn:kpcs:operator:BW:NOPE"
    with pytest.raises(NotFound) as caught:
        epcis.import_document(world.officer, stranger)
    assert caught.value.details == {"event": 1, "field": "destinationList"}
    foreign = copy.deepcopy(doc)
    foreign["epcisBody"]["eventList"][0]["bizLocation"]["id"] = "urn:kpcs:site:BW:Nowhere"
    with pytest.raises(NotFound):
        epcis.import_document(world.officer, foreign)
    with pytest.raises(NotFound):  # another participant's custody officer: the same 404
        epcis.import_document(world.za_officer, doc)
    orphan = copy.deepcopy(doc)
    del orphan["epcisBody"]["eventList"][0]
    with pytest.raises(ValidationFailed) as missing:
        epcis.import_document(world.officer, orphan)
    assert missing.value.code == "unknown_parcel" and missing.value.details["event"] == 0
    assert CustodyEvent.objects.count() == 0


@pytest.mark.parametrize(("doc", "field"), [
    ([], "type"),
    ({"type": "EPCISDocument", "schemaVersion": "1.2", "epcisBody": {"eventList": []}}, "schemaVersion"),
    ({"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {}}, "epcisBody.eventList"),
])
def test_malformed_documents_are_refused(doc: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        epcis.read_document(doc)
    assert caught.value.details["field"] == field


@pytest.mark.parametrize(("event", "field", "code"), [
    ("not an event", "type", "invalid_epcis"),
    ({"type": "AssociationEvent"}, "type", "unsupported_event"),
    ({"type": "ObjectEvent", "action": "WRITE"}, "action", "invalid_epcis"),
    ({"type": "ObjectEvent", "action": "ADD", "kpcs:eventType": "loss"}, "kpcs:eventType", "invalid_epcis"),
    ({"type": "ObjectEvent", "action": "ADD", "kpcs:eventType": ["loss"]}, "kpcs:eventType", "invalid_epcis"),
    ({"type": "TransformationEvent", "inputQuantityList": 5}, "eventTime", "invalid_date"),
    ({"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2025-03-03T10:00:00Z", "sourceList": 5,
      "quantityList": [{"epcClass": "urn:kpcs:parcel:BW:1", "quantity": 1, "uom": "CTM"}]},
     "sourceList", "invalid_epcis"),
    ({"type": "ObjectEvent", "action": "DELETE"}, "eventTime", "invalid_date"),
    ({"type": "ObjectEvent", "action": "DELETE", "eventTime": "2025-03-03T10:00:00Z",
      "quantityList": [{"epcClass": "urn:kpcs:parcel:BW:1", "quantity": 1, "uom": "KGM"}]},
     "quantityList[0].uom", "invalid_quantity"),
    ({"type": "ObjectEvent", "action": "ADD", "eventTime": "2025-03-03T10:00:00Z",
      "quantityList": [{"epcClass": "urn:kpcs:parcel:BW:1", "quantity": 1, "uom": "CTM"}]},
     "bizLocation.id", "invalid_epcis"),
    ({"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2025-03-03T10:00:00Z",
      "quantityList": [{"epcClass": "urn:kpcs:parcel:BW:1", "quantity": 1, "uom": "CTM"}]},
     "sourceList", "invalid_epcis"),
    ({"type": "TransformationEvent", "eventTime": "2025-03-03T10:00:00Z",
      "inputQuantityList": [{"epcClass": "urn:kpcs:parcel:BW:1", "quantity": 1, "uom": "CTM"}]},
     "outputQuantityList", "invalid_epcis"),
])
def test_malformed_events_name_their_index_and_field(event: Any, field: str, code: str) -> None:
    doc = {"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [event]}}
    with pytest.raises(ValidationFailed) as caught:
        epcis.read_document(doc)
    assert (caught.value.code, caught.value.details) == (code, {"event": 0, "field": field})


# --- API ---------------------------------------------------------------------------------------------------

@pytest.fixture
def api(world: World, token_for: Any) -> Api:
    return Api(token_for("custody@bw.test"))


def test_export_and_import_over_http(api: Api, world: World) -> None:
    history(world)
    before = snapshot()
    got = api.get("/custody/epcis", **{"from": "2025-03-01", "to": "2025-03-31"})
    assert got.status_code == 200, got.content
    assert_valid(got.json())
    wipe()
    sent = api.post("/custody/epcis", got.json())
    assert sent.status_code == 201, sent.content
    assert sent.json()["recorded"] == len(before) and snapshot() == before
    again = api.post("/custody/epcis", got.json())
    assert again.status_code == 201 and again.json()["replayed"] == len(before) and snapshot() == before
    assert again.json()["events"] == sent.json()["events"]


def test_http_refusals_are_json(api: Api, world: World) -> None:
    assert_error(api.get("/custody/epcis", **{"from": "2025-03-02", "to": "2025-03-01"}), 422, "invalid_dates")
    bad = {"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [{"type": "Nope"}]}}
    body = assert_error(api.post("/custody/epcis", bad), 422, "unsupported_event")
    assert body["details"] == {"event": 0, "field": "type"}
    assert_error(Api().get("/custody/epcis"), 401)


def test_services_stay_the_only_writer(world: World) -> None:
    """An import goes through services.record_event: each event has its own audit entry."""
    from kpcs.audit.models import AuditEntry

    world.produce("1.00")
    doc = epcis.export_document(world.officer)
    wipe()
    before = AuditEntry.objects.filter(action="custody.production").count()
    epcis.import_document(world.officer, doc)
    assert AuditEntry.objects.filter(action="custody.production").count() == before + 1
    assert services.readable(world.officer) == {"BW"}


# --- CLI ---------------------------------------------------------------------------------------------------

def kpcs(*args: str) -> Any:
    from typer.testing import CliRunner

    from kpcs.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_export_then_import(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kpcs.cli import common

    monkeypatch.setattr(common.out, "width", 250)  # read at import from COLUMNS, which differs per run
    history(world)
    before = snapshot()
    exported = kpcs("custody", "epcis-export", "--from", "2025-03-03", "--to", "2025-03-03")
    assert exported.exit_code == 0, exported.output
    assert_valid(json.loads(exported.stdout))
    path = tmp_path / "custody.jsonld"
    path.write_text(exported.stdout)
    wipe()
    imported = kpcs("custody", "epcis-import", str(path))
    assert imported.exit_code == 0, imported.output
    assert f"recorded {len(before)} custody events" in " ".join(imported.stdout.split()) and snapshot() == before
    again = kpcs("custody", "epcis-import", str(path))  # eventIDs are idempotency keys: nothing twice
    assert again.exit_code == 0 and f"recorded 0 custody events from {path} ({len(before)} were already" \
        in " ".join(again.output.split())
    assert snapshot() == before
    lost = json.loads(exported.stdout)
    [seizure] = [e for e in lost["epcisBody"]["eventList"] if e["kpcs:eventType"] == "seizure"]
    del seizure["kpcs:reason"]
    path.write_text(json.dumps(lost))
    refused = kpcs("custody", "epcis-import", str(path))
    assert refused.exit_code == 1 and "nothing was imported" in " ".join(refused.output.split())


def test_cli_refuses_bad_options_and_files(world: World, tmp_path: Path) -> None:
    assert kpcs("custody", "epcis-export", "--from", "March").exit_code == 1
    path = tmp_path / "bad.jsonld"
    path.write_text("{not json")
    refused = kpcs("custody", "epcis-import", str(path))
    assert refused.exit_code == 1 and "not JSON" in " ".join(refused.output.split())
