"""customs-mirror-discrepancy (issue 10, MON-09, STAT-02, STAT-07): KP figures in US$ against customs HS 7102
values per participant, year and flow; thresholds, the side that is missing, EU member states summed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kpcs.monitoring import rules
from kpcs.registry.rules import StatusPeriod
from kpcs.statistics.rules import CustomsFact, parse_period

AS_OF = dt.date(2026, 11, 29)
D = Decimal
TH = rules.Thresholds()


def kp(participant: str, flow: str, year: int, usd: str | None, carats: str | None = "1000000") -> rules.Fact:
    return rules.Fact(parse_period(str(year)), participant, flow, "", "", "", None if carats is None else D(carats),
                      None if usd is None else D(usd), None, "imported (kp.csv row 2)")


def customs(participant: str, flow: str, year: int, usd: str, iso2: str | None = None,
            hs: str = "7102.31") -> CustomsFact:
    return CustomsFact(participant, year, flow, D(usd), iso2 or participant, hs, "customs (trade.csv, batch 7)")


def found(facts: list[rules.Fact], values: list[CustomsFact], **kw: object) -> list[rules.Finding]:
    return rules.customs_discrepancies(rules.YearlyView(facts), values, TH, AS_OF, **kw)  # type: ignore[arg-type]


def test_within_the_tolerance_is_no_finding() -> None:
    # 20 % apart: ordinary (valuation, timing, coverage differ between customs and the KP)
    assert found([kp("BW", "export", 2024, "5000000000")], [customs("BW", "export", 2024, "4000000000")]) == []


@pytest.mark.parametrize(("customs_usd", "severity"), [("3600000000", "low"), ("3000000000", "medium"),
                                                        ("2000000000", "high"), ("12000000000", "high")])
def test_beyond_the_tolerance_quotes_both_figures_and_sources(customs_usd: str, severity: str) -> None:
    [f] = found([kp("BW", "export", 2024, "5000000000")],
                [customs("BW", "export", 2024, customs_usd, hs="7102.31"),
                 customs("BW", "export", 2024, "0", hs="7102.21")])
    assert (f.rule, f.participant, f.period, f.subject, f.severity) == (
        "customs-mirror-discrepancy", "BW", "2024", "export", severity)
    assert "US$5,000,000,000" in f.summary and f"US${D(customs_usd):,.0f}" in f.summary
    assert f.evidence["kp_reports"]["usd"] == "5000000000.00"
    assert f.evidence["kp_reports"]["from"] == ["2024: imported (kp.csv row 2)"]
    assert f.evidence["customs_reports"]["usd"] == f"{D(customs_usd):.2f}"
    assert f.evidence["customs_reports"]["from"] == ["customs (trade.csv, batch 7)"]
    assert f.evidence["not_compared"] == {"carats": "customs figures give values only"}
    assert f.evidence["approximate"] is False


def test_a_large_gap_in_a_small_trade_is_below_the_absolute_minimum() -> None:
    # 60 % apart but US$6 million: under customs_min_usd (US$10 million)
    assert found([kp("LS", "export", 2024, "10000000")], [customs("LS", "export", 2024, "4000000")]) == []
    assert found([kp("LS", "export", 2024, "30000000")], [customs("LS", "export", 2024, "12000000")]) != []


def test_missing_on_one_side_is_not_compared() -> None:
    facts = [kp("BW", "export", 2024, "5000000000"), kp("NA", "export", 2024, None, carats="2000000"),
             kp("ZA", "export", 2024, "3000000000")]
    values = [customs("CD", "export", 2024, "900000000"), customs("NA", "export", 2024, "1000000000"),
              customs("ZA", "export", 2024, "0")]
    assert found(facts, values) == []
    reasons = {(c.participant, c.flow): c.reason for c in rules.customs_comparisons(rules.YearlyView(facts), values,
                                                                                      TH, AS_OF)}
    assert reasons == {("BW", "export"): "no customs figure", ("CD", "export"): "no KP figure in US$",
                       ("NA", "export"): "the KP figure gives no value in US$",
                       ("ZA", "export"): "customs report zero (no report)"}


def test_export_and_import_are_compared_apart() -> None:
    facts = [kp("AE", "export", 2024, "12000000000"), kp("AE", "import", 2024, "10000000000")]
    values = [customs("AE", "export", 2024, "11500000000"), customs("AE", "import", 2024, "4000000000")]
    [f] = found(facts, values)
    assert (f.subject, f.severity) == ("import", "high")


def test_eu_member_states_add_up_to_the_eu_and_the_comparison_is_approximate() -> None:
    facts = [kp("EU", "import", 2024, "10000000000")]
    # Belgium and Germany together 30 % above the KP's EU figure: intra-EU trade, within the EU's tolerance
    ordinary = [customs("EU", "import", 2024, "11000000000", "BE"), customs("EU", "import", 2024, "2000000000", "DE")]
    assert found(facts, ordinary) == []
    [c] = rules.customs_comparisons(rules.YearlyView(facts), ordinary, TH, AS_OF)
    assert (c.customs, c.reporters, c.approximate) == (D("13000000000"), ["BE", "DE"], True)
    # 60 % apart: a finding, one severity lower than the same gap of a single reporter, saying why
    far = [customs("EU", "import", 2024, "4000000000", "BE"), customs("EU", "import", 2024, "0", "DE")]
    [f] = found(facts, far)
    assert f.severity == "medium" and f.evidence["approximate"] is True
    assert "intra" not in f.evidence["approximate_why"] and "between member states" in f.evidence["approximate_why"]
    assert f.evidence["customs_reports"]["reporters"] == ["BE", "DE"]
    assert f.evidence["tolerance"] == str(TH.customs_tolerance_eu)


def test_a_year_not_yet_complete_is_not_compared() -> None:
    facts = [kp("BW", "export", 2026, "5000000000")]
    values = [customs("BW", "export", 2026, "1000000000")]
    assert found(facts, values) == []
    assert rules.customs_discrepancies(rules.YearlyView(facts), values, TH, None) != []


def test_analyse_runs_the_rule_and_leaves_out_a_year_taken_part_in_only_partly() -> None:
    facts = [kp("BW", "export", 2024, "5000000000"), kp("KG", "export", 2024, "500000000")]
    values = [customs("BW", "export", 2024, "1000000000"), customs("KG", "export", 2024, "100000000")]
    joined = {"KG": [StatusPeriod("non_participant", dt.date(2003, 1, 1), dt.date(2024, 7, 1), "")]}
    result = rules.analyse(facts, as_of=AS_OF, customs=values, statuses=joined)
    assert [f.participant for f in result if f.rule == "customs-mirror-discrepancy"] == ["BW"]
    # no customs given: the rule has nothing to compare
    assert not [f for f in rules.analyse(facts, as_of=AS_OF) if f.rule == "customs-mirror-discrepancy"]


def test_thresholds_are_configurable() -> None:
    th = rules.Thresholds.from_mapping({"customs_tolerance": "0.9", "customs_min_usd": "1"})
    view = rules.YearlyView([kp("BW", "export", 2024, "5000000000")])
    assert rules.customs_discrepancies(view, [customs("BW", "export", 2024, "1000000000")], th, AS_OF) == []
