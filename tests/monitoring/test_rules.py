"""Each anomaly rule fires on a case built for it and stays silent on ordinary data (STAT-09, MON-11)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kpcs.monitoring import rules
from kpcs.registry.rules import StatusPeriod
from kpcs.statistics.rules import parse_period

AS_OF = dt.date(2026, 11, 29)
D = Decimal


def fact(period: str, participant: str, flow: str, carats: str | None, usd: str | None, partner: str = "",
         origin: str = "", hs: str = "7102.31", certificates: int | None = None) -> rules.Fact:
    return rules.Fact(parse_period(period), participant, flow, partner, origin, "" if flow == "production" else hs,
                      None if carats is None else D(carats), None if usd is None else D(usd),
                      certificates if flow != "production" else None, "test")


def producer_years(code: str, years: range, carats: int, price: int, buyer: str = "EU",
                   noise: dict[int, float] | None = None) -> list[rules.Fact]:
    """An ordinary producer: half-yearly production, quarterly exports of ~95 % to one buyer, mirrored."""
    out = []
    for y in years:
        k = D(str((noise or {}).get(y, 1.0)))
        half = (D(carats) * k / 2).quantize(D("0.01"))
        for h in (1, 2):
            out.append(fact(f"{y}-H{h}", code, "production", str(half), str(half * price)))
        q = (D(carats) * k * D("0.95") / 4).quantize(D("0.01"))
        for i in range(1, 5):
            out.append(fact(f"{y}-Q{i}", code, "export", str(q), str(q * price), partner=buyer, origin=code,
                            certificates=5))
            out.append(fact(f"{y}-Q{i}", buyer, "import", str(q), str(q * price), partner=code, origin=code,
                            certificates=5))
    return out


ORDINARY = (producer_years("BW", range(2015, 2026), 20_000_000, 150,
                           noise={2016: 0.9, 2018: 1.15, 2020: 0.7, 2021: 1.1, 2023: 0.85})
            + producer_years("NA", range(2015, 2026), 2_000_000, 500, noise={2017: 1.2, 2020: 0.75})
            + producer_years("LS", range(2015, 2026), 400_000, 1200)
            + producer_years("CD", range(2015, 2026), 14_000_000, 9, buyer="AE", noise={2019: 0.8, 2022: 1.3}))


def findings(facts: list[rules.Fact], **kw: object) -> list[rules.Finding]:
    return rules.analyse(facts, as_of=AS_OF, **kw)  # type: ignore[arg-type]


def test_ordinary_years_of_ordinary_producers_raise_nothing() -> None:
    assert findings(ORDINARY) == []


def test_exports_exceed_supply_the_republic_of_congo_case() -> None:
    facts = list(ORDINARY)
    for y in range(2015, 2026):
        for h in (1, 2):
            facts.append(fact(f"{y}-H{h}", "CG", "production", "25000.00", "1000000.00"))
        for q in range(1, 5):
            big = "1250000.00" if y == 2023 else "12000.00"
            facts.append(fact(f"{y}-Q{q}", "CG", "export", big, str(D(big) * 60), partner="EU", certificates=9))
            facts.append(fact(f"{y}-Q{q}", "EU", "import", big, str(D(big) * 60), partner="CG", certificates=9))
    found = [f for f in findings(facts) if f.rule == "exports-exceed-supply"]
    assert [(f.participant, f.period, f.severity) for f in found] == [("CG", "2023", "high")]
    assert "5,000,000.00 ct" in found[0].summary and "50,000.00 ct" in found[0].summary


def test_stock_carried_from_earlier_years_is_tolerated() -> None:
    facts = list(ORDINARY)
    for y in range(2019, 2026):
        for h in (1, 2):
            facts.append(fact(f"{y}-H{h}", "SL", "production", "300000.00", "60000000.00"))
        sold = "75000.00" if y < 2024 else ("270000.00" if y == 2024 else "150000.00")  # stock sold in 2024
        for q in range(1, 5):
            facts.append(fact(f"{y}-Q{q}", "SL", "export", sold, str(D(sold) * 200), partner="EU", certificates=4))
            facts.append(fact(f"{y}-Q{q}", "EU", "import", sold, str(D(sold) * 200), partner="SL", certificates=4))
    assert not [f for f in findings(facts) if f.rule == "exports-exceed-supply"]


def test_price_outlier_against_own_history() -> None:
    facts = [f for f in ORDINARY if not (f.participant == "NA" and f.flow == "production"
                                         and f.period.year == 2022)]
    facts += [fact("2022-H1", "NA", "production", "1000000.00", "80000000.00"),
              fact("2022-H2", "NA", "production", "1000000.00", "80000000.00")]
    found = [f for f in findings(facts) if f.rule == "price-outlier"]
    assert [(f.participant, f.period, f.subject) for f in found] == [("NA", "2022", "production")]
    assert "US$80.00/ct" in found[0].summary and "US$500.00/ct" in found[0].summary


def test_reexport_priced_far_from_imports() -> None:
    facts = list(ORDINARY)
    for q in range(1, 5):  # AE imports CD's goods at ~US$9/ct and re-exports them declared at US$60/ct
        facts.append(fact(f"2024-Q{q}", "AE", "export", "3000000.00", "180000000.00", partner="IN", certificates=8))
        facts.append(fact(f"2024-Q{q}", "IN", "import", "3000000.00", "180000000.00", partner="AE", certificates=8))
    found = [f for f in findings(facts) if f.rule == "re-export-valuation"]
    assert [(f.participant, f.period, f.subject, f.severity) for f in found] == [("AE", "2024", "markup", "high")]
    assert not [f for f in findings(facts) if f.rule == "price-outlier"]


def test_certificate_priced_far_below_its_origin() -> None:
    prices = rules.origin_prices(rules.YearlyView(ORDINARY), rules.Thresholds())
    cheap = rules.Shipment("AE 0000042", "AE", dt.date(2024, 5, 2), "NA", D("2000.00"), D("40000.00"), False, "t")
    ordinary = rules.Shipment("AE 0000043", "AE", dt.date(2024, 5, 2), "NA", D("2000.00"), D("700000.00"), False,
                              "t")
    industrial = rules.Shipment("AE 0000044", "AE", dt.date(2024, 5, 2), "NA", D("2000.00"), D("4000.00"), True, "t")
    found = rules.certificate_price_outliers([cheap, ordinary, industrial], prices, rules.Thresholds())
    assert [f.subject for f in found] == ["AE 0000042"]
    assert "US$20.00/ct" in found[0].summary and "US$500.00/ct" in found[0].summary


def test_volume_spike_and_collapse_robust_to_small_bases() -> None:
    facts = [f for f in ORDINARY if not (f.participant == "LS" and f.flow == "production"
                                         and f.period.year in (2021, 2024))]
    facts += [fact(f"2021-H{h}", "LS", "production", "1500000.00", str(1500000 * 1200)) for h in (1, 2)]
    facts += [fact(f"2024-H{h}", "LS", "production", "20000.00", str(20000 * 1200)) for h in (1, 2)]
    # a tiny producer going from 500 to 3,000 ct is noise, not a spike
    for y in range(2018, 2026):
        c = "3000.00" if y == 2024 else "500.00"
        facts += [fact(f"{y}-H{h}", "TG", "production", c, str(D(c) * 100)) for h in (1, 2)]
    found = sorted((f.participant, f.period, f.evidence["flow"]) for f in findings(facts) if f.rule == "volume-spike")
    assert ("LS", "2021", "production") in found and ("LS", "2024", "production") in found
    assert not [f for f in found if f[0] == "TG"]


def test_mirror_discrepancy() -> None:
    facts = [f for f in ORDINARY if not (f.participant == "EU" and f.partner == "NA" and f.period.year == 2023)]
    facts += [fact(f"2023-Q{q}", "EU", "import", "200000.00", "100000000.00", partner="NA", certificates=5)
              for q in range(1, 5)]
    found = [f for f in findings(facts) if f.rule == "mirror-discrepancy"]
    assert [(f.participant, f.period, f.subject) for f in found] == [("NA", "2023", "EU")]
    assert "1,900,000.00 ct" in found[0].summary and "800,000.00 ct" in found[0].summary


def test_missing_report_including_data_that_simply_stop() -> None:
    facts = [f for f in ORDINARY if not (f.participant == "LS" and f.period.year >= 2024)]
    facts = [f for f in facts if not (f.participant == "EU" and f.partner == "LS" and f.period.year >= 2024)]
    facts = [f for f in facts if not (f.participant == "NA" and f.period.label == "2022-Q3")]
    found = {(f.participant, f.period): f for f in findings(facts) if f.rule == "missing-report"}
    assert set(found) == {("LS", "2024"), ("LS", "2025"), ("NA", "2022")}
    assert found[("LS", "2024")].severity == "high"
    assert found[("NA", "2022")].severity == "low" and "2022-Q3" in found[("NA", "2022")].summary


def test_annual_figures_are_accepted_where_quarterly_do_not_exist() -> None:
    facts = list(ORDINARY) + [fact(str(y), "MU", "import", "5000.00", "900000.00", partner="EU", certificates=3)
                              for y in range(2018, 2026)]
    assert not [f for f in findings(facts) if f.rule == "missing-report" and f.participant == "MU"]


def test_nothing_is_missing_before_its_due_date() -> None:
    facts = [f for f in ORDINARY if not (f.participant == "NA" and f.period.label == "2025-Q4")]
    found = rules.analyse(facts, as_of=dt.date(2026, 2, 27))
    assert not [f for f in found if f.rule == "missing-report"]
    found = rules.analyse(facts, as_of=dt.date(2026, 3, 1))
    assert [(f.participant, f.period) for f in found if f.rule == "missing-report"] == [("NA", "2025")]


def test_unconfirmed_certificate() -> None:
    late = rules.Overdue("BW 0000007", "BW", "EU", dt.date(2026, 9, 1), dt.date(2026, 9, 16), D("10.00"), D("5.00"))
    found = rules.unconfirmed_certificates([late], AS_OF)
    assert [(f.participant, f.period, f.subject, f.severity) for f in found] == [
        ("EU", "2026-Q3", "BW 0000007", "high")]
    assert "74 days past" in found[0].summary


VE = {"VE": [StatusPeriod("self_suspended", dt.date(2008, 6, 1), dt.date(2016, 11, 17))],
      "CI": [StatusPeriod("embargoed", dt.date(2005, 12, 15), dt.date(2014, 4, 29))]}


def test_embargoed_trade_with_or_origin_in_a_barred_participant() -> None:
    facts = [fact("2010-Q2", "BW", "export", "1000.00", "90000.00", partner="VE", origin="BW", certificates=2),
             fact("2008-Q1", "BW", "export", "1000.00", "90000.00", partner="VE", origin="BW", certificates=2),
             fact("2012-Q3", "AE", "import", "800.00", "40000.00", partner="GH", origin="CI", certificates=1),
             fact("2015-Q1", "AE", "import", "800.00", "40000.00", partner="GH", origin="CI", certificates=1),
             fact("2010-Q2", "CI", "import", "80.00", "4000.00", partner="BW", origin="BW", certificates=1)]
    found = sorted((f.participant, f.period, f.subject, f.severity) for f in rules.embargoed_trade(facts, VE,
                                                                                                 rules.Thresholds()))
    # exports to Venezuela while self-suspended; Ivorian origin under embargo; an embargoed participant may import
    assert found == [("AE", "2012", "CI", "high"), ("BW", "2010", "VE", "high")]


@pytest.mark.parametrize("rule", rules.RULES)
def test_every_rule_has_an_id_the_api_knows(rule: str) -> None:
    assert rule in rules.RULES


def test_thresholds_are_configurable() -> None:
    th = rules.Thresholds.from_mapping({"spike_factor": "10", "spike_history_years": 4})
    assert th.spike_factor == D("10") and th.spike_history_years == 4
    with pytest.raises(ValueError):
        rules.Thresholds.from_mapping({"nonsense": 1})


def test_a_year_in_progress_is_not_judged_on_volumes() -> None:
    """Three quarters of 2025 look like a collapse next to full years, and would make supply look short."""
    facts = [f for f in ORDINARY if not (f.period.year == 2025 and f.period.kind == "quarter"
                                         and f.period.index == 4)]
    facts = [f for f in facts if not (f.period.label == "2025-H2")]
    in_progress = rules.analyse(facts, as_of=dt.date(2025, 11, 29))
    assert not [f for f in in_progress if f.rule in ("volume-spike", "exports-exceed-supply", "mirror-discrepancy")]
    spiked = [f for f in ORDINARY if not (f.participant == "LS" and f.flow == "production" and f.period.year == 2025)]
    spiked += [fact(f"2025-H{h}", "LS", "production", "1500000.00", str(1500000 * 1200)) for h in (1, 2)]
    assert not [f for f in rules.analyse(spiked, as_of=dt.date(2026, 2, 27)) if f.rule == "volume-spike"]
    assert [(f.participant, f.period) for f in rules.analyse(spiked, as_of=dt.date(2026, 3, 1))
            if f.rule == "volume-spike"] == [("LS", "2025")]
