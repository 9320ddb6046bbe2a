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


# --- sparse real histories (issue 10 item 1) ------------------------------------------------------

def annual(participant: str, flow: str, figures: dict[int, tuple[str | None, str | None]]) -> list[rules.Fact]:
    """Annual-only figures, as many participants publish them: {year: (carats, usd)}."""
    return [fact(str(y), participant, flow, c, u) for y, (c, u) in figures.items()]


def test_a_jump_against_a_single_previous_year_is_found_at_a_lower_severity() -> None:
    short = annual("ZW", "production", {2009: ("962000.00", "20400000.00"), 2010: ("8440000.00", "339800000.00")})
    (one,) = [f for f in findings(short) if f.rule == "volume-spike"]
    assert (one.participant, one.period, one.severity) == ("ZW", "2010", "low")  # ×8.7: medium, one level down
    assert "the only previous year reported" in one.summary and one.evidence["previous_years"] == [2009]
    longer = short + annual("ZW", "production", {2007: ("900000.00", "20000000.00"),
                                                 2008: ("1000000.00", "21000000.00")})
    (two,) = [f for f in findings(longer) if f.rule == "volume-spike"]
    assert two.severity == "medium" and two.evidence["previous_years"] == [2007, 2008, 2009]


def test_an_ordinary_year_after_a_single_previous_year_raises_nothing() -> None:
    facts = annual("NA", "production", {2004: ("2000000.00", "700000000.00"), 2005: ("1850000.00", "690000000.00")})
    assert findings(facts) == []


def test_a_value_only_history_is_compared_on_values() -> None:
    facts = annual("GH", "export", {2004: (None, "30000000.00"), 2005: (None, "32000000.00"),
                                    2006: ("900000.00", "150000000.00")})
    (spike,) = [f for f in findings(facts) if f.rule == "volume-spike"]
    assert spike.evidence["compared"] == ["usd"]
    assert spike.evidence["not_compared"] == {"carats": "not reported for 2004, 2005"}
    assert "US$150,000,000" in spike.summary and "US$31,000,000" in spike.summary


def test_a_year_reported_without_carats_is_compared_on_values_and_says_so() -> None:
    facts = annual("GH", "export", {2004: ("800000.00", "30000000.00"), 2005: ("820000.00", "31000000.00"),
                                    2006: (None, "160000000.00")})
    (spike,) = [f for f in findings(facts) if f.rule == "volume-spike"]
    assert spike.evidence["unit"] == "usd"
    assert spike.evidence["not_compared"] == {"carats": "not reported for 2006"}


def test_exports_exceeding_supply_are_found_on_values_when_carats_are_missing() -> None:
    """Carats missing from the production figure never disable the supply check: it falls back to values."""
    facts = (annual("CG", "production", {2003: (None, "1000000.00")})
             + annual("CG", "export", {2003: ("5000000.00", "150000000.00")}))
    (f,) = [f for f in findings(facts) if f.rule == "exports-exceed-supply"]
    assert (f.participant, f.period, f.severity) == ("CG", "2003", "high")
    assert f.evidence["compared"] == ["usd"]
    assert f.evidence["not_compared"] == {"carats": "not reported for 2003 (production)"}


def test_a_price_jump_against_a_single_previous_year_is_found_lower() -> None:
    facts = annual("SL", "production", {2005: ("600000.00", "120000000.00"), 2006: ("600000.00", "12000000.00")})
    (f,) = [f for f in findings(facts) if f.rule == "price-outlier"]
    assert (f.period, f.severity, f.evidence["history_years"]) == ("2006", "medium", 1)
    assert "its only previous year with a price (2005)" in f.summary


def test_price_history_says_which_years_had_no_unit_value() -> None:
    facts = annual("SL", "production", {2003: (None, "76000000.00"), 2004: ("690000.00", "127000000.00"),
                                        2005: ("670000.00", "142000000.00"), 2006: ("600000.00", "12000000.00")})
    (f,) = [f for f in findings(facts) if f.rule == "price-outlier"]
    assert f.evidence["not_compared"] == {"2003": "carats not reported"} and f.evidence["history_years"] == 2


# --- trading hubs: re-export-valuation (issue 10 item 2) ------------------------------------------

def hub(code: str, years: dict[int, tuple[int, int, int, int]], production: int = 0) -> list[rules.Fact]:
    """A hub's annual figures: {year: (import ct, import US$, export ct, export US$)}."""
    out = []
    for y, (ic, iu, ec, eu) in years.items():
        out += [fact(str(y), code, "import", f"{ic}.00", f"{iu}.00"), fact(str(y), code, "export", f"{ec}.00",
                                                                           f"{eu}.00")]
        if production:
            out.append(fact(str(y), code, "production", f"{production}.00", f"{production * 100}.00"))
    return out


