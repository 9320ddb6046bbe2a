"""Certificates judged by the exporting participant's policy in force on the issue day (CERT-09, IMP-02)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs.certificates import services
from kpcs.errors import ValidationFailed
from kpcs.monitoring import services as monitoring
from tests.conftest import certificate_request

pytestmark = pytest.mark.django_db
D = dt.date
CHANGE = D(2030, 7, 1)  # Botswana shortens validity to 30 days and its confirmation deadline to 5 days


def at(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 10, tzinfo=dt.UTC)


@pytest.fixture
def changed(kp: Any) -> Any:
    kp.record_policy(kp.SYSTEM, "BW", CHANGE, validity_days=30, confirmation_days=5)
    return kp


def test_a_certificate_gets_the_longest_validity_of_the_policy_on_its_issue_day(bw_officer: Any,
                                                                               changed: Any) -> None:
    """CERT-09: 60 days the day before the change, 30 from it on."""
    before = services.issue(bw_officer, certificate_request(), now=at(CHANGE - dt.timedelta(days=1)))
    assert before.expires_on == CHANGE - dt.timedelta(days=1) + dt.timedelta(days=60)
    after = services.issue(bw_officer, certificate_request(), now=at(CHANGE))
    assert after.expires_on == CHANGE + dt.timedelta(days=30)
    with pytest.raises(ValidationFailed) as exc:
        services.issue(bw_officer, certificate_request(expires_on=(CHANGE + dt.timedelta(days=45)).isoformat()),
                       now=at(CHANGE))
    assert exc.value.rule == "CERT-09"
    ok = services.issue(bw_officer, certificate_request(expires_on=(CHANGE + dt.timedelta(days=44)).isoformat()),
                        now=at(CHANGE - dt.timedelta(days=1)))
    assert ok.expires_on == CHANGE + dt.timedelta(days=44)


def test_overdue_is_judged_by_the_deadline_in_force_on_the_issue_day(bw_officer: Any, changed: Any) -> None:
    """IMP-02: a certificate issued before the change keeps 15 days, one issued after gets 5."""
    old = services.issue(bw_officer, certificate_request(), now=at(CHANGE - dt.timedelta(days=1)))
    new = services.issue(bw_officer, certificate_request(), now=at(CHANGE))
    day = CHANGE + dt.timedelta(days=10)
    old_data, new_data = services.to_dict(old, today=day), services.to_dict(new, today=day)
    assert old_data["confirmation_due_on"] == CHANGE - dt.timedelta(days=1) + dt.timedelta(days=15)
    assert new_data["confirmation_due_on"] == CHANGE + dt.timedelta(days=5)
    assert (old_data["overdue"], new_data["overdue"]) == (False, True)
    assert [c.number for c in services.search(bw_officer, overdue=True, today=day)] == [new.number]
    assert [c.number for c in services.search(bw_officer, overdue=False, today=day)] == [old.number]
    late = monitoring.overdue_certificates(day)
    assert [(o.number, o.due_on) for o in late] == [(new.number, CHANGE + dt.timedelta(days=5))]


def test_the_list_page_shows_each_certificate_s_own_deadline(bw_officer: Any, changed: Any) -> None:
    from kpcs.certificates.views import _rows

    old = services.issue(bw_officer, certificate_request(), now=at(CHANGE - dt.timedelta(days=1)))
    new = services.issue(bw_officer, certificate_request(), now=at(CHANGE))
    rows = {r["number"]: r for r in _rows([old, new], CHANGE + dt.timedelta(days=10))}
    assert rows[old.number]["due_on"] == CHANGE + dt.timedelta(days=14)
    assert (rows[old.number]["overdue"], rows[new.number]["overdue"]) == (False, True)
