"""Peer-review rules (MON-04): due dates, overdue flags, the review cycle, closing only when every recommendation
is implemented or closed. Pure functions: no database."""

from __future__ import annotations

import datetime as dt

from kpcs.monitoring import rules

VISIT_END = dt.date(2026, 3, 6)


def test_report_due_three_weeks_after_the_visit_and_published_three_weeks_later() -> None:
    assert rules.report_due(VISIT_END) == dt.date(2026, 3, 27)
    assert rules.publication_due(VISIT_END) == dt.date(2026, 4, 17)
    assert rules.report_due(dt.date(2025, 12, 20)) == dt.date(2026, 1, 10)  # across the year


def test_overdue_flags() -> None:
    due = rules.report_due(VISIT_END)
    published_due = rules.publication_due(VISIT_END)
    assert rules.review_flags("planned", VISIT_END, None, None, dt.date(2027, 1, 1)) == (False, False)
    assert rules.review_flags("visited", VISIT_END, None, None, due) == (False, False)  # the due day itself
    assert rules.review_flags("visited", VISIT_END, None, None, due + dt.timedelta(days=1)) == (True, False)
    late = published_due + dt.timedelta(days=1)
    assert rules.review_flags("visited", VISIT_END, None, None, late) == (True, True)
    assert rules.review_flags("report_submitted", VISIT_END, due, None, late) == (False, True)
    assert rules.review_flags("report_published", VISIT_END, due, published_due, late) == (False, False)
    # judged as of a day: a report submitted later was not in then
    assert rules.review_flags("report_submitted", VISIT_END, late, None, due + dt.timedelta(days=2)).report_overdue


def test_recommendation_overdue() -> None:
    day = dt.date(2026, 6, 30)
    assert not rules.recommendation_overdue("open", day, day)
    assert rules.recommendation_overdue("open", day, day + dt.timedelta(days=1))
    assert rules.recommendation_overdue("in_progress", day, day + dt.timedelta(days=1))
    assert not rules.recommendation_overdue("implemented", day, day + dt.timedelta(days=1))
    assert not rules.recommendation_overdue("closed", day, day + dt.timedelta(days=1))


def test_the_review_cycle() -> None:
    status = "planned"
    for action in ("record_visit", "submit_report", "publish_report", "close"):
        nxt = rules.next_review_status(status, action)
        assert nxt is not None, (status, action)
        status = nxt
    assert status == "closed"
    assert rules.next_review_status("planned", "publish_report") is None
    assert rules.next_review_status("closed", "close") is None
    assert set(rules.REVIEW_STATUSES) == {s for s, _ in rules.REVIEW_WORKFLOW} | {"closed"}


def test_a_review_closes_only_when_every_recommendation_is_done() -> None:
    assert rules.may_close_review([])
    assert rules.may_close_review(["implemented", "closed"])
    assert not rules.may_close_review(["implemented", "open"])
    assert not rules.may_close_review(["in_progress"])


def test_team_needs_members_and_exactly_one_leader() -> None:
    assert rules.team_problems(1, 5) == []
    assert rules.team_problems(0, 0) == ["the review team has no members",
                                         "the review team needs exactly one leader, not 0"]
    assert rules.team_problems(0, 3) == ["the review team needs exactly one leader, not 0"]


def test_recommendation_steps() -> None:
    assert rules.next_recommendation_status("open", "follow_up", "in_progress") == "in_progress"
    assert rules.next_recommendation_status("in_progress", "follow_up", "in_progress") == "in_progress"
    assert rules.next_recommendation_status("in_progress", "follow_up", "implemented") == "implemented"
    assert rules.next_recommendation_status("implemented", "follow_up", "in_progress") is None
    assert rules.next_recommendation_status("open", "follow_up", "closed") is None
    assert rules.next_recommendation_status("implemented", "close") == "closed"
    assert rules.next_recommendation_status("open", "close") == "closed"
    assert rules.next_recommendation_status("closed", "close") is None


def test_the_participant_comments_only_while_the_report_is_with_it() -> None:
    """MON-04: the report reaches the participant when submitted; its comments are posted with it."""
    assert rules.comment_refusal("report_submitted") is None
    assert rules.comment_refusal("planned") == "no_report"
    assert rules.comment_refusal("visited") == "no_report"
    assert rules.comment_refusal("report_published") == "comments_closed"
    assert rules.comment_refusal("closed") == "comments_closed"
    assert {s for s in rules.REVIEW_STATUSES if rules.comment_refusal(s) is None} == rules.COMMENTS_OPEN
