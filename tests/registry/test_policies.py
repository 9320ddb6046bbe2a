"""Date-effective participant policies (issue 8, item 1): certificate validity (CERT-09) and the import
confirmation deadline (IMP-02) in force on a day, recorded only as new rows, audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from typer.testing import CliRunner

from kpcs.audit.models import AuditEntry
from kpcs.errors import Conflict, PermissionDenied, ValidationFailed
from kpcs.registry import rules
from kpcs.registry.models import ParticipantPolicy

D = dt.date
P = rules.Policy


# --- rules ------------------------------------------------------------------------------------

def test_policy_on_picks_the_latest_policy_begun_on_or_before_the_day() -> None:
    history = [P(D(2003, 1, 1), 60, 15), P(D(2030, 7, 1), 30, 10), P(D(2031, 1, 1), 45, 20)]
    assert rules.policy_on(history, D(2030, 6, 30)) == history[0]
    assert rules.policy_on(history, D(2030, 7, 1)) == history[1]  # in force from its own day
    assert rules.policy_on(history, D(2030, 12, 31)) == history[1]
    assert rules.policy_on(list(reversed(history)), D(2040, 1, 1)) == history[2]  # order of the list is no matter


def test_before_any_policy_and_without_one_the_scheme_defaults_apply() -> None:
    assert rules.policy_on([], D(2020, 1, 1)) == rules.DEFAULT_POLICY
    assert rules.policy_on([P(D(2030, 1, 1), 30, 10)], D(2029, 12, 31)).validity_days == 60
    assert (rules.DEFAULT_POLICY.validity_days, rules.DEFAULT_POLICY.confirmation_days) == (60, 15)


@pytest.mark.parametrize(("validity", "confirmation", "code", "rule"), [
    (0, 15, "invalid_validity_days", "CERT-09"),
    (366, 15, "invalid_validity_days", "CERT-09"),
    (60, 0, "invalid_confirmation_days", "IMP-02"),
    (60, 121, "invalid_confirmation_days", "IMP-02"),
])
def test_policy_bounds_name_the_rule(validity: int, confirmation: int, code: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.check_policy(validity, confirmation)
    assert (exc.value.code, exc.value.rule) == (code, rule)


@pytest.mark.parametrize(("validity", "confirmation"), [(1, 1), (365, 120), (60, 15)])
def test_policy_bounds_accept_their_ends(validity: int, confirmation: int) -> None:
    rules.check_policy(validity, confirmation)


# --- the service --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_record_policy_adds_a_row_carries_what_is_not_given_and_audits(kp: Any) -> None:
    first = kp.record_policy(kp.SYSTEM, "za", D(2030, 1, 1), validity_days=30)
    assert (first.validity_days, first.confirmation_days) == (30, 15)  # confirmation carried (the default)
    second = kp.record_policy(kp.SYSTEM, "ZA", D(2031, 1, 1), confirmation_days=20)
    assert (second.validity_days, second.confirmation_days) == (30, 20)  # validity carried from 2030's
    assert kp.participant_policy("ZA", D(2029, 12, 31)) == P(rules.SCHEME_START, 60, 15)
    assert kp.participant_policy("ZA", D(2030, 6, 1)) == P(D(2030, 1, 1), 30, 15)
    assert kp.participant_policy("ZA", D(2031, 1, 1)) == P(D(2031, 1, 1), 30, 20)
    entry = AuditEntry.objects.filter(action="participant_policy.recorded", object_id=str(second.pk)).get()
    assert entry.participant == "ZA" and entry.actor == kp.SYSTEM.label


@pytest.mark.django_db
def test_a_policy_is_never_changed_in_place(kp: Any) -> None:
    kp.record_policy(kp.SYSTEM, "ZA", D(2030, 1, 1), validity_days=30)
    again = kp.record_policy(kp.SYSTEM, "ZA", D(2030, 1, 1), validity_days=30)  # the same: nothing new
    assert ParticipantPolicy.objects.filter(participant_id="ZA").count() == 1 and again.validity_days == 30
    with pytest.raises(Conflict) as exc:
        kp.record_policy(kp.SYSTEM, "ZA", D(2030, 1, 1), validity_days=40)
    assert exc.value.code == "policy_exists"
    earlier = kp.record_policy(kp.SYSTEM, "ZA", D(2029, 1, 1), validity_days=50)  # before: decides until 2030
    assert kp.participant_policy("ZA", D(2029, 6, 1)).validity_days == 50
    assert kp.participant_policy("ZA", D(2030, 6, 1)).validity_days == 30
    assert ParticipantPolicy.objects.get(participant_id="ZA", valid_from=D(2030, 1, 1)).validity_days == 30
    assert earlier.pk != again.pk


@pytest.mark.django_db
def test_record_policy_refuses_out_of_bounds_and_writes_nothing(kp: Any) -> None:
    with pytest.raises(ValidationFailed) as exc:
        kp.record_policy(kp.SYSTEM, "ZA", D(2030, 1, 1), validity_days=400)
    assert exc.value.rule == "CERT-09"
    assert not ParticipantPolicy.objects.filter(participant_id="ZA").exists()
    assert not AuditEntry.objects.filter(action="participant_policy.recorded").exists()


@pytest.mark.django_db
def test_only_the_node_operator_or_an_adopted_decision_records_a_policy(kp: Any) -> None:
    chair = kp.Actor("chair", grants=(kp.Grant("kp_chair", None, None),))
    officer = kp.Actor("officer", grants=(kp.Grant("exporting_officer", "ZA", "ZA-KPA"),))
    for actor in (chair, officer):
        with pytest.raises(PermissionDenied):
            kp.record_policy(actor, "ZA", D(2030, 1, 1), validity_days=30)
    with pytest.raises(PermissionDenied):
        kp.record_policy(officer, "ZA", D(2030, 1, 1), validity_days=30, decision=1)
    assert kp.record_policy(chair, "ZA", D(2030, 1, 1), validity_days=30, decision=1).decision_id == 1


@pytest.mark.django_db
def test_the_snapshot_sees_a_new_policy_at_once(kp: Any) -> None:
    assert kp.snapshot().policy_on("NA", D(2030, 1, 1)).validity_days == 60
    kp.record_policy(kp.SYSTEM, "NA", D(2030, 1, 1), validity_days=10)
    assert kp.snapshot().policy_on("NA", D(2030, 1, 1)).validity_days == 10


# --- API and CLI ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_participant_shows_the_policy_in_force_on_the_day_asked(api_as: Any, kp: Any) -> None:
    kp.record_policy(kp.SYSTEM, "ZA", D(2030, 1, 1), validity_days=30, confirmation_days=10)
    anonymous = api_as(None)
    before = anonymous.get("/participants/ZA", on="2029-12-31").json()
    after = anonymous.get("/participants/ZA", on="2030-01-01").json()
    assert (before["validity_days"], before["confirmation_days"]) == (60, 15)
    assert (after["validity_days"], after["confirmation_days"]) == (30, 10)
    assert after["policies"] == [{"valid_from": "2030-01-01", "validity_days": 30, "confirmation_days": 10}]
    listed = next(p for p in anonymous.get("/participants", on="2030-02-01", limit=500).json()["items"]
                  if p["code"] == "ZA")
    assert listed["validity_days"] == 30


@pytest.mark.django_db
def test_the_cli_records_a_policy_as_the_node_operator(kp: Any) -> None:
    from kpcs.cli import app

    result = CliRunner().invoke(app, ["participant", "policy", "za", "--from", "2030-01-01",
                                      "--validity-days", "30"])
    assert result.exit_code == 0, result.output
    assert "ZA from 2030-01-01" in result.output and "30 days" in result.output
    assert kp.participant_policy("ZA", D(2030, 1, 1)).validity_days == 30
    refused = CliRunner().invoke(app, ["participant", "policy", "ZA", "--from", "2031-01-01",
                                       "--confirmation-days", "500"])
    assert refused.exit_code == 1 and "IMP-02" in refused.output
    listed = CliRunner().invoke(app, ["participant", "policies", "ZA"])
    assert listed.exit_code == 0 and "ZA from 2030-01-01: validity 30 days" in listed.output
