"""Statistics API: trade derived from certificates, reconciliation, production submissions, compliance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.decorators import decorate_view
from pydantic import BeforeValidator, ConfigDict, Field

from kpcs import clock, ratelimit
from kpcs.api import (
    AUTH,
    ERRORS,
    PUBLIC,
    TEXT_MAX_LENGTH,
    WHOLE,
    BodyIn,
    Day,
    DecimalText,
    Limit,
    Offset,
    Page,
    ParticipantCode,
    Period,
    actor_of,
    errors,
    page_bounds,
    paginate,
    permission,
    refused,
)
from kpcs.errors import ValidationFailed
from kpcs.registry import services as registry
from kpcs.statistics import rules, services

router = Router(tags=["statistics"])
Quantity = Annotated[DecimalText, refused("invalid_quantity")]


# Quantities travel as decimal strings with two places ("1250.40"); the services compute with Decimal.
Amount = Annotated[str, BeforeValidator(lambda v: f"{v:.2f}" if isinstance(v, Decimal) else v)]


def _period(text: str) -> rules.Period:
    try:
        return rules.parse_period(text)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_period") from None


class TradeRow(Schema):
    flow: str
    period: str
    partner: str
    origin: str
    hs_code: str
    carats: Amount | None
    usd: Amount | None
    certificates: int | None
    source: str


class FlowTotals(Schema):
    carats: Amount
    usd: Amount
    certificates: int


class TradeOut(Schema):
    participant: str
    period: str
    totals: dict[str, FlowTotals]
    rows: list[TradeRow]


@router.get("/trade", response={200: TradeOut, **ERRORS}, auth=AUTH, openapi_extra=permission("statistics.read"),
            summary="Exports and imports of a participant by partner, origin and HS code (STAT-01, STAT-02)")
def trade(request: HttpRequest, participant: ParticipantCode, period: Period) -> dict[str, Any]:
    code = _readable(request, participant)
    return services.trade_statistics(actor_of(request), _period(period), code)


def _readable(request: HttpRequest, participant: str) -> str:
    """Permission first, then existence: a caller without access learns nothing from a 404 or a 422."""
    code = participant.upper()
    registry.require(actor_of(request), "statistics.read", code)
    registry.get_participant(code)
    return code


class ReconciliationRow(Schema):
    number: str
    status: str
    exporting: str
    importing: str
    issued_on: dt.date
    declared_carats: Amount | None
    declared_usd: Amount | None
    declared_parcels: int
    confirmed_carats: Amount | None
    confirmed_parcels: int | None
    received_on: dt.date | None
    carats_difference: Amount | None


@router.get("/reconciliation", response={200: list[ReconciliationRow], **ERRORS}, auth=AUTH,
            openapi_extra=permission("statistics.read"),
            summary="Per certificate: carats and value declared by the exporter beside those confirmed")
def reconciliation(request: HttpRequest, participant: ParticipantCode, period: Period) -> list[dict[str, Any]]:
    code = _readable(request, participant)
    return services.reconciliation(actor_of(request), _period(period), code)


class ProductionIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"participant": "BW", "period": "2025-H1", "carats": "11000000.00", "usd": "1650000000.00"}]})

    participant: ParticipantCode
    period: Period
    carats: Quantity | None = None
    usd: Quantity | None = None
    industrial_carats: Quantity | None = None
    artisanal_carats: Quantity | None = None


class ProductionOut(Schema):
    period: str
    carats: Amount | None
    usd: Amount | None
    industrial_carats: Amount | None
    artisanal_carats: Amount | None
    source: str
    revision: int
    current: bool
    by: str
    at: dt.datetime


@router.post("/production", response={201: ProductionOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("statistics.submit"),
             summary="Submit half-yearly production (STAT-03); a resubmission is a new revision")
def submit_production(request: HttpRequest, body: ProductionIn) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    code = body.participant.upper()
    services.submit_production(actor, participant=code, period=body.period, carats=body.carats, usd=body.usd,
                               industrial_carats=body.industrial_carats, artisanal_carats=body.artisanal_carats)
    return Status(201, _latest(actor, code, body.period))


def _latest(actor: Any, code: str, period: str) -> dict[str, Any]:
    rows = [r for r in services.production_history(actor, code) if r["period"] == period and r["source"] == "submitted"]
    return max(rows, key=lambda r: r["revision"])


@router.get("/production", response={200: list[ProductionOut], **ERRORS}, auth=AUTH,
            openapi_extra=permission("statistics.read"),
            summary="A participant's production figures with every revision")
def production(request: HttpRequest, participant: ParticipantCode) -> list[dict[str, Any]]:
    return services.production_history(actor_of(request), _readable(request, participant))


class ObligationOut(Schema):
    kind: str
    period: str
    due_on: dt.date
    status: str
    received_on: dt.date | None


@router.get("/compliance", response={200: list[ObligationOut], **ERRORS}, auth=AUTH,
            openapi_extra=permission("statistics.read"),
            summary="Reporting obligations of a participant: due dates and status (received, late, missing)")
def compliance(request: HttpRequest, participant: ParticipantCode, as_of: Day | None = None) -> list[dict[str, Any]]:
    code = participant.upper()
    registry.require(actor_of(request), "statistics.read", code)
    registry.get_participant(code)
    return services.obligations(code, as_of or clock.today())


class NonReportingOut(Schema):
    participant: str
    name: str
    missing: list[str]


@router.get("/non-reporting", response={200: list[NonReportingOut], **errors(400)}, auth=None,
            openapi_extra=permission(PUBLIC), summary="Public list of participants that have not reported (STAT-10)")
@decorate_view(ratelimit.public)
def non_reporting(request: HttpRequest, as_of: Day | None = None) -> list[dict[str, Any]]:
    return [{**r, "name": services.participant_name(r["participant"])}
            for r in services.non_reporting(as_of or clock.today())]


class AnnualReportIn(BodyIn):
    # STAT-11: no receipt date: the node's clock at submission is the receipt (a date sent is refused, 422)
    model_config = ConfigDict(json_schema_extra={"examples": [{"participant": "BW", "year": 2025}]},
                              extra="forbid")

    participant: ParticipantCode
    # STAT-11: from 2000 to the current year; a future year is refused by the service (invalid_year).
    year: Annotated[int, Field(ge=2000, le=2100), WHOLE, refused("invalid_year")]
    note: Annotated[str, Field(max_length=TEXT_MAX_LENGTH)] = ""


class AnnualReportOut(Schema):
    participant: str
    year: int
    revision: int
    received_on: dt.date
    first_received_on: dt.date


@router.post("/annual-reports", response={201: AnnualReportOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("statistics.submit"),
             summary="Record a participant's annual report (STAT-11, due 31 March), received today on the "
                     "node's clock; a resubmission is a new revision and the first receipt counts")
def annual_report(request: HttpRequest, body: AnnualReportIn) -> Status[dict[str, Any]]:
    registry.require(actor_of(request), "statistics.submit", body.participant.upper())
    if not 2000 <= body.year <= clock.today().year:
        raise ValidationFailed(_("year must be a past or current year"), code="invalid_year")
    r = services.record_annual_report(actor_of(request), body.participant.upper(), body.year, note=body.note)
    first = services.annual_reports()[(r.participant, r.year)]
    return Status(201, {"participant": r.participant, "year": r.year, "revision": r.revision,
                        "received_on": r.received_on, "first_received_on": first})


class CustomsRow(Schema):
    year: int
    participant: str
    iso2: str
    reporter: str
    flow: str
    hs_code: str
    usd: Amount
    source: str
    revision: int


class CustomsPage(Page):
    items: list[CustomsRow]


def _customs(f: Any) -> dict[str, Any]:
    return {"year": f.year, "participant": f.participant, "iso2": f.iso2, "reporter": f.reporter, "flow": f.flow,
            "hs_code": f.hs_code, "usd": Decimal(f.usd_cents).scaleb(-2),
            "source": f"{f.batch.filename or '-'} (batch {f.batch_id}, row {f.row or '-'})", "revision": f.revision}


@router.get("/customs", response={200: CustomsPage, **ERRORS}, auth=AUTH, openapi_extra=permission("statistics.read"),
            summary="Customs HS 7102 values loaded for the cross-check of KP figures (EU member states count for "
                    "the EU), by participant and year")
def customs(request: HttpRequest, participant: ParticipantCode | None = None,
            year: Annotated[int, Field(ge=1990, le=2100)] | None = None, limit: Limit = 100,
            offset: Offset = 0) -> dict[str, Any]:
    code = _readable(request, participant) if participant else None
    limit, offset = page_bounds(limit, offset)
    qs = services.customs_figures(actor_of(request), code, year)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, _customs)