def reexport(facts: list[rules.Fact], th: rules.Thresholds | None = None) -> list[rules.Finding]:
    th = th or rules.Thresholds()
    return rules.reexport_valuation(rules.YearlyView(facts), th)


def test_a_hub_trading_at_ordinary_margins_raises_nothing() -> None:
    facts = hub("EU", {2005: (200_000_000, 14_000_000_000, 185_000_000, 14_300_000_000),
                       2006: (191_000_000, 13_730_000_000, 177_000_000, 13_830_000_000)})
    assert reexport(facts) == []


def test_a_markup_beyond_trading_margins_quotes_the_figures() -> None:
    facts = hub("AE", {2010: (50_400_000, 3_300_000_000, 54_700_000, 3_800_000_000),
                       2011: (50_000_000, 3_300_000_000, 50_000_000, 6_600_000_000)})
    found = {f.subject: f for f in reexport(facts)}
    assert set(found) == {"markup", "markup-change"}
    markup = found["markup"]
    assert (markup.participant, markup.period, markup.severity) == ("AE", "2011", "medium")
    assert markup.evidence["import_usd_per_ct"] == "66.00" and markup.evidence["export_usd_per_ct"] == "132.00"
    assert markup.evidence["markup"] == "1.0000" and "+100%" in markup.summary
    change = found["markup-change"]
    assert change.evidence["previous_markup"] == "0.0610" and change.severity == "medium"
    assert "+6% in 2010" in change.summary and "+100% in 2011" in change.summary


def test_undervalued_re_exports_are_found_too() -> None:
    facts = hub("LB", {2011: (400_000, 40_000_000, 400_000, 4_000_000)})
    (f,) = reexport(facts)
    assert (f.subject, f.severity) == ("markup", "high") and "below" in f.summary


def test_a_sudden_change_of_markup_within_margins_is_a_low_finding() -> None:
    facts = hub("AE", {2012: (40_000_000, 4_000_000_000, 40_000_000, 3_000_000_000),
                       2013: (40_000_000, 4_000_000_000, 40_000_000, 5_200_000_000)})
    (f,) = reexport(facts)
    assert (f.subject, f.period, f.severity) == ("markup-change", "2013", "low")
    assert f.evidence["change"] == "0.5500"


def test_a_producer_is_not_a_hub_but_a_small_producer_is() -> None:
    big = hub("ZA", {2006: (1_000_000, 100_000_000, 10_000_000, 2_000_000_000)}, production=9_000_000)
    assert reexport(big) == []
    small = hub("IN", {2006: (172_000_000, 8_550_000_000, 20_000_000, 2_000_000_000)}, production=10_000)
    assert [f.subject for f in reexport(small)] == ["markup"]
    # a hub by value although not by carats: cheap local goods next to expensive imports
    by_value = hub("XX", {2006: (1_000_000, 500_000_000, 1_000_000, 1_500_000_000)}, production=200_000)
    assert rules.is_hub(rules.YearlyView(by_value), "XX", 2006, rules.Thresholds())


def test_the_margin_is_a_threshold() -> None:
    facts = hub("AE", {2005: (37_000_000, 1_484_000_000, 34_000_000, 2_248_000_000)})
    assert [f.severity for f in reexport(facts)] == ["low"]
    assert reexport(facts, rules.Thresholds.from_mapping({"reexport_margin": "0.7"})) == []


def test_an_importer_whose_imports_of_the_year_are_missing_is_not_judged_on_supply() -> None:
    """A gap is not a zero: Israel's 2010 exports with its 2010 imports unpublished raise nothing."""
    facts = (annual("IL", "import", {2006: (None, "5500000000.00")})
             + annual("IL", "export", {2006: (None, "3500000000.00"), 2010: (None, "3740000000.00")}))
    assert not [f for f in findings(facts) if f.rule == "exports-exceed-supply"]
    # with its imports known, a hub's re-exports worth 9× its imports are a valuation question, on values
    facts += annual("IL", "import", {2010: (None, "400000000.00")})
    assert not [f for f in findings(facts) if f.rule == "exports-exceed-supply"]
    (f,) = [f for f in findings(facts) if f.rule == "re-export-valuation"]
    assert (f.period, f.subject, f.severity) == ("2010", "markup", "medium")  # ×9.4: high, one level down on values
    assert f.evidence["compared"] == ["usd"]
    assert f.evidence["not_compared"] == {"carats": "not reported for 2010 (exports, imports)"}
    assert "US$3,740,000,000" in f.summary and "9.4×" in f.summary


