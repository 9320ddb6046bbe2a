"""Peer review on the database: a review from its mandate to closed recommendations and a closed review, each
step audited with its actor; refusals (dates, team, order, permissions); a finding escalated into a review mission
that links both ways; annual reports shown from the statistics app."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs import clock
from kpcs.audit.models import AuditEntry
from kpcs.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from kpcs.monitoring import services
from kpcs.monitoring.models import Finding, FindingEvent, Review
from kpcs.registry.services import SYSTEM, Actor, Grant
from kpcs.statistics import services as statistics

pytestmark = pytest.mark.django_db
WGS = Actor("wgs@test", grants=(Grant("wgs_analyst", None, None),))
SECRETARIAT = Actor("admin@test", grants=(Grant("admin", None, None),))
ANALYST = Actor("analyst@test", grants=(Grant("kp_analyst", None, None),))
RU_STATS = Actor("stats@ru.test", grants=(Grant("statistics_officer", "RU", "RU-KPA"),))
BW_STATS = Actor("stats@bw.test", grants=(Grant("statistics_officer", "BW", "BW-KPA"),))
PRIVATE = "Full report: the import control at the border post lacked scales."
PUBLIC = "Russia implements the scheme's minimum requirements; two recommendations."


def days_ago(n: int) -> dt.date:
    return clock.today() - dt.timedelta(days=n)


def planned_visit(actor: Actor = WGS, participant: str = "RU", *, team: bool = True) -> Review:
    """The 2018 review visit to Russia (MON-07), moved to recent dates: led by Angola, tripartite."""
    r = services.create_review(actor, kind="visit", participant=participant,
                               mandate="Review of the implementation of the KPCS at the invitation of "
                                       f"{participant}.", starts_on=days_ago(60), ends_on=days_ago(55))
    if team:
        services.add_team_member(actor, r.pk, name="A. Leader", constituency="government", participant="AO",
                                 is_leader=True)
        services.add_team_member(actor, r.pk, name="B. Expert", constituency="government", participant="BW")
        services.add_team_member(actor, r.pk, name="C. Observer", constituency="industry",
                                 organisation="World Diamond Council")
        services.add_team_member(actor, r.pk, name="D. Observer", constituency="civil_society",
                                 organisation="KP Civil Society Coalition")
    return r


def test_a_full_cycle_from_mandate_to_closed_recommendations(kp: Any) -> None:
    r = planned_visit()
    assert services.review_dict(r)["report_due_on"] == days_ago(55) + dt.timedelta(days=21)
    services.record_visit(WGS, r.pk)
    services.submit_report(WGS, r.pk, text=PRIVATE, on=days_ago(40))
    one = services.add_recommendation(WGS, r.pk, text="Equip the border post with scales.", owner="RU",
                                      due_on=days_ago(-90))
    two = services.add_recommendation(WGS, r.pk, text="Publish production by mine.", owner="RU",
                                      due_on=days_ago(-180))
    services.publish_report(SECRETARIAT, r.pk, public_summary=PUBLIC, on=days_ago(25))
    with pytest.raises(Conflict) as refused:
        services.close_review(WGS, r.pk)
    assert refused.value.code == "recommendations_open" and refused.value.details == {
        "recommendations": [one.pk, two.pk]}
    services.follow_up(WGS, r.pk, one.pk, note="Scales ordered.", status="in_progress")
    services.follow_up(WGS, r.pk, one.pk, note="Scales installed and used.", status="implemented")
    services.close_recommendation(SECRETARIAT, r.pk, two.pk, note="Superseded by the 2027 Plenary decision.")
    closed = services.close_review(WGS, r.pk)
    assert closed.status == "closed" and closed.closed_on == clock.today()
    data = services.review_dict(services.get_review(ANALYST, r.pk), detail=True)
    assert [x["status"] for x in data["recommendations"]] == ["implemented", "closed"]
    assert [(f["from_status"], f["to_status"], f["by"]) for f in data["recommendations"][0]["follow_ups"]] == [
        ("open", "in_progress", "wgs@test"), ("in_progress", "implemented", "wgs@test")]
    assert [m["is_leader"] for m in data["team"]] == [True, False, False, False]
    assert {m["constituency"] for m in data["team"]} == {"government", "industry", "civil_society"}
    log = list(AuditEntry.objects.filter(object_type="review", object_id=str(r.pk)).values_list("action", "actor"))
    assert log == [("review.created", "wgs@test")] + [("review.member_added", "wgs@test")] * 4 + [
        ("review.visited", "wgs@test"), ("review.report_submitted", "wgs@test"),
        ("review.report_published", "admin@test"), ("review.closed", "wgs@test")]
    rec_log = AuditEntry.objects.filter(object_type="recommendation").values_list("action", flat=True)
    assert sorted(rec_log) == sorted(["recommendation.added"] * 2 + ["recommendation.in_progress",
                                      "recommendation.implemented", "recommendation.closed"])
    # the restricted text never enters the log
    assert not AuditEntry.objects.filter(payload__contains="scales").exists()


def test_the_team_needs_one_leader_before_the_visit(kp: Any) -> None:
    r = planned_visit(team=False)
    with pytest.raises(ValidationFailed) as no_team:
        services.record_visit(WGS, r.pk)
    assert no_team.value.code == "team_incomplete" and no_team.value.rule == "MON-03"
    services.add_team_member(WGS, r.pk, name="Lead", constituency="government", participant="AO", is_leader=True)
    with pytest.raises(Conflict) as second:
        services.add_team_member(WGS, r.pk, name="Other lead", constituency="government", participant="ZA",
                                 is_leader=True)
    assert second.value.code == "leader_exists"
    with pytest.raises(ValidationFailed) as nowhere:
        services.add_team_member(WGS, r.pk, name="Nobody", constituency="industry")
    assert nowhere.value.code == "affiliation_required"
    with pytest.raises(ValidationFailed):
        services.add_team_member(WGS, r.pk, name="X", constituency="press", organisation="Y")
    assert services.record_visit(WGS, r.pk).status == "visited"


def test_steps_out_of_order_and_bad_dates_are_refused(kp: Any) -> None:
    with pytest.raises(ValidationFailed) as backwards:
        services.create_review(WGS, kind="visit", participant="RU", mandate="m", starts_on=days_ago(1),
                               ends_on=days_ago(3))
    assert backwards.value.code == "invalid_dates"
    with pytest.raises(ValidationFailed):
        services.create_review(WGS, kind="visit", participant="RU", mandate="  ", starts_on=days_ago(3),
                               ends_on=days_ago(1))
    with pytest.raises(NotFound):
        services.create_review(WGS, kind="visit", participant="QQ", mandate="m", starts_on=days_ago(3),
                               ends_on=days_ago(1))
    r = planned_visit()
    with pytest.raises(Conflict):
        services.publish_report(WGS, r.pk, public_summary=PUBLIC)
    with pytest.raises(Conflict):
        services.add_recommendation(WGS, r.pk, text="t", owner="RU", due_on=days_ago(-5))
    future = services.create_review(WGS, kind="visit", participant="ZA", mandate="m", starts_on=days_ago(-5),
                                    ends_on=days_ago(-10))
    services.add_team_member(WGS, future.pk, name="L", constituency="government", participant="AO", is_leader=True)
    with pytest.raises(ValidationFailed) as early:
        services.record_visit(WGS, future.pk)
    assert early.value.code == "date_in_future"
    services.record_visit(WGS, r.pk, ends_on=days_ago(50))
    with pytest.raises(ValidationFailed):
        services.submit_report(WGS, r.pk, text=PRIVATE, on=days_ago(51))  # before the visit ended
    services.submit_report(WGS, r.pk, text=PRIVATE)
    with pytest.raises(Conflict):
        services.submit_report(WGS, r.pk, text=PRIVATE)
    assert Review.objects.get(pk=r.pk).ends_on == days_ago(50)


def test_overdue_flags_on_the_review(kp: Any) -> None:
    r = planned_visit()
    services.record_visit(WGS, r.pk)  # ended 55 days ago: the report was due 34 days ago
    data = services.review_dict(services.get_review(WGS, r.pk))
    assert data["report_overdue"] and data["publication_overdue"]
    services.submit_report(WGS, r.pk, text=PRIVATE)
    data = services.review_dict(services.get_review(WGS, r.pk))
    assert not data["report_overdue"] and data["publication_overdue"]


def test_who_may_read_and_manage(kp: Any) -> None:
    r = planned_visit()
    za = planned_visit(participant="ZA")
    assert services.get_review(RU_STATS, r.pk).pk == r.pk  # the reviewed participant reads its own review
    with pytest.raises(NotFound):
        services.get_review(RU_STATS, za.pk)
    assert [x.pk for x in services.search_reviews(RU_STATS)] == [r.pk]
    with pytest.raises(PermissionDenied):
        services.record_visit(RU_STATS, r.pk)
    with pytest.raises(PermissionDenied):
        services.create_review(ANALYST, kind="visit", participant="RU", mandate="m", starts_on=days_ago(3),
                               ends_on=days_ago(1))
    with pytest.raises(PermissionDenied):
        services.search_reviews(Actor("exp", grants=(Grant("exporting_officer", "RU", "RU-KPA"),)))


def test_the_public_sees_only_published_summaries(kp: Any) -> None:
    r = planned_visit()
    services.record_visit(WGS, r.pk)
    services.submit_report(WGS, r.pk, text=PRIVATE)
    assert list(services.published_reviews()) == []
    services.publish_report(WGS, r.pk, public_summary=PUBLIC)
    [shown] = [services.public_review_dict(x) for x in services.published_reviews()]
    assert shown["public_summary"] == PUBLIC and PRIVATE not in str(shown) and "mandate" not in shown


def test_a_finding_escalated_into_a_review_mission_links_both_ways(kp: Any) -> None:
    now = clock.now()
    f = Finding.objects.create(fingerprint="exports-exceed-supply|CG|2024|", rule="exports-exceed-supply",
                               participant="CG", period="2024", severity="high", summary="CG exports 1000×",
                               evidence={}, first_seen=now, last_seen=now)
    FindingEvent.objects.create(finding=f, to_status="open", by="test", at=now)
    args = {"mandate": "Assess whether CG meets the minimum requirements (MON-11).", "starts_on": days_ago(-25),
            "ends_on": days_ago(-30), "decision_reference": "Administrative decision 2026/3"}
    with pytest.raises(Conflict) as early:
        services.escalate_to_review(WGS, f.pk, **args)
    assert early.value.code == "not_escalated"
    services.escalate(WGS, f.pk, "exports far beyond production, three years running")
    with pytest.raises(PermissionDenied):
        services.escalate_to_review(SECRETARIAT, f.pk, **args)  # the secretariat reads no findings
    r = services.escalate_to_review(WGS, f.pk, **args)
    assert (r.kind, r.participant_id, r.decision_reference) == ("mission", "CG", "Administrative decision 2026/3")
    assert Finding.objects.get(pk=f.pk).review_id == r.pk
    assert services.review_dict(r, detail=True)["findings"] == [f.pk]
    with pytest.raises(Conflict) as twice:
        services.escalate_to_review(WGS, f.pk, **args)
    assert twice.value.code == "already_linked"
    assert AuditEntry.objects.filter(action="finding.review_opened", object_id=str(f.pk)).exists()


def test_annual_reports_are_shown_from_statistics(kp: Any) -> None:
    year = clock.today().year - 1
    statistics.record_annual_report(SYSTEM, "BW", year, received_on=dt.date(year + 1, 3, 1))  # historical record
    rows = {x["participant"]: x for x in services.annual_reports(WGS, year, as_of=dt.date(year + 1, 4, 1))}
    assert rows["BW"]["status"] == "received" and rows["BW"]["due_on"] == dt.date(year + 1, 3, 31)
    assert rows["ZA"]["status"] == "missing" and rows["ZA"]["received_on"] is None
    assert {x["participant"] for x in services.annual_reports(RU_STATS, year)} == {"RU"}
