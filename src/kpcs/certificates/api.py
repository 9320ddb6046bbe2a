"""Certificate API: issue, read, confirm, reject, cancel, and public verification."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Query, Router, Schema, Status
from ninja.decorators import decorate_view
from pydantic import ConfigDict, Field

from kpcs import ratelimit
from kpcs.api import (
    AUTH,
    ERRORS,
    NOT_BLANK,
    PUBLIC,
    TEXT_MAX_LENGTH,
    WHOLE,
    BodyIn,
    Day,
    DecimalText,
    HsCode,
    Limit,
    Offset,
    Page,
    ParticipantCode,
    actor_of,
    errors,
    page_bounds,
    paginate,
    permission,
    refused,
)
from kpcs.certificates import services

router = Router(tags=["certificates"])

# What certificates/rules.py refuses on a value alone, declared, and answered with the same code and rule.
Quantity = Annotated[DecimalText, refused("invalid_quantity", "CERT-02")]
Parcels = Annotated[int, Field(ge=1, le=1_000_000), WHOLE, refused("invalid_quantity", "CERT-02")]
# CERT-10: a country of origin (ISO 3166-1 alpha-2) or "mixed".
Origin = Annotated[str, Field(pattern=r"^([A-Za-z]{2}|[Mm][Ii][Xx][Ee][Dd])$"), refused("invalid_origin", "CERT-10")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]
# CERT-02 item 10: importer identified by a name (at most 200 characters) and an address (at most 500).
ImporterName = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK),
                         refused("invalid_importer", "CERT-02")]
ImporterAddress = Annotated[str, Field(min_length=1, max_length=500, pattern=NOT_BLANK),
                            refused("invalid_importer", "CERT-02")]
Licence = Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK), refused("invalid_exporter", "INT-08")]
Reason = Annotated[str, Field(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=NOT_BLANK),
                   refused("reason_required")]


class PartyIn(BodyIn):
    name: ImporterName
    address: ImporterAddress


class ExporterIn(BodyIn):
    licence: Licence


class LineIn(BodyIn):
    hs_code: HsCode
    carats: Quantity
    value_usd: Quantity
    parcels: Parcels


class TotalsIn(BodyIn):
    carats: Quantity | None = None
    value_usd: Quantity | None = None
    parcels: Parcels | None = None


ParcelId = Annotated[int, Field(ge=1, le=2**62)]


class CertificateIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "importing_participant": "EU", "exporter": {"licence": "BW-EXP-0001"},
        "importer": {"name": "Y BV", "address": "Hoveniersstraat 22, Antwerp"}, "origin": "BW",
        "lines": [{"hs_code": "7102.31", "carats": "1250.40", "value_usd": "1875600.00", "parcels": 3}]}]})

    importing_participant: ParticipantCode
    exporter: ExporterIn
    importer: PartyIn
    # may be left out, never null (the empty default is the service's "not given"): the document keeps the limits
    origin: Origin = Field("", description="required unless the certificate is issued from parcels")
    origin_countries: Annotated[list[CountryCode], Field(max_length=250)] | None = None
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=100), refused("no_lines", "CERT-02")] = Field(
        [], description="required unless the certificate is issued from parcels")
    parcels: Annotated[list[ParcelId], Field(min_length=1, max_length=1000)] | None = Field(
        None, description="parcels in custody held by the exporter (CERT-10, EXP-06): required when the exporting "
                          "participant runs custody control; lines and origin are then taken from them")
    totals: TotalsIn | None = None
    expires_on: Day | None = None
    type: Literal["standard", "technical"] = "standard"
    exporting_participant: ParticipantCode | None = None


class LineOut(Schema):
    hs_code: str
    carats: str
    value_usd: str
    parcels: int


class CertificateOriginOut(Schema):
    country: str
    carats: str


class TotalsOut(Schema):
    carats: str
    value_usd: str
    parcels: int


class ConfirmationOut(Schema):
    received_on: dt.date
    parcels: int
    carats: str
    seals_intact: bool
    differences: dict[str, Any]
    authority: str
    confirmed_by: str
    confirmed_at: dt.datetime


class RejectionOut(Schema):
    kind: str
    declared: dict[str, Any]
    found: dict[str, Any]
    reason: str
    authority: str
    recorded_by: str
    recorded_at: dt.datetime


class CancellationOut(Schema):
    reason: str
    cancelled_by: str
    cancelled_at: dt.datetime


class CertificateOut(Schema):
    number: str
    type: str
    status: str
    exporting_participant: str
    importing_participant: str
    issuing_authority: str
    issued_on: dt.date
    issued_at: dt.datetime
    expires_on: dt.date
    exporter: dict[str, Any]
    importer: dict[str, Any]
    origin: str
    origin_countries: list[str]
    origins: list[CertificateOriginOut] = Field(
        description="each country's carats, for a certificate issued from custody (CERT-10); empty otherwise")
    from_custody: bool
    lines: list[LineOut]
    totals: TotalsOut
    awaiting_confirmation: bool
    overdue: bool
    confirmation_due_on: dt.date
    kid: str
    jws: str
    verification_code: str
    qr: str | None = Field(description="the signed certificate in the QR code's compact form (KP1: + base45 of "
                                       "zlib of a COSE_Sign1, same key as the JWS); null for certificates issued "
                                       "before it existed")
    signer_revoked: bool
    confirmation: ConfirmationOut | None
    rejection: RejectionOut | None
    cancellation: CancellationOut | None


class CertificatePage(Page):
    items: list[CertificateOut]


class CertificateFilter(Schema):
    status: Literal["issued", "awaiting_confirmation", "confirmed", "rejected", "cancelled", "expired"] | None = None
    side: Literal["export", "import"] | None = None
    participant: ParticipantCode | None = None
    overdue: bool | None = None
    limit: Limit = 50
    offset: Offset = 0


@router.post("", response={201: CertificateOut, **ERRORS}, auth=AUTH, openapi_extra=permission("certificate.issue"),
             summary="Issue, validate and sign a KP certificate (CERT-02, EXP-01)")
def issue(request: HttpRequest, body: CertificateIn) -> Status[dict[str, Any]]:
    cert = services.issue(actor_of(request), body.model_dump(mode="json", exclude_none=True))
    return Status(201, services.to_dict(cert))


@router.get("", response={200: CertificatePage, **ERRORS}, auth=AUTH, openapi_extra=permission("certificate.read"),
            summary="Certificates of the caller's participant(s); filter overdue=true for missing confirmations")
def list_certificates(request: HttpRequest, filters: Query[CertificateFilter]) -> dict[str, Any]:
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = services.search(actor_of(request), status=filters.status, side=filters.side,
                         participant=filters.participant.upper() if filters.participant else None,
                         overdue=filters.overdue)
    qs = qs.select_related("confirmation", "discrepancy", "cancellation")
    qs = qs.prefetch_related("lines", "origins")
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, services.to_dict)


@router.get("/{number}", response={200: CertificateOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("certificate.read"), summary="One certificate with its commercial details")
def get_certificate(request: HttpRequest, number: str) -> dict[str, Any]:
    return services.to_dict(services.get(actor_of(request), number))


class TraceSiteOut(Schema):
    id: int
    name: str
    kind: str
    region: str
    participant: str


class TraceOriginOut(Schema):
    country: str
    site: TraceSiteOut | None
    carats: str


class TraceStepOut(Schema):
    id: int
    type: str
    participant: str
    occurred_at: dt.datetime
    withheld: bool = Field(False, description="another participant's event: only its type and time are shown")
    recorded_at: dt.datetime | None = None
    recorded_by: str | None = None
    operator: dict[str, Any] | None = None
    operator_licence: dict[str, Any] | None = None
    counterparty: dict[str, Any] | None = None
    counterparty_licence: dict[str, Any] | None = None
    site: TraceSiteOut | None = None
    details: dict[str, Any] | None = None
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []


class CertificateTraceOut(Schema):
    certificate: str
    from_custody: bool
    carats: str
    parcels: list[dict[str, Any]] = Field(description="the parcels exported under it")
    origins: list[TraceOriginOut] = Field(description="carats per country and site, adding up to the "
                                                      "certificate's (CERT-10)")
    path: list[TraceStepOut] = Field(description="every custody event back to the sites, newest first")


@router.get("/{number}/trace", response={200: CertificateTraceOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("certificate.read"),
            summary="Where a certificate's goods were mined: its parcels and their origins (CERT-10)")
def trace_certificate(request: HttpRequest, number: str) -> dict[str, Any]:
    return services.trace(actor_of(request), number)


class ParticipantState(Schema):
    code: str
    status: str


class MeasureInForce(Schema):
    kind: str = Field(description="import_ban_by_origin, compliant_zones_only or enhanced_vigilance")
    participant: str = Field(description="the participant the measure names")
    origin: bool = Field(description="that participant is a country of origin of the goods")
    zones: list[str] = Field(description="compliant_zones_only: the compliant zones in force on the issue date "
                                         "(enforced when custody lands)")
    from_: dt.date = Field(alias="from", description="first day in force")
    to: dt.date | None = Field(description="first day no longer in force; null when open")


class VerificationOut(Schema):
    number: str
    genuine: bool
    usable: bool
    status: str
    signature_valid: bool
    kid: str
    key_valid_at_signing: bool
    issuing_authority: str
    exporting_participant: ParticipantState
    importing_participant: ParticipantState
    issued_on: dt.date | None
    expires_on: dt.date | None
    reasons: list[str]
    measures: list[MeasureInForce] = Field(description="measures in force on the issue date for the exporting "
                                                       "participant and the countries of origin")
    vigilance: bool = Field(description="enhanced vigilance applies to shipments from the exporting participant "
                                        "on the issue date: the importing authority checks more closely")


# As printed (XXXXX-XXXXX) or as typed: ten Crockford base32 characters, any case, spaces and dashes anywhere.
VerificationCode = Annotated[str, Query(description="the verification code printed on the certificate (XXXXX-XXXXX); "
                                                    "without it nothing is said"),
                             Field(max_length=40, pattern=r"^[\s-]*([0-9A-TV-Za-tv-z][\s-]*){10}$"),
                             refused("invalid_verification_code")]


@router.get("/{number}/verification", response={200: VerificationOut, **errors(404)}, auth=None,
            openapi_extra=permission(PUBLIC),
            summary="Public check for whoever holds the certificate: genuine and usable? Needs the verification "
                    "code printed beside the number; no exporter, importer or value is disclosed")
@decorate_view(ratelimit.public)
def verification(request: HttpRequest, number: str, code: VerificationCode | None = None) -> HttpResponse:
    # The hottest public route (BRIEF §6: 2,000/s): the answer is built by the service in the documented shape
    # (tests check it against VerificationOut), so it is written out directly rather than validated again.
    return JsonResponse(services.public_verification(number, code), encoder=DjangoJSONEncoder)


verification_router = Router(tags=["certificates"])


class PresentedIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"jws": "eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoi…"}]})

    jws: str = Field(min_length=1, max_length=100_000,
                     description="the whole signed certificate as a scanner reads it: the JWS compact "
                                 "serialisation, or the QR code's text (KP1:…, at most 8,192 characters)")


@verification_router.post("", response={200: VerificationOut, **errors(400)}, auth=None, by_alias=True,
                          openapi_extra=permission(PUBLIC),
                          summary="Public check of a whole signed certificate: genuine (against this node's keys) "
                                  "and usable? Its status is given only when the signature is genuine")
@decorate_view(ratelimit.public)
def verify_presented(request: HttpRequest, body: PresentedIn) -> dict[str, Any]:
    return services.verify_presented(body.jws)


class ConfirmationIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"received_on": "2026-01-15", "parcels": 3, "carats": "1250.40", "seals_intact": True}]})

    received_on: Day
    parcels: Parcels
    carats: Quantity
    seals_intact: bool


class FoundIn(BodyIn):
    """IMP-08: the figures the importing authority found, beside those declared."""

    carats: Annotated[DecimalText, refused("invalid_discrepancy", "IMP-08")] | None = None
    value_usd: Annotated[DecimalText, refused("invalid_discrepancy", "IMP-08")] | None = None
    parcels: Annotated[int, Field(ge=0, le=1_000_000), WHOLE, refused("invalid_discrepancy", "IMP-08")] | None = None


class DiscrepancyIn(BodyIn):
    kind: Literal["seals_broken", "content_mismatch", "expired", "unknown_signer", "other"]
    found: FoundIn | None = None


class RejectionIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "seal on parcel 2 broken on arrival",
                                                           "discrepancy": {"kind": "seals_broken"}}]})

    reason: Reason
    discrepancy: DiscrepancyIn


class CancellationIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "shipment postponed"}]})

    reason: Reason


@router.post("/{number}/confirmation", response={200: CertificateOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("certificate.confirm"),
             summary="Importing authority confirms receipt (IMP-02); 409 if already decided")
def confirm(request: HttpRequest, number: str, body: ConfirmationIn) -> dict[str, Any]:
    cert = services.confirm(actor_of(request), number, body.model_dump(mode="json"))
    return services.to_dict(services.get(actor_of(request), cert.number))


@router.post("/{number}/rejection", response={200: CertificateOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("certificate.reject"),
             summary="Importing authority rejects the shipment with a discrepancy record (IMP-08)")
def reject(request: HttpRequest, number: str, body: RejectionIn) -> dict[str, Any]:
    cert = services.reject(actor_of(request), number, body.model_dump(mode="json", exclude_none=True))
    return services.to_dict(services.get(actor_of(request), cert.number))


@router.post("/{number}/cancellation", response={200: CertificateOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("certificate.cancel"),
             summary="Issuing participant cancels an unused certificate")
def cancel(request: HttpRequest, number: str, body: CancellationIn) -> dict[str, Any]:
    cert = services.cancel(actor_of(request), number, body.model_dump(mode="json"))
    return services.to_dict(services.get(actor_of(request), cert.number))
