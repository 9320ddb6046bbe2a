"""Governance rules, without a database (GOV-02, GOV-03, GOV-05, GOV-07)."""

from __future__ import annotations

import datetime as dt

from kpcs.governance import rules
from kpcs.governance.rules import Stance

D = dt.date
T = dt.datetime(2025, 11, 1, 10, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def test_one_objection_blocks_consensus() -> None:
    stances = [Stance("BW", "support", at(0)), Stance("ZA", "object", at(1)), Stance("EU", "abstain", at(2))]
    assert not rules.consensus(stances)
    assert rules.objectors(stances) == ["ZA"]


def test_silence_and_abstention_do_not_block() -> None:
    assert rules.consensus([])
    assert rules.consensus([Stance("EU", "abstain", at(0)), Stance("BW", "comment", at(1))])


def test_an_observer_cannot_block() -> None:
    assert rules.recorded_position("object", observer=True) == "comment"
    assert rules.recorded_position("object", observer=False) == "object"
    assert rules.consensus([Stance("observer:wdc", "object", at(0), counts=False)])


def test_a_later_position_supersedes_an_earlier_one() -> None:
    assert rules.consensus([Stance("ZA", "object", at(0)), Stance("ZA", "support", at(5))])
    assert not rules.consensus([Stance("ZA", "support", at(0)), Stance("ZA", "object", at(5))])
    same_time = [Stance("ZA", "object", at(0), seq=1), Stance("ZA", "support", at(0), seq=2)]
    assert rules.current_positions(same_time)["ZA"].position == "support"


def test_written_procedure_closes_the_day_after_its_deadline() -> None:
    deadline = D(2013, 5, 22)
    assert rules.written_outcome(deadline, deadline, []) == "pending"
    assert rules.written_outcome(deadline, D(2013, 5, 23), []) == "adopted"
    assert rules.written_outcome(deadline, D(2013, 5, 23), [Stance("ZA", "object", at(0))]) == "rejected"
    assert rules.written_outcome(deadline, D(2013, 5, 23),
                                 [Stance("observer:csc", "object", at(0), counts=False)]) == "adopted"


def test_amendments_90_days_before_the_plenary() -> None:
    plenary = D(2025, 11, 10)
    assert rules.amendment_in_time(plenary - dt.timedelta(days=90), plenary)
    assert not rules.amendment_in_time(plenary - dt.timedelta(days=89), plenary)


def test_the_vice_chair_becomes_chair_on_1_january() -> None:
    chairs = {2024: ("AE", None), 2025: ("AE", "TH")}
    assert rules.chair_on(D(2025, 12, 31), chairs) == ("AE", "TH")
    assert rules.chair_on(D(2026, 1, 1), chairs) == ("TH", None)
    assert rules.chair_on(D(2016, 6, 1), {2015: ("AO", "AE"), 2016: ("AE", "AU")}) == ("AE", "AU")


def test_applications_are_circulated_within_a_month() -> None:
    assert rules.circulation_due(D(2024, 1, 31)) == D(2024, 2, 29)
    assert rules.circulation_due(D(2024, 12, 15)) == D(2025, 1, 15)
