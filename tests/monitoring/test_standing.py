"""The anomaly rules judge a participant only as one (issue 8, item 4; SPEC-07, GOV-05, STAT-09, STAT-10):
trade with a participant before its admission is found; its own figures from before are no baseline."""

from __future__ import annotations

import datetime as dt

from kpcs.monitoring import rules
from kpcs.registry.rules import StatusPeriod
from tests.monitoring.test_rules import AS_OF, ORDINARY, fact, producer_years

D = dt.date
# Uzbekistan admitted 15 November 2024 (admissions.csv), as the snapshot judges it: a non-participant before
UZ = {"UZ": [StatusPeriod("non_participant", D(2003, 1, 1), D(2024, 11, 15), "before admission")]}


def test_trade_with_a_participant_before_its_admission_is_embargoed_trade() -> None:
    facts = [fact("2023-Q2", "BW", "export", "1000.00", "90000.00", partner="UZ", origin="BW", certificates=2),
             fact("2024-Q4", "BW", "export", "1000.00", "90000.00", partner="UZ", origin="BW", certificates=2),
             fact("2025-Q1", "BW", "export", "1000.00", "90000.00", partner="UZ", origin="BW", certificates=2)]
    found = sorted((f.participant, f.period, f.subject, f.severity)
                   for f in rules.embargoed_trade(facts, UZ, rules.Thresholds()))
    # the whole of 2023-Q2 before admission: high; 2024-Q4 only partly (admitted on 15 November): low
    assert found == [("BW", "2023", "UZ", "high"), ("BW", "2024", "UZ", "low")]
    assert "non_participant" in next(f for f in rules.embargoed_trade(facts, UZ, rules.Thresholds())).summary


def test_a_non_participant_trading_itself_is_found_once_analysed() -> None:
    facts = [*ORDINARY, fact("2022-Q1", "UZ", "export", "5000.00", "400000.00", partner="AE", origin="UZ")]
    found = [(f.participant, f.period, f.subject) for f in rules.analyse(facts, as_of=AS_OF, statuses=UZ)
             if f.rule == "embargoed-trade"]
    assert found == [("UZ", "2022", "UZ")]


def test_years_before_admission_are_no_baseline_for_a_volume_spike() -> None:
    """UZ's production before admission (20 M ct, not as a participant) against 2 M ct from 2025: as a
    participant it has no history yet, so no collapse is reported; without standing the rule would see one."""
    before = producer_years("UZ", range(2020, 2025), 20_000_000, 100)
    after = producer_years("UZ", range(2025, 2026), 2_000_000, 100)
    facts = [*ORDINARY, *[f for f in before if f.participant == "UZ"],
             *[f for f in after if f.participant == "UZ"]]
    blind = [f for f in rules.analyse(facts, as_of=AS_OF) if f.participant == "UZ" and f.rule == "volume-spike"]
    assert blind  # the rule does fire on such figures when standing is ignored
    judged = [f for f in rules.analyse(facts, as_of=AS_OF, statuses=UZ)
              if f.participant == "UZ" and f.rule in ("volume-spike", "price-outlier", "exports-exceed-supply")]
    assert judged == []


def test_no_report_is_missing_for_periods_before_admission_or_while_removed() -> None:
    cg = {"CG": [StatusPeriod("removed", D(2017, 7, 9), D(2019, 11, 9), "all trade")]}
    facts = [f for f in ORDINARY if f.participant != "CG"]
    # CG reports every quarter but those spent removed throughout (2017-Q4 .. 2019-Q3: nothing owed then)
    for y in range(2015, 2026):
        for q in range(1, 5):
            start = D(y, 3 * q - 2, 1)
            if D(2017, 10, 1) <= start <= D(2019, 7, 1):
                continue
            facts.append(fact(f"{y}-Q{q}", "CG", "export", "100.00", "9000.00", partner="AE", origin="CG"))
    blind = {f.period for f in rules.analyse(facts, as_of=AS_OF) if f.rule == "missing-report"
             and f.participant == "CG"}
    assert blind == {"2017", "2018", "2019"}
    judged = [f for f in rules.analyse(facts, as_of=AS_OF, statuses=cg, annual_reports_from=2015)
              if f.rule == "missing-report" and f.participant == "CG"]
    # nothing for 2017-2019 trade; annual reports are owed for the years with a day as a participant, 2018 not
    assert [(f.period, f.evidence["missing"]) for f in judged if f.period in ("2017", "2018", "2019")] == [
        ("2017", {"annual report": ["annual report 2017"]}), ("2019", {"annual report": ["annual report 2019"]})]


def test_suspended_throughout_owes_no_trade_report() -> None:
    ve = {"VE": [StatusPeriod("self_suspended", D(2008, 6, 1), D(2016, 11, 17), "all trade")]}
    facts = [fact(f"2008-Q{q}", "VE", "export", "100.00", "9000.00", partner="AE", origin="VE") for q in (1, 2)]
    facts += [fact(f"{y}-Q{q}", "BW", "export", "100.00", "9000.00", partner="AE", origin="BW")
              for y in range(2008, 2011) for q in range(1, 5)]
    judged = [f for f in rules.analyse(facts, as_of=D(2011, 6, 1), statuses=ve)
              if f.rule == "missing-report" and f.participant == "VE"]
    assert judged == []
    blind = [f for f in rules.analyse(facts, as_of=D(2011, 6, 1)) if f.rule == "missing-report"
             and f.participant == "VE"]
    assert {f.period for f in blind} == {"2008", "2009", "2010"}
