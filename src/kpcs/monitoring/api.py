"""Findings API: the anomaly analysis's results and their follow-up workflow; peer reviews (review visits and
missions, their reports and recommendations) under /reviews, and the public's published summaries."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
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
    BodyIn,
    Day,
    Id,
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
from kpcs.monitoring import rules, services

router = Router(tags=["monitoring"])
review_router = Router(tags=["peer review"])
RuleName = Literal["exports-exceed-supply", "price-outlier", "certificate-price-outlier", "volume-spike",
                   "mirror-discrepancy", "missing-report", "unconfirmed-certificate", "embargoed-trade",
                   "re-export-valuation", "customs-mirror-discrepancy"]
Text = Annotated[str, Field(max_length=TEXT_MAX_LENGTH)]


class FindingOut(Schema):
    id: int
    rule: str
    participant: str
    period: str
    subject: str
    severity: str
    summary: str
    evidence: dict[str, Any]
    status: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    review: int | None


class QuestionnaireOut(Schema):
    questions: list[str]
    sent_at: dt.datetime
    due_on: dt.date
    answers: list[str] | None
    answered_at: dt.datetime | None
    answered_by: str


class FindingDetailOut(FindingOut):
    events: list[dict[str, Any]]
    questionnaire: QuestionnaireOut | None


class FindingPage(Page):
    items: list[FindingOut]


class FindingFilter(Schema):
    rule: RuleName | None = None
    participant: ParticipantCode | None = None
    period: Period | None = None
    status: Literal["open", "clarification_requested", "answered", "closed", "escalated"] | None = None
    severity: Literal["high", "medium", "low"] | None = None
    limit: Limit = 100
    offset: Offset = 0


@router.get("", response={200: FindingPage, **ERRORS}, auth=AUTH, openapi_extra=permission("finding.read"),
            summary="Findings of the anomaly analysis (run `kpcs analyse`, or POST /findings/scan and `kpcs worker`)")
def list_findings(request: HttpRequest, filters: Query[FindingFilter]) -> dict[str, Any]:
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = services.search(actor_of(request), rule=filters.rule,
                         participant=filters.participant.upper() if filters.participant else None,
                         period=filters.period, status=filters.status, severity=filters.severity)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, services.to_dict)


class ScanIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"period": "2025", "participant": "BW"}]})

    period: Period | None = None
    participant: ParticipantCode | None = None
    as_of: Day | None = None


class ScanStartedOut(Schema):
    id: int
    status: str


class ScanOutcomeOut(Schema):
    findings: int
    created: int
    revised: int


class ScanErrorOut(Schema):
    code: str
    message: str
    details: dict[str, Any] = {}


class ScanOut(Schema):
    id: int
    status: Literal["queued", "running", "succeeded", "failed"]
    phase: str
    fraction: float
    requested_by: str
    requested_at: dt.datetime
    period: str | None
    participant: str | None
    as_of: dt.date | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    outcome: ScanOutcomeOut | None
    error: ScanErrorOut | None


@router.post("/scan", response={202: ScanStartedOut, **ERRORS}, auth=AUTH, openapi_extra=permission("finding.manage"),
             summary="Start the anomaly analysis as a background job (run by `kpcs worker`); "
                     "follow it at GET /findings/scans/{id}")
def scan(request: HttpRequest, body: ScanIn) -> Status[dict[str, Any]]:
    row = services.start_scan(actor_of(request), period=body.period,
                              participant=body.participant.upper() if body.participant else None, as_of=body.as_of)
    return Status(202, {"id": row.pk, "status": row.status})


@router.get("/scans/{scan_id}", response={200: ScanOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("finding.manage"),
            summary="A scan's progress (phase, fraction) and outcome (findings created and revised, or the error)")
def get_scan(request: HttpRequest, scan_id: Id) -> dict[str, Any]:
    return services.scan_dict(services.get_scan(actor_of(request), scan_id))


@router.get("/{finding_id}", response={200: FindingDetailOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("finding.read"), summary="One finding with its history and questionnaire")
def get_finding(request: HttpRequest, finding_id: Id) -> dict[str, Any]:
    return services.to_dict(services.get(actor_of(request), finding_id), events=True)


class ClarificationIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"questions": ["Why did exports exceed production in 2025?"]}]})

    # STAT-09: at least one question; blank ones are dropped, and none left is refused (no_questions).
    questions: Annotated[list[Text], Field(min_length=1, max_length=100), refused("no_questions", "STAT-09")]
    due_on: Day | None = None


class AnswerIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"answers": ["Stock carried from 2024 was exported."]}]})

    # STAT-09: one answer per question, none blank (the count is the questionnaire's, checked by the service).
    answers: Annotated[list[Text], Field(min_length=1, max_length=100), refused("incomplete_answers", "STAT-09")]


class NoteIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "explained by stock carried over"}]})

    note: Annotated[str, Field(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=NOT_BLANK),
                    refused("note_required")]


@router.post("/{finding_id}/clarification-request", response={200: FindingDetailOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("finding.manage"),
             summary="Send a Data Anomaly Questionnaire to the participant (STAT-09)")
def clarification_request(request: HttpRequest, finding_id: Id, body: ClarificationIn) -> dict[str, Any]:
    actor = actor_of(request)
    services.request_clarification(actor, finding_id, body.questions, body.due_on)
    return services.to_dict(services.get(actor, finding_id), events=True)


@router.post("/{finding_id}/answer", response={200: FindingDetailOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("finding.answer"), summary="The participant answers every question")
def answer(request: HttpRequest, finding_id: Id, body: AnswerIn) -> dict[str, Any]:
    actor = actor_of(request)
    services.answer(actor, finding_id, body.answers)
    return services.to_dict(services.get(actor, finding_id), events=True)


@router.post("/{finding_id}/closure", response={200: FindingDetailOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("finding.manage"), summary="Close the finding as explained")
def closure(request: HttpRequest, finding_id: Id, body: NoteIn) -> dict[str, Any]:
    actor = actor_of(request)
    services.close(actor, finding_id, body.note)
    return services.to_dict(services.get(actor, finding_id), events=True)


@router.post("/{finding_id}/escalation", response={200: FindingDetailOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("finding.manage"), summary="Escalate the finding to monitoring (MON-08)")
def escalation(request: HttpRequest, finding_id: Id, body: NoteIn) -> dict[str, Any]:
    actor = actor_of(request)
    services.escalate(actor, finding_id, body.note)
    return services.to_dict(services.get(actor, finding_id), events=True)


# --- peer review (MON-02..MON-08) ---------------------------------------------------------------------

ReviewKind = Literal["visit", "mission"]
ReviewStatus = Literal["planned", "visited", "report_submitted", "report_published", "closed"]
Constituency = Literal["government", "industry", "civil_society"]
NAME_MAX_LENGTH = 200
REPORT_MAX_LENGTH = 100_000  # a review report runs to tens of pages: well under the 1 MiB body limit


Mandate = Annotated[str, Field(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=NOT_BLANK),
                    refused("mandate_required")]
MemberName = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NOT_BLANK),
                       refused("name_required")]
ReportText = Annotated[str, Field(min_length=1, max_length=REPORT_MAX_LENGTH, pattern=NOT_BLANK),
                       refused("report_required")]
Summary = Annotated[str, Field(min_length=1, max_length=REPORT_MAX_LENGTH, pattern=NOT_BLANK),
                    refused("summary_required")]
RecommendationText = Annotated[str, Field(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=NOT_BLANK),
                               refused("text_required")]
Note = Annotated[str, Field(min_length=1, max_length=TEXT_MAX_LENGTH, pattern=NOT_BLANK), refused("note_required")]
CommentText = Annotated[str, Field(min_length=1, max_length=rules.COMMENT_MAX_LENGTH, pattern=NOT_BLANK),
                        refused("text_required")]


class ReviewOut(Schema):
    id: int
    kind: str
    participant: str
    participant_name: str
    decision_reference: str
    mandate: str
    starts_on: dt.date
    ends_on: dt.date
    status: str
    report_due_on: dt.date
    publication_due_on: dt.date
    report_submitted_on: dt.date | None
    report_published_on: dt.date | None
    closed_on: dt.date | None
    report_overdue: bool
    publication_overdue: bool
    created_by: str
    created_at: dt.datetime


class TeamMemberOut(Schema):
    id: int
    name: str
    constituency: str
    participant: str | None
    organisation: str
    is_leader: bool


class FollowUpOut(Schema):
    from_status: str
    to_status: str
    note: str
    by: str
    at: dt.datetime


class RecommendationOut(Schema):
    id: int
    review: int
    text: str
    owner: str
    due_on: dt.date
    status: str
    overdue: bool
    follow_ups: list[FollowUpOut]


class ReviewCommentOut(Schema):
    id: int
    review: int
    participant: str
    author: str
    text: str
    created_at: dt.datetime


class ReviewDetailOut(ReviewOut):
    report_text: str
    public_summary: str
    team: list[TeamMemberOut]
    recommendations: list[RecommendationOut]
    findings: list[int]
    comments: list[ReviewCommentOut]


class ReviewPage(Page):
    items: list[ReviewOut]


class PublishedReviewOut(Schema):
    id: int
    kind: str
    participant: str
    participant_name: str
    starts_on: dt.date
    ends_on: dt.date
    report_published_on: dt.date
    public_summary: str


class PublishedReviewPage(Page):
    items: list[PublishedReviewOut]


class ReviewFilter(Schema):
    participant: ParticipantCode | None = None
    status: ReviewStatus | None = None
    kind: ReviewKind | None = None
    limit: Limit = 100
    offset: Offset = 0


def _detail(request: HttpRequest, review_id: int) -> dict[str, Any]:
    return services.review_dict(services.get_review(actor_of(request), review_id), detail=True)


@review_router.get("", response={200: ReviewPage, **ERRORS}, auth=AUTH, openapi_extra=permission("review.read"),
                   summary="Review visits and missions with their status and MON-04 due dates")
def list_reviews(request: HttpRequest, filters: Query[ReviewFilter]) -> dict[str, Any]:
    limit, offset = page_bounds(filters.limit, filters.offset)
    qs = services.search_reviews(actor_of(request), participant=filters.participant.upper() if filters.participant
                                 else None, status=filters.status, kind=filters.kind)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, services.review_dict)


@review_router.get("/published", response={200: PublishedReviewPage, **errors(400)}, auth=None,
                   openapi_extra=permission(PUBLIC),
                   summary="Public: the published review reports' summaries (never the restricted full text)")
@decorate_view(ratelimit.public)
def published_reviews(request: HttpRequest, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    limit, offset = page_bounds(limit, offset)
    qs = services.published_reviews()
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, services.public_review_dict)


class ReviewIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "visit", "participant": "RU", "mandate": "Review of the implementation of the KPCS in Russia "
         "at its invitation.", "starts_on": "2018-08-25", "ends_on": "2018-08-30"}]})

    kind: ReviewKind
    participant: ParticipantCode
    mandate: Mandate
    starts_on: Day
    ends_on: Day
    # a review mission is sent by a decision (MON-02): its reference, free text until decisions are recorded here
    decision_reference: Annotated[str, Field(max_length=NAME_MAX_LENGTH)] = ""


@review_router.post("", response={201: ReviewDetailOut, **ERRORS}, auth=AUTH,
                    openapi_extra=permission("review.manage"),
                    summary="Open a review visit (on invitation) or a review mission (by decision) with its mandate")
def create_review(request: HttpRequest, body: ReviewIn) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    r = services.create_review(actor, kind=body.kind, participant=body.participant.upper(), mandate=body.mandate,
                               starts_on=body.starts_on, ends_on=body.ends_on,
                               decision_reference=body.decision_reference)
    return Status(201, _detail(request, r.pk))


@review_router.get("/{review_id}", response={200: ReviewDetailOut, **ERRORS}, auth=AUTH,
                   openapi_extra=permission("review.read"),
                   summary="One review with its team, report, recommendations and their follow-up")
def get_review(request: HttpRequest, review_id: Id) -> dict[str, Any]:
    return _detail(request, review_id)


class TeamMemberIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "A. Leader", "constituency": "government", "participant": "AO", "is_leader": True}]})

    name: MemberName
    constituency: Constituency
    participant: ParticipantCode | None = None
    organisation: Annotated[str, Field(max_length=NAME_MAX_LENGTH)] = ""
    is_leader: bool = False


@review_router.post("/{review_id}/team", response={201: ReviewDetailOut, **ERRORS}, auth=AUTH,
                    openapi_extra=permission("review.manage"),
                    summary="Add a team member tagged by constituency; one leader per team")
def add_team_member(request: HttpRequest, review_id: Id, body: TeamMemberIn) -> Status[dict[str, Any]]:
    services.add_team_member(actor_of(request), review_id, name=body.name, constituency=body.constituency,
                             participant=body.participant.upper() if body.participant else None,
                             organisation=body.organisation, is_leader=body.is_leader)
    return Status(201, _detail(request, review_id))


class VisitIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"starts_on": "2018-08-25", "ends_on": "2018-08-30"}]})

    starts_on: Day | None = None
    ends_on: Day | None = None


@review_router.post("/{review_id}/visit", response={200: ReviewDetailOut, **ERRORS}, auth=AUTH,
                    openapi_extra=permission("review.manage"),
                    summary="Record that the visit took place (the report is due three weeks after, MON-04)")
def record_visit(request: HttpRequest, review_id: Id, body: VisitIn) -> dict[str, Any]:
    services.record_visit(actor_of(request), review_id, starts_on=body.starts_on, ends_on=body.ends_on)
    return _detail(request, review_id)


class ReportIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "The review team found …"}]})

    text: ReportText
    submitted_on: Day | None = None


@review_router.post("/{review_id}/report", response={200: ReviewDetailOut, **ERRORS}, auth=AUTH,
                    openapi_extra=permission("review.manage"),
                    summary="Submit the report to the Chair and the participant (restricted, MON-04)")
def submit_report(request: HttpRequest, review_id: Id, body: ReportIn) -> dict[str, Any]:
    services.submit_report(actor_of(request), review_id, text=body.text, on=body.submitted_on)
    return _detail(request, review_id)


class PublicationIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"public_summary": "Russia implements the minimum requirements of the scheme."}]})

    public_summary: Summary
    published_on: Day | None = None


@review_router.post("/{review_id}/publication", response={200: ReviewDetailOut, **ERRORS}, auth=AUTH,
                    openapi_extra=permission("review.manage"),
                    summary="Publish the report: the public sees its summary (MON-04)")
def publish_report(request: HttpRequest, review_id: Id, body: PublicationIn) -> dict[str, Any]:
    services.publish_report(actor_of(request), review_id, public_summary=body.public_summary, on=body.published_on)
    return _detail(request, review_id)


class ReviewClosureIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

    closed_on: Day | None = None


@review_router.post("/{review_id}/closure", response={200: ReviewDetailOut, **ERRORS}, auth=AUTH,
                    openapi_extra=permission("review.manage"),
                    summary="Close the review once every recommendation is implemented or closed (409 otherwise)")
def close_review(request: HttpRequest, review_id: Id, body: ReviewClosureIn) -> dict[str, Any]:
    services.close_review(actor_of(request), review_id, on=body.closed_on)
    return _detail(request, review_id)


class RecommendationIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"text": "Equip the border post with calibrated scales.", "owner": "RU", "due_on": "2019-06-30"}]})

    text: RecommendationText
    owner: ParticipantCode
    due_on: Day


@review_router.post("/{review_id}/recommendations", response={201: RecommendationOut, **ERRORS}, auth=AUTH,
                    openapi_extra=permission("review.manage"),
                    summary="Add a recommendation with its owner and due date")
def add_recommendation(request: HttpRequest, review_id: Id, body: RecommendationIn) -> Status[dict[str, Any]]:
    x = services.add_recommendation(actor_of(request), review_id, text=body.text, owner=body.owner.upper(),
                                    due_on=body.due_on)
    return Status(201, services.recommendation_dict(x))


class FollowUpIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"note": "Scales installed and in use.", "status": "implemented"}]})

    note: Note
    status: Literal["in_progress", "implemented"] = "in_progress"


@review_router.post("/{review_id}/recommendations/{recommendation_id}/follow-up",
                    response={200: RecommendationOut, **ERRORS}, auth=AUTH, openapi_extra=permission("review.manage"),
                    summary="A follow-up note on a recommendation (in progress, or implemented)")
def follow_up(request: HttpRequest, review_id: Id, recommendation_id: Id, body: FollowUpIn) -> dict[str, Any]:
    x = services.follow_up(actor_of(request), review_id, recommendation_id, note=body.note, status=body.status)
    return services.recommendation_dict(x)


@review_router.post("/{review_id}/recommendations/{recommendation_id}/closure",
                    response={200: RecommendationOut, **ERRORS}, auth=AUTH, openapi_extra=permission("review.manage"),
                    summary="Close a recommendation, saying why")
def close_recommendation(request: HttpRequest, review_id: Id, recommendation_id: Id,
                         body: NoteIn) -> dict[str, Any]:
    x = services.close_recommendation(actor_of(request), review_id, recommendation_id, note=body.note)
    return services.recommendation_dict(x)


class ReviewCommentIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"text": "The scales were ordered in May; the border post has them since 1 September."}]})

    text: CommentText


@review_router.post("/{review_id}/comments", response={201: ReviewCommentOut, **ERRORS}, auth=AUTH,
                    openapi_extra=permission("review.comment"),
                    summary="The reviewed participant's delegate comments on the report before it is posted (MON-04); "
                            "409 before the report reaches it and once it is posted")
def comment_on_report(request: HttpRequest, review_id: Id, body: ReviewCommentIn) -> Status[dict[str, Any]]:
    c = services.comment_on_report(actor_of(request), review_id, text=body.text)
    return Status(201, services.comment_dict(c))


class MissionIn(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"mandate": "Assess whether CG meets the minimum requirements (MON-11).", "starts_on": "2026-06-01",
         "ends_on": "2026-06-05", "decision_reference": "Administrative decision 2026/3"}]})

    mandate: Mandate
    starts_on: Day
    ends_on: Day
    decision_reference: Annotated[str, Field(max_length=NAME_MAX_LENGTH)] = ""


@router.post("/{finding_id}/review-mission", response={201: ReviewDetailOut, **ERRORS}, auth=AUTH,
             openapi_extra=permission("review.manage"),
             summary="Open a review mission case on an escalated finding; each names the other (MON-11)")
def review_mission(request: HttpRequest, finding_id: Id, body: MissionIn) -> Status[dict[str, Any]]:
    r = services.escalate_to_review(actor_of(request), finding_id, mandate=body.mandate, starts_on=body.starts_on,
                                    ends_on=body.ends_on, decision_reference=body.decision_reference)
    return Status(201, _detail(request, r.pk))
