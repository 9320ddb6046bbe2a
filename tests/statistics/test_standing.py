"""Reporting obligations follow admission and status periods (issue 8, item 4; STAT-10, SPEC-07, GOV-05)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kpcs.registry.rules import StatusPeriod
from kpcs.registry.services import SYSTEM, Actor, Grant
from kpcs.statistics import rules, services
from kpcs.statistics.models import Batch

D = dt.date
S = StatusPeriod
Q = rules.parse_period
# GB admitted on 1 January 2021 (admissions.csv); CG removed 9 July 2004 - 9 November 2007 (SPEC-05);
# VE self-suspended 1 June 2008 - 17 November 2016 (SPEC-02)
GB = [S("non_participant", D(2003, 1, 1), D(2021, 1, 1), "before admission")]
CG = [S("removed", D(2004, 7, 9), D(2007, 11, 9), "all trade")]
VE = [S("self_suspended", D(2008, 6, 1), D(2016, 11, 17), "all trade")]
APPLICANT = [S("non_participant", D(2003, 1, 1), None, "not admitted"), S("applicant", D(2030, 2, 1), None)]


# --- rules ------------------------------------------------------------------------------------

def test_statuses_during_a_period_include_every_change_inside_it() -> None:
    assert rules.statuses_during(CG, D(2004, 7, 1), D(2004, 9, 30)) == {"active", "removed"}
    assert rules.statuses_during(CG, D(2005, 1, 1), D(2005, 12, 31)) == {"removed"}
    assert rules.statuses_during(CG, D(2007, 10, 1), D(2007, 12, 31)) == {"removed", "active"}
    assert rules.statuses_during([], D(2010, 1, 1), D(2010, 3, 31)) == {"active"}
    assert rules.statuses_during(GB, D(2020, 10, 1), D(2020, 12, 31)) == {"non_participant"}


def test_nothing_is_owed_before_admission() -> None:
    for kind in rules.OBLIGATION_KINDS:
        assert not rules.owes(kind, GB, Q("2020-Q4") if kind == "trade" else Q("2020-H2"))
        assert rules.owes(kind, GB, Q("2021-Q1") if kind == "trade" else Q("2021-H1"))
    assert not rules.owes("annual_report", GB, Q("2020"))
    assert rules.owes("annual_report", GB, Q("2021"))


def test_a_period_with_one_day_as_a_participant_is_owed() -> None:
    mid = [S("non_participant", D(2003, 1, 1), D(2024, 11, 15), "before admission")]  # Uzbekistan
    assert rules.owes("trade", mid, Q("2024-Q4")) and rules.owes("annual_report", mid, Q("2024"))
    assert not rules.owes("trade", mid, Q("2024-Q3"))
    last_day = [S("removed", D(2030, 1, 2), None)]
    assert rules.owes("trade", last_day, Q("2030-Q1"))  # a participant on 1 January
    assert not rules.owes("trade", last_day, Q("2030-Q2"))


def test_nothing_is_owed_while_removed_or_as_an_applicant() -> None:
    assert not rules.owes("trade", CG, Q("2005-Q1"))
    assert not rules.owes("production", CG, Q("2006-H2"))
    assert not rules.owes("annual_report", CG, Q("2005"))
    assert rules.owes("annual_report", CG, Q("2004")) and rules.owes("annual_report", CG, Q("2007"))
    assert rules.owes("trade", CG, Q("2007-Q4"))  # readmitted on 9 November
    assert not rules.owes("trade", APPLICANT, Q("2030-Q2"))
    assert not rules.owes("annual_report", APPLICANT, Q("2030"))


def test_suspension_throughout_lifts_the_trade_obligation_only() -> None:
    assert not rules.owes("trade", VE, Q("2010-Q1"))
    assert not rules.owes("trade", VE, Q("2010"))
    assert rules.owes("production", VE, Q("2010-H1"))  # still a participant
    assert rules.owes("annual_report", VE, Q("2010"))
    assert rules.owes("trade", VE, Q("2008-Q2"))  # could trade in April and May
    assert rules.owes("trade", VE, Q("2016-Q4"))
    suspended = [S("suspended", D(2013, 5, 23), D(2015, 7, 17), "all trade")]  # CAR (SPEC-03)
    assert not rules.owes("trade", suspended, Q("2014-Q2")) and rules.owes("trade", suspended, Q("2015-Q3"))


def test_embargo_and_restriction_still_owe_everything() -> None:
    embargoed = [S("embargoed", D(2005, 1, 1), D(2014, 4, 29), "exports")]
    restricted = [S("restricted", D(2015, 7, 17), None, "compliant zones")]
    assert rules.owes("trade", embargoed, Q("2010-Q1")) and rules.owes("trade", restricted, Q("2016-Q1"))


def test_unknown_standing_and_the_time_before_the_scheme() -> None:
    assert rules.owes("trade", None, Q("2000-Q1"))  # a code the registry does not hold: not judged
    assert not rules.owes("trade", [], Q("2002-Q4"))  # the scheme began on 1 January 2003 (GOV-13)
    assert not rules.owes("annual_report", [], Q("2002"))
    assert rules.owes("trade", [], Q("2003-Q1"))
    with pytest.raises(ValueError):
        rules.owes("minutes", [], Q("2010"))


# --- services ---------------------------------------------------------------------------------------

NODE = Actor("test node", grants=(Grant("wgs_analyst", None, None), Grant("admin", None, None)))


def _import(arrived: dt.date, *lines: str) -> None:
    services.import_csv(("\n".join((",".join(rules.COLUMNS), *lines)) + "\n").encode(), actor=NODE)
    Batch.objects.update(created_at=dt.datetime(arrived.year, arrived.month, arrived.day, tzinfo=dt.UTC))


@pytest.mark.django_db
def test_obligations_start_at_admission(kp: Any) -> None:
    """GB reported for 2020 (as part of a file) but was admitted on 1 January 2021: 2020 is not owed."""
    _import(D(2021, 9, 1), "2020-Q1,GB,import,BW,,,10.00,100.00,1", "2021-Q1,GB,import,BW,,,10.00,100.00,1")
    services.record_annual_report(SYSTEM, "GB", 2020, D(2021, 3, 1))  # a historical receipt, loaded (STAT-11)
    owed = {(o["kind"], o["period"]) for o in services.obligations("GB", D(2021, 12, 15), years=[2020, 2021])}
    assert not {p for k, p in owed if p.startswith("2020")}
    assert ("trade_quarterly", "2021-Q2") in owed and ("annual_report", "2021") in owed


@pytest.mark.django_db
def test_the_public_list_leaves_out_years_of_suspension(kp: Any) -> None:
    """Venezuela, self-suspended from June 2008, owes no trade figures for 2009 (STAT-10, SPEC-02); Botswana
    does."""
    _import(D(2008, 4, 15), "2008-Q1,VE,export,BW,,,10.00,100.00,1", "2008-Q1,BW,import,VE,,,10.00,100.00,1")
    listed = {r["participant"]: r["missing"] for r in services.non_reporting(D(2009, 12, 31))}
    assert listed["VE"] == ["trade_quarterly 2008-Q2"]  # nothing after: self-suspended throughout
    assert listed["BW"] == [f"trade_quarterly {p}" for p in ("2008-Q2", "2008-Q3", "2008-Q4", "2009-Q1",
                                                             "2009-Q2", "2009-Q3")]
    ve = {o["period"]: o["status"] for o in services.obligations("VE", D(2009, 12, 31), years=[2008, 2009])}
    assert ve == {"2008-Q1": "received", "2008-Q2": "missing"}  # it could trade until 1 June 2008
