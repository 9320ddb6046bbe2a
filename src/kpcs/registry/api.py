"""Registry API: participants, authorities, operators, trust list, the caller's identity and own tokens."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from ninja.decorators import decorate_view
from pydantic import ConfigDict, Field

from kpcs import clock, ratelimit
from kpcs.api import (
    AUTH,
    ERRORS,
    NOT_BLANK,
    PUBLIC,
    BodyIn,
    Day,
    Id,
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
from kpcs.errors import ValidationFailed
from kpcs.registry import rules, services
from kpcs.registry.models import ApiToken, Authority, Observer, Operator, Participant

router = Router(tags=["registry"])
PUBLIC_ERRORS = errors(400, 404)


class StatusOut(Schema):
    status: str
    scope: str
    valid_from: dt.date
    valid_to: dt.date | None


class ParticipantOut(Schema):
    code: str
    name: str
    kind: str
    status: str
    status_scope: str
    validity_days: int
    confirmation_days: int


class ZoneOut(Schema):
    name: str
    valid_from: dt.date | None
    valid_to: dt.date | None


class MeasureOut(Schema):
    kind: str
    scope: str
    valid_from: dt.date
    valid_to: dt.date | None
    zones: list[ZoneOut]
    zones_in_force: list[str]


class PolicyOut(Schema):
    valid_from: dt.date
    validity_days: int
    confirmation_days: int


class ParticipantDetailOut(ParticipantOut):
    on: dt.date
    admitted_on: dt.date | None
    measures: list[MeasureOut]
    policies: list[PolicyOut]
    history: list[StatusOut]
    authorities: list[str]


class ParticipantPage(Page):
    items: list[ParticipantOut]


def _participant(p: Participant, day: dt.date) -> dict[str, Any]:
    st = services.status_on(p.code, day)
    return {"code": p.code, "name": p.name, "kind": p.kind, "status": st.status, "status_scope": st.scope,
            # CERT-09, IMP-02: the policy in force on the day asked about
            **_policy(services.snapshot().policy_on(p.code, day))}


def _policy(policy: rules.Policy) -> dict[str, Any]:
    return {"validity_days": policy.validity_days, "confirmation_days": policy.confirmation_days}


@router.get("/participants", response={200: ParticipantPage, **PUBLIC_ERRORS}, auth=None,
            openapi_extra=permission(PUBLIC), summary="List participants with their status on a date")
@decorate_view(ratelimit.public)
def list_participants(request: HttpRequest, on: Day | None = None, limit: Limit = 100,
                      offset: Offset = 0) -> dict[str, Any]:
    day = on or clock.today()
    limit, offset = page_bounds(limit, offset)
    qs = Participant.objects.order_by("code")
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, lambda p: _participant(p, day))


@router.get("/participants/{code}", response={200: ParticipantDetailOut, **PUBLIC_ERRORS}, auth=None,
            openapi_extra=permission(PUBLIC),
            summary="One participant: its status, scope, measures and policy (certificate validity, confirmation "
                    "deadline) in force on a day (`on`, default today), its admission date, status history (as "
                    "judged), recorded policies and authorities")
@decorate_view(ratelimit.public)
def get_participant(request: HttpRequest, code: ParticipantCode, on: Day | None = None) -> dict[str, Any]:
    p = services.get_participant(code.upper())
    day = on or clock.today()
    data = _participant(p, day)
    data["on"], data["admitted_on"] = day, p.admitted_on
    data["measures"] = [{**m.as_dict(), "zones_in_force": m.zones_on(day)}
                        for m in services.snapshot().measures_on(p.code, day)]
    data["history"] = [{"status": s.status, "scope": s.scope, "valid_from": s.valid_from, "valid_to": s.valid_to}
                       for s in services.status_history(p.code)]
    data["policies"] = [{"valid_from": q.valid_from, **_policy(q)}
                        for q in services.snapshot().participants.get(p.code, ())]
    data["authorities"] = list(p.authorities.values_list("id", flat=True))
    return data


class AuthorityOut(Schema):
    id: str
    participant: str
    name: str
    city: str
    member_state: str
    roles: list[str]


class AuthorityPage(Page):
    items: list[AuthorityOut]


@router.get("/authorities", response={200: AuthorityPage, **PUBLIC_ERRORS}, auth=None,
            openapi_extra=permission(PUBLIC), summary="Authorities designated by participants (INT-02)")
@decorate_view(ratelimit.public)
def list_authorities(request: HttpRequest, participant: ParticipantCode | None = None, limit: Limit = 100,
                     offset: Offset = 0) -> dict[str, Any]:
    limit, offset = page_bounds(limit, offset)
    qs = Authority.objects.order_by("participant_id", "id")
    if participant:
        qs = qs.filter(participant_id=participant.upper())

    def conv(a: Authority) -> dict[str, Any]:
        return {"id": a.id, "participant": a.participant_id, "name": a.name, "city": a.city,
                "member_state": a.member_state, "roles": a.roles}

    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, conv)


class ObserverOut(Schema):
    name: str
    constituency: str


@router.get("/observers", response={200: list[ObserverOut], **PUBLIC_ERRORS}, auth=None,
            openapi_extra=permission(PUBLIC),
            summary="Observers of the scheme: industry, civil society, international organisations (GOV-04)")
@decorate_view(ratelimit.public)
def list_observers(request: HttpRequest) -> list[dict[str, Any]]:
    return [{"name": o.name, "constituency": o.constituency} for o in Observer.objects.order_by("name")]


OperatorKind = Literal["exporter", "importer", "miner", "digger", "buyer", "dealer", "agent", "courier"]


# Name, address and licence are required (INT-08): not blank, and no longer than their columns.
OperatorName = Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK), refused("invalid", "INT-08")]
OperatorAddress = Annotated[str, Field(min_length=1, max_length=500, pattern=NOT_BLANK),
                            refused("invalid", "INT-08")]
Licence = Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK), refused("invalid", "INT-08")]


class OperatorIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Gaborone Rough Ltd", "address": "Plot 5, Gaborone", "kind": "exporter", "licence": "BW-EXP-0042",
        "valid_from": "2026-01-01"}]})

    participant: ParticipantCode | None = None
    name: OperatorName
    address: OperatorAddress
    kind: Annotated[OperatorKind, refused("invalid_kind")]
    licence: Licence
    valid_from: Day
    valid_until: Day | None = None
    nationality: Annotated[str, Field(max_length=100)] = ""


class OperatorOut(Schema):
    id: int
    participant: str
    name: str
    address: str
    kind: str
    licence: str
    valid_from: dt.date
    valid_until: dt.date | None
    nationality: str
    licence_valid_today: bool


class OperatorPage(Page):
    items: list[OperatorOut]


class OperatorFilter(Schema):
    participant: ParticipantCode | None = None
    kind: OperatorKind | None = None
    valid_on: Day | None = None
    limit: Limit = 100
    offset: Offset = 0


def _operator(op: Operator) -> dict[str, Any]:
    today = clock.today()
    return {"id": op.pk, "participant": op.participant_id, "name": op.name, "address": op.address, "kind": op.kind,
            "licence": op.licence, "valid_from": op.valid_from, "valid_until": op.valid_until,
            "nationality": op.nationality,
            "licence_valid_today": op.valid_from <= today and (op.valid_until is None or today <= op.valid_until)}


@router.get("/operators", response={200: OperatorPage, **ERRORS}, auth=AUTH,
            openapi_extra=permission("operator.read"), summary="Licensed operators visible to the caller")
def list_operators(request: HttpRequest, filters: Query[OperatorFilter]) -> dict[str, Any]:
    actor = actor_of(request)
    services.require(actor, "operator.read")
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = services.visible_operators(actor, participant=filters.participant.upper() if filters.participant else None,
                                    kind=filters.kind, valid_on=filters.valid_on)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, _operator)


@router.post("/operators", response={201: OperatorOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("operator.write"), summary="Register a licensed operator (INT-08)")
def create_operator(request: HttpRequest, body: OperatorIn) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    code = body.participant.upper() if body.participant else None
    if code is None:
        scope = actor.participants_for("operator.write")
        if scope is None or len(scope) != 1:
            raise ValidationFailed(_("participant is required"), code="participant_required")
        code = next(iter(scope))
    op = services.register_operator(actor, participant=code, name=body.name, address=body.address, kind=body.kind,
                                    licence=body.licence, valid_from=body.valid_from, valid_until=body.valid_until,
                                    nationality=body.nationality)
    return Status(201, _operator(op))


@router.get("/operators/{operator_id}", response={200: OperatorOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("operator.read"), summary="One operator")
def get_operator(request: HttpRequest, operator_id: Id) -> dict[str, Any]:
    actor = actor_of(request)
    services.require(actor, "operator.read")
    return _operator(services.get_operator(actor, operator_id))


class GrantOut(Schema):
    role: str
    participant: str | None
    authority: str | None


class MeOut(Schema):
    actor: str
    grants: list[GrantOut]


@router.get("/me", response={200: MeOut, **ERRORS}, auth=AUTH, openapi_extra=permission("authenticated"),
            summary="Who the caller is and which roles it holds")
def me(request: HttpRequest) -> dict[str, Any]:
    actor = actor_of(request)
    return {"actor": actor.label, "grants": [g.__dict__ for g in actor.grants]}


# A token named as `kpcs token list` shows it (its 12-character prefix, perhaps with "…"), or pasted whole.
TokenPrefix = Annotated[str, Field(min_length=rules.TOKEN_MIN_MATCH, max_length=64,
                                   description="the token's prefix (at least 8 characters), or the token"),
                        refused("prefix_too_short", message=f"name a token by at least its first "
                                                            f"{rules.TOKEN_MIN_MATCH} characters")]


class TokenOut(Schema):
    prefix: str
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    status: str


class TokenPage(Page):
    items: list[TokenOut]


def _token(t: ApiToken) -> dict[str, Any]:
    return {"prefix": t.prefix, "name": t.name, "created_at": t.created_at, "last_used_at": t.last_used_at,
            "expires_at": t.expires_at, "revoked_at": t.revoked_at,
            "status": rules.token_status(t.expires_at, t.revoked_at, clock.now())}


@router.get("/me/tokens", response={200: TokenPage, **ERRORS}, auth=AUTH, openapi_extra=permission("authenticated"),
            summary="The caller's own API tokens: prefix, name, dates and status, never the token itself")
def my_tokens(request: HttpRequest, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    limit, offset = page_bounds(limit, offset)
    qs = services.own_tokens(actor_of(request))
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, _token)


@router.post("/me/tokens/{prefix}/revocation", response={200: TokenOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("authenticated"),
             summary="Revoke one of the caller's own tokens, named by its prefix; calls with it then get 401")
def revoke_my_token(request: HttpRequest, prefix: TokenPrefix) -> dict[str, Any]:
    token = services.revoke_token(prefix, own_only=True, reason="revoked by its holder over the API",
                                  actor=actor_of(request))
    return _token(token)


@router.get("/trust-list", auth=None, openapi_extra=permission(PUBLIC), response={200: dict, **errors(400, 404, 409)},
            summary="The signed trust list: every authority key with its status and last serial, every participant's "
                    "status history; verify it against the anchor (GET /trust-list/anchor, published out of band)")
@decorate_view(ratelimit.public)
def trust_list(request: HttpRequest) -> dict[str, Any]:
    return services.trust_list()


class JwkOut(Schema):
    kty: str
    crv: str
    x: str


class AnchorOut(Schema):
    anchor: str
    kid: str
    alg: str
    jwk: JwkOut


@router.get("/trust-list/anchor", auth=None, openapi_extra=permission(PUBLIC),
            response={200: AnchorOut, **errors(400, 404, 409)},
            summary="The trust anchor: the RFC 7638 thumbprint and public key of the node key that signs the trust "
                    "list, to publish out of band (kpcs certificate verify --anchor …)")
@decorate_view(ratelimit.public)
def trust_anchor(request: HttpRequest) -> dict[str, Any]:
    return services.anchor()
