"""Custody API: licences and sites, custody events (idempotent), parcels, traces, the stock ledger."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Body, Header, Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from kpcs.api import (
    AUTH,
    ERRORS,
    NOT_BLANK,
    TEXT_MAX_LENGTH,
    WHOLE,
    BodyIn,
    Day,
    DecimalText,
    HsCode,
    Id,
    Limit,
    Offset,
    Page,
    actor_of,
    page_bounds,
    paginate,
    permission,
    refused,
)
from kpcs.custody import epcis, rules, selectors, services
from kpcs.errors import ValidationFailed

router = Router(tags=["custody"])

Quantity = Annotated[DecimalText, refused("invalid_quantity", "INT-09")]
Text = Annotated[str, Field(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=NOT_BLANK)]
Stones = Annotated[int, Field(ge=1, le=10**9), WHOLE]
IdIn = Annotated[int, Field(ge=1, le=2**63 - 1), WHOLE]
ParcelIds = Annotated[list[IdIn], Field(min_length=1, max_length=rules.MAX_PARCELS)]
# An ISO 8601 date and time with its UTC offset; the service reads it (rules.parse_event).
DateTimeText = Annotated[str, Field(max_length=40, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:"
                                                           r"[0-9]{2})$",
                                    description="ISO 8601 with offset, e.g. 2026-01-31T10:00:00Z; default now")]
Number = Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK), refused("number_required", "INT-08")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK), refused("invalid_site")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", default=None,
                                              max_length=services.IDEMPOTENCY_KEY_MAX,
                                              description="a retry with the same key and body applies once and "
                                                          "answers as the first time")]


# --- licences and sites ------------------------------------------------------------------------------

class LicenceIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"operator": 12, "kind": "digging",
                                                               "number": "BW-DIG-0042", "area": "Lerala river, lot 7",
                                                               "valid_from": "2026-01-01",
                                                               "valid_until": "2026-12-31"}]})

    operator: IdIn
    kind: Literal[rules.LICENCE_KINDS]  # type: ignore[valid-type]
    number: Number
    area: Annotated[str, Field(max_length=TEXT_MAX_LENGTH)] = ""
    valid_from: Day
    valid_until: Day | None = None


class LicenceOut(Schema):
    id: int
    operator: int
    participant: str
    kind: str
    number: str
    area: str
    valid_from: dt.date
    valid_until: dt.date | None
    recorded_at: dt.datetime


class LicencePage(Page):
    items: list[LicenceOut]


class LicenceFilter(Schema):
    operator: Id | None = None
    limit: Limit = 100
    offset: Offset = 0


@router.get("/custody/licences", response={200: LicencePage, **ERRORS}, auth=AUTH,
            openapi_extra=permission("custody.read"), summary="Licences of operators (INT-06..08), renewals kept")
def list_licences(request: HttpRequest, filters: Query[LicenceFilter]) -> dict[str, Any]:
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = selectors.licences(services.readable(actor_of(request)), operator=filters.operator)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, selectors.licence_view)


@router.post("/custody/licences", response={201: LicenceOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("custody.register"),
             summary="Register a licence of an operator; a renewal is a new licence (INT-06..08)")
def create_licence(request: HttpRequest, body: LicenceIn) -> Status[dict[str, Any]]:
    lic = services.register_licence(actor_of(request), operator=body.operator, kind=body.kind, number=body.number,
                                    area=body.area, valid_from=body.valid_from, valid_until=body.valid_until)
    return Status(201, selectors.licence_view(lic))


class SiteIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Lerala river", "kind": "alluvial_area",
                                                               "region": "Central", "holder": 12}]})

    name: Name
    kind: Literal[rules.SITE_KINDS]  # type: ignore[valid-type]
    region: Name
    holder: IdIn


class SiteOut(Schema):
    id: int
    participant: str
    name: str
    kind: str
    region: str
    holder: int
    recorded_at: dt.datetime


class SitePage(Page):
    items: list[SiteOut]


class PageFilter(Schema):
    limit: Limit = 100
    offset: Offset = 0


@router.get("/custody/sites", response={200: SitePage, **ERRORS}, auth=AUTH, openapi_extra=permission("custody.read"),
            summary="Production sites: industrial mines and alluvial areas (INT-06, INT-07)")
def list_sites(request: HttpRequest, filters: Query[PageFilter]) -> dict[str, Any]:
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = selectors.sites(services.readable(actor_of(request)))
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, selectors.site_view)


@router.post("/custody/sites", response={201: SiteOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("custody.register"), summary="Register a production site and its holder")
def create_site(request: HttpRequest, body: SiteIn) -> Status[dict[str, Any]]:
    site = services.register_site(actor_of(request), name=body.name, kind=body.kind, region=body.region,
                                  holder=body.holder)
    return Status(201, selectors.site_view(site))


# --- events ------------------------------------------------------------------------------------------

class NewParcelIn(BodyIn):
    carats: Quantity
    value_usd: Quantity | None = Field(None, description="required for production; for a split, give it for every "
                                                          "piece (adding up to the parcel's) or for none")
    hs_code: HsCode | None = Field(None, description="required for production; a split keeps the parcel's")
    stones: Stones | None = None


class EventIn(BodyIn):
    """One custody event; which fields count depends on `type`:

    - production: `site`, `produced` (the site's holder, licensed to mine or dig, INT-06/07);
    - transfer: `parcels`, `seller`, `buyer`, `invoice`, `warranty` (INT-08, INT-11), optional `value_usd`;
    - split: `parcels` (one), `into`; merge: `parcels` (two or more), `hs_code` when they differ;
    - loss, seizure: `parcels`, `reason`.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"type": "production", "site": 3, "occurred_at": "2026-01-31T10:00:00Z",
         "produced": [{"carats": "120.50", "value_usd": "15000.00", "hs_code": "7102.31", "stones": 40}]},
        {"type": "transfer", "parcels": [17], "seller": 12, "buyer": 14, "invoice": "INV-2026-0042",
         "warranty": "The diamonds herein invoiced have been purchased from legitimate sources not involved in "
                     "funding conflict… The seller hereby guarantees that these diamonds are conflict free…"}]})

    type: Literal[rules.EVENT_TYPES]  # type: ignore[valid-type]
    occurred_at: DateTimeText | None = None
    site: IdIn | None = None
    operator: IdIn | None = Field(None, description="the producer or holder, when given: checked, never chosen")
    seller: IdIn | None = None
    buyer: IdIn | None = None
    parcels: ParcelIds | None = Field(None, description="the parcels the event consumes")
    produced: Annotated[list[NewParcelIn], Field(min_length=1, max_length=rules.MAX_PARCELS)] | None = None
    into: Annotated[list[NewParcelIn], Field(min_length=2, max_length=rules.MAX_PARCELS)] | None = None
    invoice: Text | None = None
    warranty: Text | None = Field(None, description="the WDC System of Warranties statement on the invoice (INT-11)")
    value_usd: Quantity | None = Field(None, description="a transfer's invoice value, divided over its parcels by "
                                                         "carats; default: each parcel keeps its value")
    carats: Quantity | None = Field(None, description="a transfer of part of one parcel: the part is split off "
                                                      "first (a split event) and transferred")
    hs_code: HsCode | None = None
    reason: Text | None = None


