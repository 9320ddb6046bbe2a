"""Custody events as GS1 EPCIS 2.0 JSON-LD documents, out and in (issue 9 item 6; INT-06..INT-11).

Mapping (docs/decisions.md "Custody EPCIS"):

- production: `ObjectEvent` ADD, bizStep `commissioning`, the site as readPoint and bizLocation;
- transfer: `ObjectEvent` OBSERVE, bizStep `shipping`, seller and buyer as owning parties in sourceList and
  destinationList, the invoice as a bizTransaction (INT-11);
- split, merge: `TransformationEvent` (inputQuantityList, outputQuantityList), bizStep `repackaging`;
- loss, seizure: `ObjectEvent` DELETE, bizStep `decommissioning`, disposition `urn:kpcs:disposition:lost|seized`.

A parcel is a lot: its URI (`urn:kpcs:parcel:<participant>:<id>`) is the quantity element's epcClass, its
carats the quantity in `CTM` (UN/CEFACT carat). Operators are `urn:kpcs:operator:<participant>:<licence number>`,
sites `urn:kpcs:site:<participant>:<name>` (percent-encoded), so another node with the same operators and sites
reads them. KP facts (licences, invoice, warranty, values, HS codes, origin shares) are extension fields under
the `kpcs` prefix the @context declares. Quantities are sent as JSON numbers and read back exactly (at most two
decimals), values in US$ as text.

The mapping functions are pure; `export_document` reads through the custody selectors and `import_document`
records each event through `services.record_event`, so every rule applies, all or nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, unquote

from django.db import transaction
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.custody import rules, selectors, services
from kpcs.custody.models import CustodyEvent, Licence, Parcel, ParcelOrigin, Site
from kpcs.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from kpcs.registry import services as registry
from kpcs.registry.services import Actor

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
KPCS_NAMESPACE = "urn:kpcs:epcis:"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"kpcs": KPCS_NAMESPACE}]
CARAT = "CTM"  # UN/CEFACT Recommendation 20: metric carat
MAX_EVENTS = 10_000  # one document, export or import; narrow the range for more
DISPOSITION_REMOVED = {"loss": "urn:kpcs:disposition:lost", "seizure": "urn:kpcs:disposition:seized"}
BIZ_STEP = {"production": "commissioning", "transfer": "shipping", "split": "repackaging",
            "merge": "repackaging", "loss": "decommissioning", "seizure": "decommissioning",
            "export": "packing", "import": "receiving", "return": "unpacking"}


# --- identifiers ------------------------------------------------------------------------------------

def _urn(kind: str, participant: str, key: str | int) -> str:
    return f"urn:kpcs:{kind}:{quote(participant, safe='')}:{quote(str(key), safe='')}"


def certificate_uri(number: str) -> str:
    """A KP certificate's number names its exporting participant already: one URI on both sides of the border."""
    return f"urn:kpcs:certificate:{quote(number, safe='')}"


def parcel_uri(participant: str, pk: int) -> str:
    return _urn("parcel", participant, pk)


def operator_uri(participant: str, licence: str) -> str:
    return _urn("operator", participant, licence)


def site_uri(participant: str, name: str) -> str:
    return _urn("site", participant, name)


def event_uri(participant: str, pk: int) -> str:
    return _urn("event", participant, pk)


def parse_urn(value: Any, kind: str) -> tuple[str, str] | None:
    """(participant, key) of a `urn:kpcs:<kind>:<participant>:<key>`; None for anything else."""
    if not isinstance(value, str):
        return None
    parts = value.split(":")
    if len(parts) != 5 or parts[:3] != ["urn", "kpcs", kind] or not parts[3] or not parts[4]:
        return None
    return unquote(parts[3]), unquote(parts[4])


def carats_number(centi: int) -> int | float:
    """Hundredths of a carat as the JSON number EPCIS quantities are (whole carats as integers)."""
    return centi // 100 if centi % 100 == 0 else centi / 100


# --- plain values an export is made of -----------------------------------------------------------------

@dataclass(frozen=True)
class PartyRef:
    participant: str
    licence: str  # the operator's registry licence number: its name on every node


@dataclass(frozen=True)
class ParcelFact:
    pk: int
    participant: str
    carats_centi: int
    usd_cents: int
    hs_code: str
    stones: int | None
    holder: PartyRef
    origins: tuple[tuple[str, str | None, int], ...] = ()  # (country, site name or None, carats in hundredths)


