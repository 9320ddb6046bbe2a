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

from kpcs.custody import epcis
from kpcs.custody.models import CustodyEvent, Parcel, ParcelOrigin
from kpcs.errors import ValidationFailed
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
def test_carats_are_json_numbers(centi: int, number: float) -> None:
    assert epcis.carats_number(centi) == number


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


# --- API and CLI -------------------------------------------------------------------------------------------

@pytest.fixture
def api(world: World, token_for: Any) -> Api:
    return Api(token_for("custody@bw.test"))


def test_export_over_http(api: Api, world: World) -> None:
    history(world)
    got = api.get("/custody/epcis", **{"from": "2025-03-01", "to": "2025-03-31"})
    assert got.status_code == 200, got.content
    assert_valid(got.json())
    assert len(got.json()["epcisBody"]["eventList"]) == CustodyEvent.objects.count()
    assert_error(api.get("/custody/epcis", **{"from": "2025-03-02", "to": "2025-03-01"}), 422, "invalid_dates")
    assert_error(Api().get("/custody/epcis"), 401)


def kpcs(*args: str) -> Any:
    from typer.testing import CliRunner

    from kpcs.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_export(world: World) -> None:
    history(world)
    exported = kpcs("custody", "epcis-export", "--from", "2025-03-03", "--to", "2025-03-03")
    assert exported.exit_code == 0, exported.output
    assert_valid(json.loads(exported.stdout))
    assert kpcs("custody", "epcis-export", "--from", "March").exit_code == 1