class OperatorRef(Schema):
    id: int
    name: str
    participant: str


class LicenceRef(Schema):
    id: int
    kind: str
    number: str
    valid_from: dt.date
    valid_until: dt.date | None


class SiteRef(Schema):
    id: int
    name: str
    kind: str
    region: str
    participant: str


class InputOut(Schema):
    id: int
    carats: str


class OutputOut(Schema):
    id: int
    holder: int
    carats: str
    value_usd: str
    hs_code: str
    stones: int | None


class EventOut(Schema):
    id: int
    type: str
    participant: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    recorded_by: str
    operator: OperatorRef
    operator_licence: LicenceRef | None
    counterparty: OperatorRef | None
    counterparty_licence: LicenceRef | None
    site: SiteRef | None
    details: dict[str, Any]
    inputs: list[InputOut]
    outputs: list[OutputOut]


class EventPage(Page):
    items: list[EventOut]


class EventFilter(Schema):
    operator: Id | None = None
    parcel: Id | None = None
    site: Id | None = None
    limit: Limit = 50
    offset: Offset = 0


@router.post("/custody/events", response={201: EventOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("custody.record"),
             summary="Record one custody event; with an Idempotency-Key a retry applies once (INT-08, INT-09)")
def record_event(request: HttpRequest, body: EventIn, response: HttpResponse,
                 idempotency_key: IdempotencyKey = None) -> Status[dict[str, Any]]:
    done = services.record_event(actor_of(request), body.model_dump(mode="json", exclude_none=True),
                                 idempotency_key=idempotency_key)
    if done.replayed:  # the first answer again; nothing was applied now
        response["Idempotent-Replayed"] = "true"
    return Status(201, selectors.event_view(done.event))


@router.get("/custody/events", response={200: EventPage, **ERRORS}, auth=AUTH,
            openapi_extra=permission("custody.read"),
            summary="Custody events, oldest first; filter by operator, parcel or site")
def list_events(request: HttpRequest, filters: Query[EventFilter]) -> dict[str, Any]:
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = selectors.events(services.readable(actor_of(request)), operator=filters.operator, parcel=filters.parcel,
                          site=filters.site)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, selectors.event_view)


