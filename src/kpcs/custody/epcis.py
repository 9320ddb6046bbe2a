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

The mapping functions are pure; `export_document` reads the events the caller may read (custody.read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.custody import rules, selectors, services
from kpcs.custody.models import CustodyEvent, Parcel, ParcelOrigin
from kpcs.errors import ValidationFailed
from kpcs.registry.services import Actor

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
KPCS_NAMESPACE = "urn:kpcs:epcis:"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"kpcs": KPCS_NAMESPACE}]
CARAT = "CTM"  # UN/CEFACT Recommendation 20: metric carat
MAX_EVENTS = 10_000  # one document, export or import; narrow the range for more
DISPOSITION_REMOVED = {"loss": "urn:kpcs:disposition:lost", "seizure": "urn:kpcs:disposition:seized"}
BIZ_STEP = {"production": "commissioning", "transfer": "shipping", "split": "repackaging",
            "merge": "repackaging", "loss": "decommissioning", "seizure": "decommissioning"}


# --- identifiers ------------------------------------------------------------------------------------

def _urn(kind: str, participant: str, key: str | int) -> str:
    return f"urn:kpcs:{kind}:{quote(participant, safe='')}:{quote(str(key), safe='')}"


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
    else:  # loss, seizure
        out.update(type="ObjectEvent", action="DELETE", quantityList=_quantities(event.inputs),
                   disposition=DISPOSITION_REMOVED[event.type])
    out["kpcs:eventType"] = event.type
    out["kpcs:operator"] = operator
    if event.operator_licence:
        out["kpcs:licence"] = event.operator_licence
    for key, name in (("invoice", "kpcs:invoice"), ("warranty", "kpcs:warranty"), ("reason", "kpcs:reason")):
        if event.details.get(key):
            out[name] = event.details[key]
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
            tuple(inputs), tuple(outputs)))
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
