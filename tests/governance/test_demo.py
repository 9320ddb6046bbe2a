"""The demo's year of governance: through the services, and idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from kpcs import clock, demo
from kpcs.governance import admission
from kpcs.governance.models import Application, Decision, Meeting, Position, WorkingGroupMember
from kpcs.monitoring.models import Review, ReviewComment
from kpcs.registry import services as registry

pytestmark = pytest.mark.django_db


def test_the_demo_holds_a_year_of_governance_once(kp: Any) -> None:
    demo._ensure_users()
    demo._ensure_governance(clock.now())
    demo._ensure_governance(clock.now())  # twice: nothing added twice
    assert Meeting.objects.count() == 1
    assert sorted(Decision.objects.values_list("status", "procedure")) == [
        ("adopted", "plenary"), ("adopted", "plenary"), ("adopted", "plenary"), ("proposed", "written")]
    written = Decision.objects.get(status="proposed")
    assert (written.deadline - clock.today()).days == 14
    assert list(Position.objects.filter(decision=written).values_list("participant_id", "position")) == [
        ("BW", "support")]
    page = Client().get("/governance/decisions").content.decode()
    assert "Final communiqué" in page and "electronic statistics" not in page


def test_the_plenary_gives_the_uae_a_longer_confirmation_deadline_in_force_today(kp: Any) -> None:
    """IMP-02 through a decision: the policy in force today is the decision's, the day before its effect the
    scheme's default."""
    demo._ensure_users()
    demo._ensure_governance(clock.now())
    decision = Decision.objects.get(policy__isnull=False)
    assert (decision.participant_id, decision.status, decision.policy) == (
        demo.POLICY_PARTICIPANT, "adopted", {"confirmation_days": demo.POLICY_CONFIRMATION_DAYS})
    assert decision.effective_on <= clock.today()
    today = registry.participant_policy(demo.POLICY_PARTICIPANT, clock.today())
    before = registry.participant_policy(demo.POLICY_PARTICIPANT, decision.effective_on - dt.timedelta(days=1))
    assert (today.confirmation_days, before.confirmation_days) == (demo.POLICY_CONFIRMATION_DAYS, 15)


def test_an_application_waits_for_the_committee_once(kp: Any) -> None:
    """GOV-05: received, circulated within the month, no recommendation yet."""
    now = clock.now()
    demo._ensure_application(now)
    demo._ensure_application(now)
    application = Application.objects.get()
    facts = admission.as_dict(application)
    assert (facts["code"], facts["stage"], facts["circulation"]["late"]) == ("SS", "circulated", False)
    assert facts["recommendation"] is None and facts["admitted_on"] is None


def test_a_second_run_gives_the_applicant_no_signing_key(kp: Any) -> None:
    """The applicant's authority is made with it; an applicant cannot trade (GOV-05, EXP-01), so no key."""
    from kpcs.registry.models import SigningKey

    demo._ensure_application(clock.now())
    demo._ensure_keys(clock.now())
    assert not SigningKey.objects.filter(authority__participant_id="SS").exists()
    assert SigningKey.objects.filter(authority__participant_id="BW").exists()


def test_every_working_group_has_members_and_one_chair_once(kp: Any) -> None:
    """GOV-02: the five groups and committees, participants and observers, a chair each."""
    demo._ensure_groups(clock.today())
    count = WorkingGroupMember.objects.count()
    demo._ensure_groups(clock.today())
    assert WorkingGroupMember.objects.count() == count
    groups = admission.working_groups(clock.today())
    assert len(groups) == 5
    for group in groups:
        roles = [m["role"] for m in group["members"]]
        assert roles.count("chair") == 1, group["code"]
        assert any(m["observer"] for m in group["members"]) and any(m["participant"] for m in group["members"])
    page = Client().get("/governance/working-groups").content.decode()
    assert "World Diamond Council" in page


def test_south_africa_comments_on_its_review_report_and_the_published_review_stays_published(kp: Any) -> None:
    """MON-04: the comment goes on a report still `report_submitted`; the RU review stays published."""
    demo._ensure_users()
    today = clock.today()
    demo._ensure_review(today)
    demo._ensure_review_with_comment(today)
    demo._ensure_review_with_comment(today)
    assert sorted(Review.objects.values_list("participant_id", "status")) == [
        ("RU", "report_published"), ("ZA", "report_submitted")]
    comment = ReviewComment.objects.get()
    assert comment.participant_id == "ZA" and comment.author.startswith("za.delegate@demo.kpcs")