def test_a_cutting_centre_re_exporting_less_than_it_imports_is_not_a_valuation_finding() -> None:
    facts = hub("IN", {2006: (172_250_000, 8_550_000_000, 0, 0)}) + annual("IN", "export", {2006: (None, "546000000")})
    facts = [f for f in facts if not (f.flow == "export" and f.carats == 0)]
    assert reexport(facts) == []


def test_exports_on_values_tolerate_the_gap_between_mine_and_sale_valuations() -> None:
    """Botswana 2011: exports US$5.47 bn against production valued at US$3.9 bn in a year prices rose 45 %."""
    facts = (annual("BW", "production", {2011: ("22904000", "3900000000")})
             + annual("BW", "export", {2011: (None, "5470000000")}))
    assert not [f for f in findings(facts) if f.rule == "exports-exceed-supply"]
    facts = [f for f in facts if f.flow == "production"] + annual("BW", "export", {2011: (None, "6000000000")})
    (f,) = [f for f in findings(facts) if f.rule == "exports-exceed-supply"]
    assert f.evidence["tolerance"] == "0.50" and f.evidence["compared"] == ["usd"]


def test_mirror_gap_is_measured_on_values_when_one_side_gives_no_carats() -> None:
    exp = [fact("2010", "BW", "export", "1000000.00", "90000000.00", partner="EU")]
    same = exp + [fact("2010", "EU", "import", None, "91000000.00", partner="BW")]
    assert not rules.mirror_discrepancies(rules.YearlyView(same), rules.Thresholds())
    apart = exp + [fact("2010", "EU", "import", None, "40000000.00", partner="BW")]
    (f,) = rules.mirror_discrepancies(rules.YearlyView(apart), rules.Thresholds())
    assert f.evidence["compared"] == ["usd"] and f.evidence["not_compared"] == {"carats": "not reported by EU"}


def test_without_prices_in_the_window_the_last_own_price_beats_peers() -> None:
    """The DRC's US$7/ct of 2022 against its own US$10.6/ct of 2016, not against producers of gem goods."""
    facts = (annual("CD", "production", {2016: ("23207000", "247000000"), 2022: ("10780000", "77000000")})
             + [f for y, c, u in ((2022, "24510000", "4700000000"), (2022, "41924000", "3554000000"),
                                  (2022, "2054000", "1234000000"), (2022, "1276000", "558000000"),
                                  (2022, "689000", "143000000"))
                for f in annual(f"P{c[:1]}{u[:1]}", "production", {y: (c, u)})])
    assert not [f for f in findings(facts) if f.rule == "price-outlier"]
    cheap = [f for f in facts if f.participant != "CD"] + annual("CD", "production", {
        2016: ("23207000", "247000000"), 2022: ("10780000", "7000000")})
    (f,) = [f for f in findings(cheap) if f.rule == "price-outlier"]
    assert "its only previous year with a price (2016)" in f.summary and f.evidence["history_years"] == 1


def test_a_year_taken_part_in_only_partly_is_no_single_year_baseline() -> None:
    """Admitted in November 2024: its 2024 figure is mostly not a participant's, so 2025 has no baseline yet;
    admitted in 2023, its full 2024 is one (GOV-05, STAT-09)."""
    from kpcs.registry.rules import StatusPeriod as SP

    facts = annual("UZ", "production", {2024: ("20000000", "2000000000"), 2025: ("2000000", "200000000")})
    late = {"UZ": [SP("non_participant", dt.date(2003, 1, 1), dt.date(2024, 11, 15), "before admission")]}
    early = {"UZ": [SP("non_participant", dt.date(2003, 1, 1), dt.date(2023, 11, 15), "before admission")]}
    spikes = [(f.period, f.severity) for f in rules.analyse(facts, as_of=AS_OF, statuses=late)
              if f.rule == "volume-spike"]
    assert spikes == []
    assert rules.part_years(rules.YearlyView(facts), late) == {("UZ", 2024)}
    spikes = [(f.period, f.severity) for f in rules.analyse(facts, as_of=AS_OF, statuses=early)
              if f.rule == "volume-spike"]
    assert spikes == [("2025", "medium")]  # ÷10: high, one level down for a single previous year
