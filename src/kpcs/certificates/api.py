"""Certificate API: issue, read, confirm, reject, cancel, and public verification."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.decorators import decorate_view

from kpcs import ratelimit
from kpcs.api import AUTH, PUBLIC, ErrorOut, Page, actor_of, page_bounds, paginate, permission
from kpcs.certificates import services

router = Router(tags=["certificates"])
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class PartyIn(Schema):
    name: str
    address: str


class ExporterIn(Schema):
    licence: str


class LineIn(Schema):
    hs_code: str
    carats: str
    value_usd: str
    parcels: int


class TotalsIn(Schema):
    carats: str | None = None
    value_usd: str | None = None
    parcels: int | None = None


class CertificateIn(Schema):
    importing_participant: str
    exporter: ExporterIn
    importer: PartyIn
    origin: str
    origin_countries: list[str] | None = None
    lines: list[LineIn]
    totals: TotalsIn | None = None
    expires_on: dt.date | None = None
    type: Literal["standard", "technical"] = "standard"
    exporting_participant: str | None = None


class LineOut(Schema):
    hs_code: str
    carats: str
    value_usd: str
    parcels: int


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
    lines: list[LineOut]
    totals: TotalsOut
    awaiting_confirmation: bool
    overdue: bool
    confirmation_due_on: dt.date
    kid: str
    jws: str
    verification_code: str
    signer_revoked: bool
    confirmation: ConfirmationOut | None
    rejection: RejectionOut | None
    cancellation: CancellationOut | None


class CertificatePage(Page):
    items: list[CertificateOut]


class CertificateFilter(Schema):
    status: Literal["issued", "awaiting_confirmation", "confirmed", "rejected", "cancelled", "expired"] | None = None
    side: Literal["export", "import"] | None = None
    participant: str | None = None
    overdue: bool | None = None
    limit: int = 50
    offset: int = 0


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
    qs = qs.prefetch_related("lines")
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, services.to_dict)


@router.get("/{number}", response={200: CertificateOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("certificate.read"), summary="One certificate with its commercial details")
def get_certificate(request: HttpRequest, number: str) -> dict[str, Any]:
    return services.to_dict(services.get(actor_of(request), number))


class ParticipantState(Schema):
    code: str
    status: str


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


@router.get("/{number}/verification", response={200: VerificationOut, **ERRORS}, auth=None,
            openapi_extra=permission(PUBLIC),
            summary="Public check for whoever holds the certificate: genuine and usable? Needs the verification "
                    "code printed beside the number; no exporter, importer or value is disclosed")
@decorate_view(ratelimit.public)
def verification(request: HttpRequest, number: str,
                 code: str | None = Query(None, description="the verification code printed on the certificate "
                                                            "(XXXXX-XXXXX); without it nothing is said")
                 ) -> HttpResponse:
    # The hottest public route (BRIEF §6: 2,000/s): the answer is built by the service in the documented shape
    # (tests check it against VerificationOut), so it is written out directly rather than validated again.
    return JsonResponse(services.public_verification(number, code), encoder=DjangoJSONEncoder)


verification_router = Router(tags=["certificates"])


class PresentedIn(Schema):
    jws: str = Field(description="the whole signed certificate (JWS compact serialisation), as a scanner reads it")


@verification_router.post("", response={200: VerificationOut, **ERRORS}, auth=None, openapi_extra=permission(PUBLIC),
                          summary="Public check of a whole signed certificate: genuine (against this node's keys) "
                                  "and usable? Its status is given only when the signature is genuine")
@decorate_view(ratelimit.public)
def verify_presented(request: HttpRequest, body: PresentedIn) -> dict[str, Any]:
    return services.verify_presented(body.jws)


class ConfirmationIn(Schema):
    received_on: dt.date
    parcels: int
    carats: str
    seals_intact: bool


class DiscrepancyIn(Schema):
    kind: Literal["seals_broken", "content_mismatch", "expired", "unknown_signer", "other"]
    found: dict[str, Any] | None = None


class RejectionIn(Schema):
    reason: str
    discrepancy: DiscrepancyIn


class CancellationIn(Schema):
    reason: str


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
    cert = services.reject(actor_of(request), number, body.model_dump(mode="json"))
    return services.to_dict(services.get(actor_of(request), cert.number))


@router.post("/{number}/cancellation", response={200: CertificateOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("certificate.cancel"),
             summary="Issuing participant cancels an unused certificate")
def cancel(request: HttpRequest, number: str, body: CancellationIn) -> dict[str, Any]:
    cert = services.cancel(actor_of(request), number, body.model_dump(mode="json"))
    return services.to_dict(services.get(actor_of(request), cert.number))