@dataclass(frozen=True)
class EventFact:
    """One custody event as plain values: what `event_to_epcis` maps."""

    pk: int
    type: str
    participant: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    operator: PartyRef
    operator_licence: str | None
    counterparty: PartyRef | None = None
    counterparty_licence: str | None = None
    site: tuple[str, str] | None = None  # (participant, name)
    details: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[ParcelFact, ...] = ()
    outputs: tuple[ParcelFact, ...] = ()
    certificate: str = ""  # export, import, return: the KP certificate the goods cross the border under


def _quantities(parcels: Iterable[ParcelFact]) -> list[dict[str, Any]]:
    return [{"epcClass": parcel_uri(p.participant, p.pk), "quantity": carats_number(p.carats_centi), "uom": CARAT}
            for p in parcels]


def _output_facts(event: EventFact) -> list[dict[str, Any]]:
    out = []
    for n, p in enumerate(event.outputs):
        fact: dict[str, Any] = {
            "parcel": parcel_uri(p.participant, p.pk), "carats": rules.centi_text(p.carats_centi),
            "valueUSD": rules.centi_text(p.usd_cents), "hsCode": p.hs_code,
            "holder": operator_uri(p.holder.participant, p.holder.licence),
            "origins": [{"country": c, **({"site": site_uri(c, s)} if s is not None else {}),
                         "carats": rules.centi_text(ct)} for c, s, ct in p.origins]}
        if p.stones is not None:
            fact["stones"] = p.stones
        if event.type == "transfer" and n < len(event.inputs):
            fact["from"] = parcel_uri(event.inputs[n].participant, event.inputs[n].pk)
        out.append(fact)
    return out


def event_to_epcis(event: EventFact) -> dict[str, Any]:
    """One custody event as an EPCIS 2.0 event (pure). For a transfer, `inputs[n]` made `outputs[n]`."""
    operator = operator_uri(event.operator.participant, event.operator.licence)
    out: dict[str, Any] = {
        "eventID": event_uri(event.participant, event.pk),
        "eventTime": event.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+00:00",
        "recordTime": event.recorded_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "bizStep": BIZ_STEP[event.type],
    }
    if event.type == "production":
        out.update(type="ObjectEvent", action="ADD", quantityList=_quantities(event.outputs), disposition="active")
        if event.site is not None:
            where = site_uri(*event.site)
            out.update(readPoint={"id": where}, bizLocation={"id": where})
        out["ilmd"] = {"kpcs:countryOfOrigin": event.site[0] if event.site else event.participant}
    elif event.type == "transfer":
        assert event.counterparty is not None
        buyer = operator_uri(event.counterparty.participant, event.counterparty.licence)
        out.update(type="ObjectEvent", action="OBSERVE", quantityList=_quantities(event.inputs),
                   disposition="in_progress",
                   sourceList=[{"type": "owning_party", "source": operator}],
                   destinationList=[{"type": "owning_party", "destination": buyer}])
        invoice = event.details.get("invoice")
        if invoice:
            out["bizTransactionList"] = [{"type": "inv",
                                          "bizTransaction": _urn("invoice", event.participant, invoice)}]
        if event.counterparty_licence:
            out["kpcs:buyerLicence"] = event.counterparty_licence
    elif event.type in ("split", "merge"):
        out.update(type="TransformationEvent", inputQuantityList=_quantities(event.inputs),
                   outputQuantityList=_quantities(event.outputs))
    elif event.type == "export":  # the parcels packed into the shipment the certificate covers
        out.update(type="AggregationEvent", action="ADD",
                   parentID=certificate_uri(event.certificate),
                   childQuantityList=_quantities(event.inputs), disposition="in_transit")
    elif event.type == "import":  # the importer's parcels, received under the certificate
        out.update(type="ObjectEvent", action="ADD", quantityList=_quantities(event.outputs),
                   disposition="in_progress")
    elif event.type == "return":  # the certificate was not used: its shipment unpacked into the exporter's stock
        out.update(type="ObjectEvent", action="ADD", quantityList=_quantities(event.outputs),
                   disposition="returned")
    else:  # loss, seizure
        out.update(type="ObjectEvent", action="DELETE", quantityList=_quantities(event.inputs),
                   disposition=DISPOSITION_REMOVED[event.type])
    out["kpcs:eventType"] = event.type
    out["kpcs:operator"] = operator
    if event.operator_licence:
        out["kpcs:licence"] = event.operator_licence
    for key, name in (("invoice", "kpcs:invoice"), ("warranty", "kpcs:warranty"), ("reason", "kpcs:reason"),
                      ("certificate_status", "kpcs:certificateStatus")):
        if event.details.get(key):
            out[name] = event.details[key]
    if event.certificate:
        out["bizTransactionList"] = [*out.get("bizTransactionList", []), {
            "type": "urn:kpcs:btt:kp_certificate", "bizTransaction": certificate_uri(event.certificate)}]
    if event.outputs:
        out["kpcs:outputs"] = _output_facts(event)
    return out


