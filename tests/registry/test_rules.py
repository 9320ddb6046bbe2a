"""Registry rules: date-effective status, trade eligibility, licences, keys, permissions."""

from __future__ import annotations

import datetime as dt

from kpcs.registry import rules

CG = [rules.StatusPeriod("removed", dt.date(2004, 7, 9), dt.date(2007, 11, 8))]


def test_status_is_judged_on_the_day() -> None:
    assert rules.status_on(CG, dt.date(2004, 7, 8)) is None
    assert rules.status_on(CG, dt.date(2004, 7, 9)).status == "removed"
    assert rules.status_on(CG, dt.date(2007, 11, 7)).status == "removed"
    assert rules.status_on(CG, dt.date(2007, 11, 8)) is None


def test_overlapping_statuses_the_most_restrictive_wins() -> None:
    history = [rules.StatusPeriod("restricted", dt.date(2015, 1, 1), None),
               rules.StatusPeriod("suspended", dt.date(2016, 1, 1), dt.date(2017, 1, 1))]
    assert rules.status_on(history, dt.date(2016, 6, 1)).status == "suspended"
    assert rules.status_on(history, dt.date(2017, 6, 1)).status == "restricted"


def test_trade_eligibility() -> None:
    assert rules.may_trade("active") and rules.may_trade("restricted") and rules.may_trade("embargoed")
    assert not any(rules.may_trade(s) for s in ("suspended", "self_suspended", "removed"))
    assert not rules.may_export("embargoed")


def test_licence_validity_window_is_inclusive() -> None:
    assert rules.licence_valid(dt.date(2025, 1, 1), dt.date(2025, 12, 31), dt.date(2025, 12, 31))
    assert not rules.licence_valid(dt.date(2025, 1, 1), dt.date(2025, 12, 31), dt.date(2026, 1, 1))
    assert not rules.licence_valid(dt.date(2025, 1, 1), None, dt.date(2024, 12, 31))


def test_key_judged_at_signing_time() -> None:
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    revoked = t0 + dt.timedelta(days=10)
    assert rules.key_valid_at(t0, None, revoked, t0 + dt.timedelta(days=9))
    assert not rules.key_valid_at(t0, None, revoked, revoked)
    assert not rules.key_valid_at(t0, t0 + dt.timedelta(days=5), None, t0 + dt.timedelta(days=6))
    assert not rules.key_valid_at(t0, None, None, t0 - dt.timedelta(seconds=1))


def test_country_codes() -> None:
    assert rules.is_country_code("BW") and not rules.is_country_code("EU") and rules.is_participant_code("EU")
    assert not rules.is_country_code("XX") and not rules.is_country_code("bw")


def test_role_permissions() -> None:
    assert rules.role_may("exporting_officer", "certificate.issue")
    assert not rules.role_may("importing_officer", "certificate.issue")
    assert rules.role_may("importing_officer", "certificate.confirm")
    assert not rules.role_may("admin", "certificate.read")
    assert rules.role_may("kp_analyst", "certificate.read")


def test_no_write_spans_participants_unless_listed_with_its_reason() -> None:
    """Reading across participants never implies writing for them (issue: trust that holds, 6)."""
    for action, roles in rules.PERMISSIONS.items():
        for role, scope in roles.items():
            assert scope in (rules.OWN, rules.ALL), (action, role)
            if scope == rules.ALL and not action.endswith(".read"):
                assert (action, role) in rules.WRITES_ACROSS_PARTICIPANTS, (action, role)
    assert rules.role_scope("admin", "operator.read") == rules.ALL
    assert rules.role_scope("admin", "operator.write") is None


def test_anonymous_caller_may_do_nothing_and_is_not_the_system() -> None:
    from kpcs.registry.services import ANONYMOUS, SYSTEM, Actor, Grant

    assert ANONYMOUS.label != SYSTEM.label
    for action in rules.PERMISSIONS:
        assert not ANONYMOUS.may(action) and not ANONYMOUS.may(action, "BW")
        assert ANONYMOUS.participants_for(action) == set()
        assert SYSTEM.may(action, "BW")
    analyst = Actor("a", grants=(Grant("kp_analyst", None, None),))
    assert analyst.may("certificate.read", "ZA") and not analyst.may("certificate.issue", "ZA")
    officer = Actor("o", grants=(Grant("exporting_officer", "BW", "BW-KPA"), Grant("kp_analyst", None, None)))
    assert officer.participants_for("certificate.issue") == {"BW"}  # reading everything widens no write