@router.get("/custody/events/{event_id}", response={200: EventOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("custody.read"), summary="One custody event")
def get_event(request: HttpRequest, event_id: Id) -> dict[str, Any]:
    return selectors.event_view(services.get_event(actor_of(request), event_id))


# --- parcels and traces ------------------------------------------------------------------------------

class ParcelOut(Schema):
    id: int
    holder: OperatorRef
    participant: str
    carats: str
    value_usd: str
    hs_code: str
    stones: int | None
    status: str
    created_by: int
    consumed_by: int | None


class OriginOut(Schema):
    country: str
    site: SiteRef | None
    carats: str


class ParcelDetailOut(ParcelOut):
    origins: list[OriginOut]


class TraceOut(Schema):
    parcel: ParcelOut
    origins: list[OriginOut] = Field(description="carat shares per country and site, adding up to the parcel's")
    path: list[EventOut] = Field(description="every event back to production, newest first")


class ParcelPage(Page):
    items: list[ParcelOut]


class ParcelFilter(Schema):
    holder: Id | None = None
    status: Literal[rules.PARCEL_STATUSES] | None = None  # type: ignore[valid-type]
    site: Id | None = Field(None, description="parcels with a share from this site")
    limit: Limit = 100
    offset: Offset = 0


@router.get("/parcels", response={200: ParcelPage, **ERRORS}, auth=AUTH, openapi_extra=permission("custody.read"),
            summary="Parcels, e.g. what an operator holds now (holder=…&status=held)")
def list_parcels(request: HttpRequest, filters: Query[ParcelFilter]) -> dict[str, Any]:
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = selectors.parcels(services.readable(actor_of(request)), holder=filters.holder, status=filters.status,
                           site=filters.site)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, selectors.parcel_view)


