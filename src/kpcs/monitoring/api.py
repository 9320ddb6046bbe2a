"""Findings API: the anomaly analysis's results and their follow-up workflow."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import ConfigDict, Field

from kpcs.api import (
    AUTH,
    ERRORS,
    NOT_BLANK,
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
    page_bounds,
    paginate,
    permission,
    refused,
)
from kpcs.monitoring import services
from kpcs.registry import services as registry

router = Router(tags=["monitoring"])
RuleName = Literal["exports-exceed-supply", "price-outlier", "certificate-price-outlier", "volume-spike",
                   "mirror-discrepancy", "missing-report", "unconfirmed-certificate", "embargoed-trade"]
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
            summary="Findings of the anomaly analysis (run `kpcs analyse` or POST /findings/scan)")
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


@router.post("/scan", response={200: FindingPage, **ERRORS}, auth=AUTH, openapi_extra=permission("finding.manage"),
             summary="Run the anomaly analysis now and return the findings in scope")
def scan(request: HttpRequest, body: ScanIn) -> dict[str, Any]:
    actor = actor_of(request)
    registry.require(actor, "finding.manage")
    rows = services.scan(actor, period=body.period, participant=body.participant.upper() if body.participant else None,
                         as_of=body.as_of)
    return paginate(rows, len(rows), len(rows), 0, services.to_dict)


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
