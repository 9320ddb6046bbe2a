"""Governance API: decisions and positions, chairs, meetings, a participant's history with its decisions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.decorators import decorate_view
from pydantic import ConfigDict, Field

from kpcs import clock, ratelimit
from kpcs.api import (
    AUTH,
    ERRORS,
    NOT_BLANK,
    PUBLIC,
    TEXT_MAX_LENGTH,
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
)
from kpcs.governance import admission, services
from kpcs.governance.models import Decision, Meeting
from kpcs.registry.services import ANONYMOUS, Actor, require

router = Router(tags=["governance"])
PUBLIC_ERRORS = errors(400, 404)

DecisionType = Literal["administrative", "admission", "suspension", "self_suspension", "removal", "readmission",
                       "measure", "amendment", "notice"]
Procedure = Literal["plenary", "written"]
DecisionStatus = Literal["proposed", "adopted", "rejected", "withdrawn"]
PositionKind = Literal["support", "object", "abstain", "comment"]
MeasureKind = Literal["import_ban_by_origin", "compliant_zones_only", "enhanced_vigilance"]
Text = Annotated[str, Field(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=NOT_BLANK)]


def _caller(request: HttpRequest) -> Actor:
    """Who reads a public route: a bearer token or a session when one is sent (to see proposed decisions), else
    the anonymous public. A wrong token reads as the public, as no token would."""
    for auth in AUTH:
        try:
            found = auth(request)
        except Exception:  # noqa: BLE001 - a bad credential on a public read is no credential
            found = None
        if isinstance(found, Actor):
            return found
    return ANONYMOUS


class ZoneIn(BodyIn):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
    valid_from: Day | None = None
    valid_to: Day | None = None


class MeasureIn(BodyIn):
    kind: MeasureKind
    scope: Annotated[str, Field(max_length=200)] = ""
    zones: Annotated[list[ZoneIn], Field(max_length=100)] = []


class PolicyIn(BodyIn):
    """A participant's policy from the decision's effective date; a value left out is carried (CERT-09, IMP-02)."""

    validity_days: Annotated[int, Field(ge=1, le=365)] | None = None
    confirmation_days: Annotated[int, Field(ge=1, le=120)] | None = None


class DecisionIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "suspension", "participant": "CF", "effective_on": "2013-05-23", "procedure": "written",
        "deadline": "2100-01-01", "text": "Temporary suspension of the Central African Republic"}, {
        "type": "measure", "participant": "CI", "lift": 1, "effective_on": "2014-04-29", "procedure": "plenary",
        "text": "The import ban on rough diamonds from Côte d'Ivoire is lifted"}]})

    type: DecisionType
    participant: ParticipantCode | None = None
    effective_on: Day
    text: Text
    procedure: Procedure
    deadline: Day | None = None
    meeting: Id | None = None
    until: Day | None = None
    measure: MeasureIn | None = None
    lift: Id | None = Field(None, description="a measure in force on the participant that this (measure or "
                                              "administrative) decision lifts from effective_on (SPEC-07)")
    policy: PolicyIn | None = None


class PositionIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"position": "support", "comment": ""}]})

    position: PositionKind
    comment: Annotated[str, Field(max_length=TEXT_MAX_LENGTH)] = ""
    participant: ParticipantCode | None = None


class PositionOut(Schema):
    participant: str | None
    observer: str
    position: str
    stated: str
    comment: str
    by: str
    at: dt.datetime
    current: bool


class DecisionOut(Schema):
    id: int
    type: str
    participant: str | None
    text: str
    effective_on: dt.date
    until: dt.date | None
    procedure: str
    deadline: dt.date | None
    meeting: int | None
    measure: dict[str, Any] | None
    lift: int | None
    policy: dict[str, Any] | None
    status: str
    proposed_by: str
    proposed_at: dt.datetime
    decided_by: str
    decided_at: dt.datetime | None
    outcome: str
    objectors: list[str]
    positions: list[PositionOut]


class DecisionPage(Page):
    items: list[DecisionOut]


def _decision(d: Decision, actor: Actor) -> dict[str, Any]:
    positions = list(d.positions.all())
    current = {(p.participant_id or f"observer:{p.observer}"): p.pk for p in positions}
    shown = positions if services.may_read_all(actor) or d.status == "adopted" else []
    return {"id": d.pk, "type": d.type, "participant": d.participant_id, "text": d.text,
            "effective_on": d.effective_on, "until": d.until, "procedure": d.procedure, "deadline": d.deadline,
            "meeting": d.meeting_id, "measure": d.measure, "lift": d.lifts, "policy": d.policy, "status": d.status,
            "proposed_by": d.proposed_by, "proposed_at": d.proposed_at, "decided_by": d.decided_by,
            "decided_at": d.decided_at, "outcome": d.outcome, "objectors": services.objectors(d),
            "positions": [{"participant": p.participant_id, "observer": p.observer, "position": p.position,
                           "stated": p.stated, "comment": p.comment, "by": p.by.split(" (")[0], "at": p.at,
                           "current": current[p.participant_id or f"observer:{p.observer}"] == p.pk}
                          for p in shown]}


class DecisionFilter(Schema):
    status: DecisionStatus | None = None
    type: DecisionType | None = None
    participant: ParticipantCode | None = None
    limit: Limit = 100
    offset: Offset = 0


@router.get("/decisions", response={200: DecisionPage, **PUBLIC_ERRORS}, auth=None,
            openapi_extra=permission(PUBLIC),
            summary="Decisions: adopted ones for everyone; with credentials holding decision.read (the Chair, "
                    "delegates, observers) proposed, rejected and withdrawn ones too, with their positions")
@decorate_view(ratelimit.public)
def list_decisions(request: HttpRequest, filters: Query[DecisionFilter]) -> dict[str, Any]:
    actor = _caller(request)
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = services.visible(actor, status=filters.status, type=filters.type, participant=filters.participant)
    return paginate(qs.prefetch_related("positions")[offset:offset + limit], qs.count(), limit, offset,
                    lambda d: _decision(d, actor))


@router.get("/decisions/{decision_id}", response={200: DecisionOut, **PUBLIC_ERRORS}, auth=None,
            openapi_extra=permission(PUBLIC), summary="One decision (a proposed one only for decision.read)")
@decorate_view(ratelimit.public)
def get_decision(request: HttpRequest, decision_id: Id) -> dict[str, Any]:
    actor = _caller(request)
    return _decision(services.get(actor, decision_id), actor)


@router.post("/decisions", response={201: DecisionOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("decision.propose"), summary="The Chair proposes a decision (GOV-03, GOV-07)")
def propose(request: HttpRequest, body: DecisionIn) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    measure = body.measure.model_dump(mode="json") if body.measure else None
    policy = body.policy.model_dump(mode="json") if body.policy else None
    d = services.propose(actor, type=body.type, participant=body.participant, effective_on=body.effective_on,
                         text=body.text, procedure=body.procedure, deadline=body.deadline, meeting=body.meeting,
                         until=body.until, measure=measure, lift=body.lift, policy=policy)
    return Status(201, _decision(d, actor))


@router.post("/decisions/{decision_id}/positions", response={201: PositionOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("decision.position"),
             summary="A delegate's position for its participant, or an observer's comment (never a block)")
def take_position(request: HttpRequest, decision_id: Id, body: PositionIn) -> Status[dict[str, Any]]:
    p = services.take_position(actor_of(request), decision_id, body.position, body.comment,
                               participant=body.participant)
    return Status(201, {"participant": p.participant_id, "observer": p.observer, "position": p.position,
                        "stated": p.stated, "comment": p.comment, "by": p.by.split(" (")[0], "at": p.at,
                        "current": True})


@router.post("/decisions/{decision_id}/adoption", response={200: DecisionOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("decision.adopt"),
             summary="The Chair adopts a decision no participant objects to; 409 naming the objectors otherwise")
def adopt(request: HttpRequest, decision_id: Id) -> dict[str, Any]:
    actor = actor_of(request)
    return _decision(services.adopt(actor, decision_id), actor)


class ChairOut(Schema):
    year: int
    chair: str | None
    vice_chair: str | None


class ChairsOut(Schema):
    on: dt.date
    chair: str | None
    vice_chair: str | None
    years: list[ChairOut]


@router.get("/chairs", response={200: ChairsOut, **PUBLIC_ERRORS}, auth=None, openapi_extra=permission(PUBLIC),
            summary="The Chair and Vice-Chair on a day (GOV-02) and per year")
@decorate_view(ratelimit.public)
def chairs(request: HttpRequest, on: Day | None = None) -> dict[str, Any]:
    day = on or clock.today()
    known = services.chairs()
    chair, vice = services.chair_on(day)
    return {"on": day, "chair": chair, "vice_chair": vice,
            "years": [{"year": y, "chair": c, "vice_chair": v} for y, (c, v) in sorted(known.items())]}


class MeetingOut(Schema):
    id: int
    kind: str
    year: int
    host: str | None
    place: str
    starts_on: dt.date
    ends_on: dt.date


class MeetingPage(Page):
    items: list[MeetingOut]


@router.get("/meetings", response={200: MeetingPage, **PUBLIC_ERRORS}, auth=None, openapi_extra=permission(PUBLIC),
            summary="Plenaries and intersessional meetings (GOV-01)")
@decorate_view(ratelimit.public)
def meetings(request: HttpRequest, year: Annotated[int, Field(ge=1990, le=2100)] | None = None,
             limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    limit, offset = page_bounds(limit, offset)
    qs = Meeting.objects.order_by("starts_on", "pk")
    if year is not None:
        qs = qs.filter(year=year)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset,
                    lambda m: {"id": m.pk, "kind": m.kind, "year": m.year, "host": m.host_id, "place": m.place,
                               "starts_on": m.starts_on, "ends_on": m.ends_on})


class DecisionRefOut(Schema):
    id: int
    type: str
    procedure: str
    text: str
    decided_at: dt.datetime | None
    effective_on: dt.date


class StatusRecordOut(Schema):
    id: int
    status: str
    scope: str
    valid_from: dt.date
    valid_to: dt.date | None
    superseded: bool
    source: str
    cause: str
    decision: DecisionRefOut | None


class MeasureRecordOut(Schema):
    id: int
    kind: str
    scope: str
    valid_from: dt.date
    valid_to: dt.date | None
    zones: list[dict[str, Any]]
    decision: DecisionRefOut | None
    lifted_by: DecisionRefOut | None


class PolicyRecordOut(Schema):
    id: int
    valid_from: dt.date
    validity_days: int
    confirmation_days: int
    decision: DecisionRefOut | None


class HistoryOut(Schema):
    code: str
    name: str
    admitted_on: dt.date | None
    admission_precision: str
    statuses: list[StatusRecordOut]
    measures: list[MeasureRecordOut]
    policies: list[PolicyRecordOut]


@router.get("/participants/{code}/history", response={200: HistoryOut, **PUBLIC_ERRORS}, auth=None,
            openapi_extra=permission(PUBLIC),
            summary="A participant's whole status history, measures and policies (certificate validity, "
                    "confirmation deadline), each with the decision behind it")
@decorate_view(ratelimit.public)
def history(request: HttpRequest, code: ParticipantCode) -> dict[str, Any]:
    return services.participant_history(code)




# --- admission (GOV-05) --------------------------------------------------------------------------------------

Stage = Literal["received", "circulated", "recommended", "admission_proposed", "admitted", "not_admitted"]


class ApplicationIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"code": "SS", "name": "South Sudan", "applied_on": "2026-01-10"}]})

    code: ParticipantCode
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)]
    applied_on: Day


class CommitteeRecommendationIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"recommend": True, "text": "Meets the minimum requirements of the core document"}]})

    recommend: bool
    text: Annotated[str, Field(max_length=TEXT_MAX_LENGTH)] = ""


class CirculationOut(Schema):
    decision: int
    on: dt.date
    late: bool


class AdmissionOut(Schema):
    decision: int
    status: str
    effective_on: dt.date


class ApplicationOut(Schema):
    id: int
    code: str
    name: str
    applied_on: dt.date
    circulation_due: dt.date
    circulation: CirculationOut | None
    recommendation: str | None
    recommended_on: dt.date | None
    recommendation_text: str
    admission: AdmissionOut | None
    admitted_on: dt.date | None
    stage: Stage


class ApplicationPage(Page):
    items: list[ApplicationOut]


@router.get("/applications", response={200: ApplicationPage, **ERRORS}, auth=AUTH,
            openapi_extra=permission("decision.read"),
            summary="Applications to participate and the stage each has reached (GOV-05)")
def list_applications(request: HttpRequest, stage: Stage | None = None, limit: Limit = 100,
                      offset: Offset = 0) -> dict[str, Any]:
    require(actor_of(request), "decision.read")
    limit, offset = page_bounds(limit, offset)
    rows = [admission.as_dict(a) for a in admission.listed()]
    if stage is not None:
        rows = [r for r in rows if r["stage"] == stage]
    return paginate(rows[offset:offset + limit], len(rows), limit, offset, lambda r: r)


@router.post("/applications", response={201: ApplicationOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("decision.propose"),
             summary="The Chair records an application on the applicant's behalf: status `applicant` (no trade)")
def submit_application(request: HttpRequest, body: ApplicationIn) -> Status[dict[str, Any]]:
    made = admission.submit(actor_of(request), code=body.code, name=body.name, applied_on=body.applied_on)
    return Status(201, admission.as_dict(admission.get(made.pk)))


@router.post("/applications/{application_id}/circulation", response={200: ApplicationOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("decision.propose"),
             summary="The Chair circulates an application to all participants, within one month of it (GOV-05)")
def circulate_application(request: HttpRequest, application_id: Id) -> dict[str, Any]:
    return admission.as_dict(admission.circulate(actor_of(request), application_id))


@router.post("/applications/{application_id}/recommendation", response={200: ApplicationOut, **ERRORS},
             auth=AUTH, openapi_extra=permission("decision.propose"),
             summary="The Chair records the participation committee's recommendation, to admit or not (GOV-05)")
def recommend_application(request: HttpRequest, application_id: Id, body: CommitteeRecommendationIn) -> dict[str, Any]:
    return admission.as_dict(admission.recommend(actor_of(request), application_id, admit=body.recommend,
                                                 text=body.text))


# --- working groups ------------------------------------------------------------------------------------------

MemberRole = Literal["chair", "vice_chair", "member"]
GroupCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")]


class MemberOut(Schema):
    id: int
    participant: str | None
    observer: str | None
    constituency: str
    role: str
    from_: dt.date = Field(alias="from")
    to: dt.date | None


class WorkingGroupOut(Schema):
    code: str
    name: str
    members: list[MemberOut]


class WorkingGroupsOut(Schema):
    on: dt.date | None
    items: list[WorkingGroupOut]


class MemberIn(BodyIn):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [
        {"participant": "ZA", "role": "chair", "from": "2026-01-01"},
        {"observer": "World Diamond Council", "from": "2026-01-01", "until": "2027-01-01"}]})

    participant: ParticipantCode | None = None
    observer: Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)] | None = None
    role: MemberRole = "member"
    from_: Day = Field(alias="from")
    until: Day | None = Field(None, description="first day no longer a member; empty = open")


class MemberEndIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"on": "2027-01-01"}]})

    on: Day = Field(description="first day no longer a member")


@router.get("/working-groups", response={200: WorkingGroupsOut, **PUBLIC_ERRORS}, auth=None, by_alias=True,
            openapi_extra=permission(PUBLIC),
            summary="The working groups and committees with their members (participants and observers); those of "
                    "a day with `on`")
@decorate_view(ratelimit.public)
def working_groups(request: HttpRequest, on: Day | None = None) -> dict[str, Any]:
    return {"on": on, "items": admission.working_groups(on)}


@router.post("/working-groups/{code}/members", response={201: MemberOut, **ERRORS}, auth=AUTH, by_alias=True,
             openapi_extra=permission("working_group.manage"),
             summary="The Chair adds a participant or an observer organisation to a working group, in a role, "
                     "from a day (GOV-02)")
def add_member(request: HttpRequest, code: GroupCode, body: MemberIn) -> Status[dict[str, Any]]:
    made = admission.add_member(actor_of(request), code, participant=body.participant, observer=body.observer,
                                role=body.role, valid_from=body.from_, valid_to=body.until)
    return Status(201, admission.member(code, made.pk))


@router.post("/working-groups/{code}/members/{member_id}/end", response={200: MemberOut, **ERRORS}, auth=AUTH,
             by_alias=True, openapi_extra=permission("working_group.manage"),
             summary="The Chair ends a membership from a day (kept, never deleted); 409 when it has already ended")
def end_member(request: HttpRequest, code: GroupCode, member_id: Id, body: MemberEndIn) -> dict[str, Any]:
    ended = admission.end_member(actor_of(request), code, member_id, on=body.on)
    return admission.member(code, ended.pk)