def document(events: Iterable[EventFact], created: dt.datetime) -> dict[str, Any]:
    """An `EPCISDocument` of the events, in the order given (pure)."""
    return {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": created.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "epcisBody": {"eventList": [event_to_epcis(e) for e in events]}}


# --- export: read the events --------------------------------------------------------------------------

def _facts(events: Sequence[CustodyEvent]) -> list[EventFact]:
    ids = [e.pk for e in events]
    parcels = list(Parcel.objects.filter(created_by__in=ids).select_related("holder")) + list(
        Parcel.objects.filter(consumed_by__in=ids).exclude(created_by__in=ids).select_related("holder"))
    origins: dict[int, list[tuple[str, str | None, int]]] = {}
    for o in ParcelOrigin.objects.filter(parcel_id__in=[p.pk for p in parcels]).select_related("site").order_by(
            "parcel_id", "country", "site_id"):
        origins.setdefault(o.parcel_id, []).append((o.country, o.site.name if o.site else None, o.carats_centi))

    def fact(p: Parcel) -> ParcelFact:
        return ParcelFact(p.pk, p.participant_id, p.carats_centi, p.usd_cents, p.hs_code, p.stones,
                          PartyRef(p.holder.participant_id, p.holder.licence), tuple(origins.get(p.pk, ())))

    made: dict[int, list[ParcelFact]] = {}
    used: dict[int, list[ParcelFact]] = {}
    for p in sorted(parcels, key=lambda p: p.pk):
        made.setdefault(p.created_by_id, []).append(fact(p))
        if p.consumed_by_id is not None:
            used.setdefault(p.consumed_by_id, []).append(fact(p))
    out = []
    for e in events:
        inputs, outputs = used.get(e.pk, []), made.get(e.pk, [])
        if e.type == "transfer":
            inputs = pair_transfer(inputs, outputs)
        out.append(EventFact(
            e.pk, e.type, e.participant_id, e.occurred_at, e.recorded_at,
            PartyRef(e.operator.participant_id, e.operator.licence),
            e.operator_licence.number if e.operator_licence else None,
            PartyRef(e.counterparty.participant_id, e.counterparty.licence) if e.counterparty else None,
            e.counterparty_licence.number if e.counterparty_licence else None,
            (e.site.participant_id, e.site.name) if e.site else None, e.details or {},
            tuple(inputs), tuple(outputs), e.certificate or ""))
    return out


def pair_transfer(inputs: Sequence[ParcelFact], outputs: Sequence[ParcelFact]) -> list[ParcelFact]:
    """The inputs of a transfer reordered so that inputs[n] made outputs[n]: a transfer copies carats, HS code,
    stones and origin rows, so each output is paired with the first unpaired input that has the same ones."""
    left = list(inputs)
    ordered = []
    for o in outputs:
        key = (o.carats_centi, o.hs_code, o.stones, o.origins)
        match = next((i for i in left if (i.carats_centi, i.hs_code, i.stones, i.origins) == key), None)
        if match is None:
            return list(inputs)
        left.remove(match)
        ordered.append(match)
    return ordered + left


def export_document(actor: Actor, *, operator: int | None = None, start: dt.date | None = None,
                    end: dt.date | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """The custody events the actor reads (custody.read), oldest first, as one EPCIS 2.0 document; at most
    MAX_EVENTS of them, else a narrower range is asked for."""
    qs = selectors.events(services.readable(actor), operator=operator)
    if start is not None:
        qs = qs.filter(occurred_at__gte=dt.datetime.combine(start, dt.time(), dt.UTC))
    if end is not None:
        qs = qs.filter(occurred_at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC))
    if start is not None and end is not None and end < start:
        raise ValidationFailed(_("from must not be after to"), code="invalid_dates")
    events = list(qs[:MAX_EVENTS + 1])
    if len(events) > MAX_EVENTS:
        raise ValidationFailed(_("more than %(max)s custody events: ask for a narrower range (from, to) or one "
                                 "operator") % {"max": MAX_EVENTS}, code="too_many_events",
                               details={"max": MAX_EVENTS})
    return document(_facts(events), now or clock.now())


# --- import: read a document ------------------------------------------------------------------------

class EventError(ValidationFailed):
    """An event of an EPCIS document that cannot be read: names its index in eventList and the field."""

    def __init__(self, index: int, fieldname: str, message: str, *, code: str = "invalid_epcis",
                 rule: str | None = None) -> None:
        super().__init__(_("event %(index)s (%(field)s): %(message)s")
                         % {"index": index, "field": fieldname, "message": message}, code=code, rule=rule,
                         details={"event": index, "field": fieldname})


def loads(data: bytes | str) -> Any:
    """JSON with exact decimals (quantities are read to the hundredth, never through a float)."""
    try:
        return json.loads(data, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(_("the document is not JSON: %(error)s") % {"error": str(exc)},
                               code="invalid_epcis") from None


def event_list(doc: Any) -> list[Any]:
    """The events of an `EPCISDocument`, checked for shape."""
    if not isinstance(doc, Mapping) or doc.get("type") != "EPCISDocument":
        raise ValidationFailed(_("an EPCIS document is a JSON object of type EPCISDocument"), code="invalid_epcis",
                               details={"field": "type"})
    if str(doc.get("schemaVersion")) not in ("2.0", "2"):
        raise ValidationFailed(_("schemaVersion must be 2.0"), code="invalid_epcis",
                               details={"field": "schemaVersion"})
    body = doc.get("epcisBody")
    events = body.get("eventList") if isinstance(body, Mapping) else None
    if not isinstance(events, list):
        raise ValidationFailed(_("epcisBody.eventList must be a list of events"), code="invalid_epcis",
                               details={"field": "epcisBody.eventList"})
    if len(events) > MAX_EVENTS:
        raise ValidationFailed(_("at most %(max)s events per document") % {"max": MAX_EVENTS},
                               code="too_many_events", details={"max": MAX_EVENTS})
    return events


def _quantity(index: int, fieldname: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise EventError(index, fieldname, _("a quantity is a number of carats"), code="invalid_quantity")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise EventError(index, fieldname, _("a quantity is a number of carats"), code="invalid_quantity") from None
    try:
        exact = number.is_finite() and number > 0 and number == number.quantize(Decimal("0.01"))
    except InvalidOperation:  # too many digits to quantize
        exact = False
    if not exact:
        raise EventError(index, fieldname, _("a quantity is a positive number of carats with at most two "
                                             "decimals"), code="invalid_quantity", rule="INT-09")
    return f"{number:.2f}"


def _quantity_list(index: int, ev: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    """(parcel URI, carats) of a quantity list in carats."""
    items = ev.get(key)
    if not isinstance(items, list) or not items:
        raise EventError(index, key, _("a list of parcels with their quantities in carats is required"))
    out = []
    for n, item in enumerate(items):
        where = f"{key}[{n}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("epcClass"), str):
            raise EventError(index, where, _("each quantity names its parcel (epcClass)"))
        if item.get("uom") != CARAT:
            raise EventError(index, f"{where}.uom", _("quantities are in carats (uom %(uom)s)") % {"uom": CARAT},
                             code="invalid_quantity")
        out.append((item["epcClass"], _quantity(index, f"{where}.quantity", item.get("quantity"))))
    return out


def _kp_type(index: int, ev: Mapping[str, Any]) -> str:
    """The custody event type: `kpcs:eventType`, or read from the EPCIS type, action and disposition."""
    kind = ev.get("type")
    stated = ev.get("kpcs:eventType")
    if kind == "TransformationEvent":
        inputs = ev.get("inputQuantityList")
        guess = "split" if isinstance(inputs, list) and len(inputs) == 1 else "merge"
        allowed = {"split", "merge"}
    elif kind == "ObjectEvent":
        action = ev.get("action")
        guess = {"ADD": "production", "OBSERVE": "transfer"}.get(str(action), "")
        if action == "DELETE":
            guess = "seizure" if ev.get("disposition") == DISPOSITION_REMOVED["seizure"] else "loss"
        allowed = {"ADD": {"production"}, "OBSERVE": {"transfer"}, "DELETE": {"loss", "seizure"}}.get(
            str(action), set())
        if not allowed:
            raise EventError(index, "action", _("action must be ADD, OBSERVE or DELETE"))
    else:
        raise EventError(index, "type", _("only ObjectEvent and TransformationEvent are read (custody events)"),
                         code="unsupported_event")
    if stated is None:
        return guess
    if not isinstance(stated, str) or stated not in allowed:
        raise EventError(index, "kpcs:eventType", _("%(stated)s is not an event of type %(type)s")
                         % {"stated": repr(stated), "type": kind})
    return str(stated)


def _party(index: int, fieldname: str, value: Any) -> PartyRef:
    found = parse_urn(value, "operator")
    if found is None:
        raise EventError(index, fieldname, _("an operator is named urn:kpcs:operator:<participant>:<licence>"))
    return PartyRef(*found)


def _owning(index: int, ev: Mapping[str, Any], key: str, inner: str) -> Any:
    items = ev.get(key)
    for n, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, Mapping) and item.get("type") == "owning_party":
            return _party(index, f"{key}[{n}].{inner}", item.get(inner))
    raise EventError(index, key, _("the %(side)s owning party is required") % {"side": inner})


@dataclass(frozen=True)
class Step:
    """One event of a document as a custody request, with its parcels still as URIs."""

    index: int
    request: dict[str, Any]
    inputs: tuple[str, ...] = ()  # parcel URIs the event consumes (request "parcels")
    outputs: tuple[str, ...] = ()  # parcel URIs of what it makes, in the order the service makes them
    parties: Mapping[str, PartyRef] = field(default_factory=dict)  # request field -> operator
    site: tuple[str, str] | None = None
    values: tuple[str, ...] = ()  # a transfer's output values in US$, one per input (kpcs:outputs)
    event_id: str | None = None  # the document's eventID: the Idempotency-Key of the custody event


def _transfer_value(step: Step, parcels: list[int]) -> str | None:
    """A transfer's invoice value when its outputs' values differ from its inputs' (as when the original
    transfer gave one, divided by carats); None when each parcel kept its value."""
    if not step.values:
        return None
    try:
        wanted = [rules.to_centi(v, "value_usd") for v in step.values]
    except ValidationFailed as exc:
        raise EventError(step.index, "kpcs:outputs.valueUSD", exc.message, code="invalid_quantity") from None
    held = dict(Parcel.objects.filter(pk__in=parcels).values_list("pk", "usd_cents"))
    if [held.get(pk) for pk in parcels] == wanted:
        return None
    return rules.centi_text(sum(wanted))


def _outputs(index: int, ev: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    facts = ev.get("kpcs:outputs") or []
    if not isinstance(facts, list) or not all(isinstance(f, Mapping) for f in facts):
        raise EventError(index, "kpcs:outputs", _("kpcs:outputs is a list of parcels"))
    return facts


def _by_parcel(facts: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {f["parcel"]: f for f in facts if isinstance(f.get("parcel"), str)}


def _fact_value(index: int, n: int, fact: Mapping[str, Any], key: str) -> Any:
    value = fact.get(key)
    if value is None:
        raise EventError(index, f"kpcs:outputs[{n}].{key}", _("%(field)s is required") % {"field": key})
    return value


def _text_of(ev: Mapping[str, Any], key: str) -> str | None:
    value = ev.get(key)
    return value if isinstance(value, str) else None


def read_event(index: int, ev: Any) -> Step:
    """One EPCIS event as a custody request (pure): refused with its index and field when it cannot be one."""
    if not isinstance(ev, Mapping):
        raise EventError(index, "type", _("an event is a JSON object"))
    kind = _kp_type(index, ev)
    when = ev.get("eventTime")
    if not isinstance(when, str):
        raise EventError(index, "eventTime", _("eventTime is required"), code="invalid_date")
    request: dict[str, Any] = {"type": kind, "occurred_at": when}
    event_id = ev.get("eventID") if isinstance(ev.get("eventID"), str) else None
    facts = _outputs(index, ev)
    parties: dict[str, PartyRef] = {}
    if kind == "production":
        where = (ev.get("bizLocation") or ev.get("readPoint") or {})
        site = parse_urn(where.get("id") if isinstance(where, Mapping) else None, "site")
        if site is None:
            raise EventError(index, "bizLocation.id", _("production names its site: urn:kpcs:site:<participant>:"
                                                        "<name>"))
        lots = _quantity_list(index, ev, "quantityList")
        by_uri = _by_parcel(facts)
        produced = []
        for n, (uri, carats) in enumerate(lots):
            fact = by_uri.get(uri)
            if fact is None:
                raise EventError(index, f"quantityList[{n}]", _("kpcs:outputs gives no value and HS code for "
                                                                "this parcel"), code="invalid_quantity")
            lot = {"carats": carats, "value_usd": _fact_value(index, n, fact, "valueUSD"),
                   "hs_code": _fact_value(index, n, fact, "hsCode")}
            if fact.get("stones") is not None:
                lot["stones"] = fact["stones"]
            produced.append(lot)
        request["produced"] = produced
        if ev.get("kpcs:operator") is not None:
            parties["operator"] = _party(index, "kpcs:operator", ev["kpcs:operator"])
        return Step(index, request, outputs=tuple(uri for uri, _c in lots), parties=parties, site=site,
                    event_id=event_id)
    if kind == "transfer":
        parcels = _quantity_list(index, ev, "quantityList")
        parties["seller"] = _owning(index, ev, "sourceList", "source")
        parties["buyer"] = _owning(index, ev, "destinationList", "destination")
        for key, name in (("invoice", "kpcs:invoice"), ("warranty", "kpcs:warranty")):
            if _text_of(ev, name) is not None:
                request[key] = ev[name]
        order = [f.get("from") for f in facts]
        inputs = [uri for uri, _c in parcels]
        if facts and sorted(map(str, order)) == sorted(inputs) and len(facts) == len(inputs):
            inputs = [str(u) for u in order]
            values = tuple(str(f.get("valueUSD")) for f in facts)
        else:
            values = ()
        return Step(index, request, inputs=tuple(inputs), outputs=tuple(str(f.get("parcel")) for f in facts),
                    parties=parties, values=values, event_id=event_id)
    if kind in ("split", "merge"):
        inputs = [uri for uri, _c in _quantity_list(index, ev, "inputQuantityList")]
        outs = _quantity_list(index, ev, "outputQuantityList")
        by_uri = _by_parcel(facts)
        if kind == "split":
            pieces = []
            for uri, carats in outs:
                fact = by_uri.get(uri, {})
                piece: dict[str, Any] = {"carats": carats}
                for key, name in (("value_usd", "valueUSD"), ("hs_code", "hsCode"), ("stones", "stones")):
                    if fact.get(name) is not None:
                        piece[key] = fact[name]
                pieces.append(piece)
            request["into"] = pieces
        else:
            if len(outs) != 1:
                raise EventError(index, "outputQuantityList", _("a merge makes one parcel"))
            hs = by_uri.get(outs[0][0], {}).get("hsCode")
            if hs is not None:
                request["hs_code"] = hs
    else:
        inputs = [uri for uri, _c in _quantity_list(index, ev, "quantityList")]
        reason = _text_of(ev, "kpcs:reason")
        if reason is not None:
            request["reason"] = reason
        outs = []
    if ev.get("kpcs:operator") is not None:
        parties["operator"] = _party(index, "kpcs:operator", ev["kpcs:operator"])
    return Step(index, request, inputs=tuple(inputs), outputs=tuple(uri for uri, _c in outs), parties=parties,
                event_id=event_id)


def read_document(doc: Any) -> list[Step]:
    """Every event of a document as a custody request (pure), in the document's order."""
    steps = [read_event(n, ev) for n, ev in enumerate(event_list(doc))]
    seen: set[str] = set()
    for step in steps:
        if step.event_id is not None and step.event_id in seen:
            raise EventError(step.index, "eventID", _("the eventID %(id)s is named twice in this document")
                             % {"id": step.event_id})
        seen.add(step.event_id or "")
    return steps


# The request's fields as the document names them, for refusals.
FIELDS = {"occurred_at": "eventTime", "parcels": "quantityList", "site": "bizLocation.id", "seller": "sourceList",
          "buyer": "destinationList", "operator": "kpcs:operator", "produced": "quantityList",
          "into": "outputQuantityList", "invoice": "kpcs:invoice", "warranty": "kpcs:warranty",
          "reason": "kpcs:reason", "value_usd": "kpcs:outputs.valueUSD", "hs_code": "kpcs:outputs.hsCode",
          "carats": "quantity", "stones": "kpcs:outputs.stones"}


# --- import: record them ----------------------------------------------------------------------------

def _missing(step: Step, fieldname: str, message: str) -> NotFound:
    return NotFound(_("event %(index)s (%(field)s): %(message)s")
                    % {"index": step.index, "field": fieldname, "message": message},
                    details={"event": step.index, "field": fieldname})


def _operator_id(actor: Actor, step: Step, fieldname: str, party: PartyRef) -> int:
    """The operator of this node with that licence number in that participant (custody licences carry every
    registry licence number, INT-08); another participant's is the same 404 as a missing one."""
    found = Licence.objects.filter(participant_id=party.participant, number=party.licence).values_list(
        "operator_id", flat=True).first()
    if found is None or not actor.may("custody.record", party.participant):
        raise _missing(step, fieldname, _("no operator of %(participant)s holds licence %(licence)s here")
                       % {"participant": party.participant, "licence": repr(party.licence)})
    return int(found)


def _site_id(actor: Actor, step: Step) -> int:
    assert step.site is not None
    participant, name = step.site
    found = Site.objects.filter(participant_id=participant, name=name).values_list("pk", flat=True).first()
    if found is None or not actor.may("custody.record", participant):
        raise _missing(step, "bizLocation.id", _("no site %(name)s of %(participant)s here")
                       % {"name": repr(name), "participant": participant})
    return int(found)


def import_document(actor: Actor, doc: Any, *, now: dt.datetime | None = None) -> list[services.Recorded]:
    """Record a document's events in order through `services.record_event` (every rule applies: licences,
    holders, mass balance), all or nothing. A parcel is named by the URI an earlier event of the same document
    gave it; the first refusal names its event index and field, and nothing is kept.

    Each eventID is the custody event's Idempotency-Key (the caller's): importing the same document again
    answers the events first recorded and records nothing new."""
    registry.require(actor, "custody.record")
    steps = read_document(doc)
    made: dict[str, int] = {}
    recorded = []
    with transaction.atomic():
        for step in steps:
            request = dict(step.request)
            parcels = []
            for n, uri in enumerate(step.inputs):
                if uri not in made:
                    raise EventError(step.index, f"parcel[{n}]",
                                     _("%(parcel)s is not made by an earlier event of this document")
                                     % {"parcel": uri}, code="unknown_parcel")
                parcels.append(made[uri])
            if parcels:
                request["parcels"] = parcels
            if step.request["type"] == "transfer":
                value = _transfer_value(step, parcels)
                if value is not None:
                    request["value_usd"] = value
            for key, party in step.parties.items():
                request[key] = _operator_id(actor, step, FIELDS.get(key, key), party)
            if step.site is not None:
                request["site"] = _site_id(actor, step)
            try:
                done = services.record_event(actor, request, now=now, idempotency_key=step.event_id)
            except EventError:
                raise
            except (ValidationFailed, Conflict, NotFound, PermissionDenied) as exc:
                raise _at(step, exc) from None
            outs = done.outputs()
            if step.outputs and len(step.outputs) == len(outs):
                for uri, pk in zip(step.outputs, outs, strict=True):
                    if uri in made:
                        raise EventError(step.index, "kpcs:outputs", _("%(parcel)s is made twice")
                                         % {"parcel": uri})
                    made[uri] = pk
            recorded.append(done)
    return recorded


def _at(step: Step, exc: DomainError) -> DomainError:
    """The service's refusal, of the same kind (422, 404, 409), naming the event and its field."""
    details = exc.details if isinstance(exc.details, dict) else {}
    fieldname = str(details.get("field") or ("parcels" if "parcel" in details else "event"))
    fieldname = FIELDS.get(fieldname, fieldname)
    message = _("event %(index)s (%(field)s): %(message)s") % {"index": step.index, "field": fieldname,
                                                               "message": exc.message}
    return type(exc)(message, code=exc.code, rule=exc.rule,
                     details={**details, "event": step.index, "field": fieldname})