@router.get("/parcels/{parcel_id}", response={200: ParcelDetailOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("custody.read"), summary="One parcel with its origin shares")
def get_parcel(request: HttpRequest, parcel_id: Id) -> dict[str, Any]:
    p = services.get_parcel(actor_of(request), parcel_id)
    return {**selectors.parcel_view(p), "origins": selectors.origins(p.pk)}


@router.get("/parcels/{parcel_id}/trace", response={200: TraceOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("custody.read"),
            summary="Back from a parcel to its sites: origin shares and every event, operator and licence on the way")
def trace_parcel(request: HttpRequest, parcel_id: Id) -> dict[str, Any]:
    return services.trace(actor_of(request), parcel_id)


class HolderShare(Schema):
    operator: OperatorRef
    carats: str


class HeldParcel(Schema):
    parcel: int
    holder: OperatorRef
    carats: str = Field(description="the carats of this parcel that came from the site")
    parcel_carats: str


class SiteTraceOut(Schema):
    site: SiteRef
    produced: str
    held: str
    holders: list[HolderShare]
    removed: dict[str, str] = Field(description="carats gone by loss or seizure")
    parcels: list[HeldParcel]


@router.get("/custody/sites/{site_id}/trace", response={200: SiteTraceOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("custody.read"),
            summary="Forward from a site: what it produced and who holds it now")
def trace_site(request: HttpRequest, site_id: Id) -> dict[str, Any]:
    return services.site_trace(actor_of(request), site_id)


# --- the stock ledger ---------------------------------------------------------------------------------

class LedgerQuery(Schema):
    start: Day = Field(alias="from", description="first day")
    end: Day = Field(alias="to", description="last day (inclusive)")


class LedgerDayOut(Schema):
    day: dt.date
    opening: str
    in_: dict[str, str] = Field(alias="in")
    out: dict[str, str]
    total_in: str
    total_out: str
    closing: str


class LedgerOut(Schema):
    operator: OperatorRef
    from_: dt.date = Field(alias="from")
    to: dt.date
    opening: str
    in_: dict[str, str] = Field(alias="in", description="carats in, by event type")
    out: dict[str, str] = Field(description="carats out, by event type")
    total_in: str
    total_out: str
    closing: str = Field(description="opening + in − out")
    opening_value_usd: str
    closing_value_usd: str
    stock: str = Field(description="what the operator's parcels say it held at the end of the last day")
    balanced: bool = Field(description="closing equals stock (INT-09)")
    days: list[LedgerDayOut]


MAX_LEDGER_DAYS = 3660


@router.get("/custody/operators/{operator_id}/ledger", response={200: LedgerOut, **ERRORS}, auth=AUTH,
            by_alias=True, openapi_extra=permission("custody.read"),
            summary="An operator's stock book: opening + in − out = closing, by day (INT-08, INT-09)")
def operator_ledger(request: HttpRequest, operator_id: Id, query: Query[LedgerQuery]) -> dict[str, Any]:
    if query.end < query.start or (query.end - query.start).days > MAX_LEDGER_DAYS:
        raise ValidationFailed(_("from must not be after to, and a ledger covers at most %(days)s days")
                               % {"days": MAX_LEDGER_DAYS}, code="invalid_dates")
    return services.ledger(actor_of(request), operator_id, query.start, query.end)


# --- EPCIS 2.0 (issue 9 item 6) ----------------------------------------------------------------------

class EpcisQuery(Schema):
    operator: Id | None = Field(None, description="events where this operator sells, buys, produces or holds")
    start: Day | None = Field(None, alias="from", description="first day (UTC)")
    end: Day | None = Field(None, alias="to", description="last day (UTC, inclusive)")


class EpcisImportOut(Schema):
    recorded: int = Field(description="events recorded now")
    replayed: int = Field(description="events of this document recorded before (same eventID and content)")
    events: list[int] = Field(description="the custody events recorded, in the document's order")


@router.get("/custody/epcis", response={200: dict[str, Any], **ERRORS}, auth=AUTH,
            openapi_extra=permission("custody.read"),
            summary="Custody events as one GS1 EPCIS 2.0 JSON-LD document (at most 10,000: narrow with from/to)")
def epcis_export(request: HttpRequest, query: Query[EpcisQuery]) -> dict[str, Any]:
    return epcis.export_document(actor_of(request), operator=query.operator, start=query.start, end=query.end)


@router.post("/custody/epcis", response={201: EpcisImportOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("custody.record"),
             summary="Record the custody events of a GS1 EPCIS 2.0 document, all or nothing (INT-06..INT-11)")
def epcis_import(request: HttpRequest, document: Body[dict[str, Any]]) -> Status[dict[str, Any]]:
    done = epcis.import_document(actor_of(request), epcis.loads(request.body))
    return Status(201, {"recorded": sum(not d.replayed for d in done), "replayed": sum(d.replayed for d in done),
                        "events": [d.event.pk for d in done]})
