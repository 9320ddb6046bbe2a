"""Custody rules without a database: quantities, event shapes, licences, origin shares, the ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpcs.custody import rules
from kpcs.custody.rules import Movement, Share
from kpcs.errors import ValidationFailed
from kpcs.registry.rules import HS_IN_SCOPE, Measure, Zone

NOW = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)
WARRANTY = "The seller hereby guarantees that these diamonds are conflict free."


@pytest.mark.parametrize("text,centi", [("0", 0), ("12", 1200), ("12.5", 1250), ("12.50", 1250), ("0.01", 1)])
def test_quantities_are_hundredths(text: str, centi: int) -> None:
    assert rules.to_centi(text) == centi
    assert rules.centi_text(centi) == f"{centi // 100}.{centi % 100:02d}"


@pytest.mark.parametrize("text", ["-1", "1.234", "1e3", "", " 1", "1,5", 1.5, None, "9" * 16])
def test_bad_quantities_are_refused(text: Any) -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.to_centi(text)
    assert exc.value.code == "invalid_quantity"


def test_the_profile_s_hs_codes_are_the_node_s() -> None:
    """Custody reads HS codes through registry.rules.normalise_hs (tests/registry/test_hs.py), limited to the
    commodity profile's codes."""
    assert rules.COMMODITY.hs_codes == HS_IN_SCOPE
    produced = rules.parse_event({"type": "production", "site": 1,
                                  "produced": [{"carats": "1.00", "value_usd": "1.00", "hs_code": "7102 31 00"}]},
                                 NOW)
    assert produced.new[0].hs_code == "7102.31"
    with pytest.raises(ValidationFailed) as exc:
        rules.parse_event({"type": "merge", "parcels": [1, 2], "hs_code": "7102.39"}, NOW)
    assert (exc.value.code, exc.value.rule) == ("hs_out_of_scope", "DEF-05")


def transfer(**over: Any) -> dict[str, Any]:
    return {"type": "transfer", "parcels": [1], "seller": 1, "buyer": 2, "invoice": "INV 7", "warranty": WARRANTY,
            "occurred_at": "2026-01-10T09:00:00Z", **over}


def test_a_transfer_is_read() -> None:
    ev = rules.parse_event(transfer(value_usd="10.00"), NOW)
    assert (ev.seller, ev.buyer, ev.parcels, ev.value_cents) == (1, 2, (1,), 1000)
    assert ev.occurred_at == dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)
    assert ev.details() == {"invoice": "INV 7", "warranty": WARRANTY}


@pytest.mark.parametrize("over,code,rule", [
    ({"invoice": None}, "invoice_required", "INT-11"),
    ({"warranty": "   "}, "warranty_required", "INT-11"),
    ({"warranty": "We promise nothing in particular."}, "warranty_required", "INT-11"),
    ({"buyer": 1}, "same_operator", "INT-08"),
    ({"parcels": [1, 1]}, "invalid_event", None),
    ({"parcels": []}, "invalid_event", None),
    ({"parcels": ["1"]}, "invalid_event", None),
    ({"occurred_at": "2026-01-11T09:00:00Z"}, "invalid_date", None),  # tomorrow
    ({"occurred_at": "2026-01-10T09:00:00"}, "invalid_date", None),  # no offset
    ({"type": "import"}, "invalid_type", None),  # comes with certificates from custody
])
def test_transfer_refusals(over: dict[str, Any], code: str, rule: str | None) -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.parse_event(transfer(**over), NOW)
    assert (exc.value.code, exc.value.rule) == (code, rule)


def test_the_revised_warranty_wording_is_accepted() -> None:
    revised = ("The diamonds herein invoiced have been purchased from legitimate sources not involved in funding "
               "conflict, in compliance with United Nations Resolutions and corresponding national laws. The seller "
               "hereby guarantees that these diamonds are conflict-free and confirms adherence to the World Diamond "
               "Council System of Warranties Guidelines.")
    assert rules.check_warranty(revised) == revised


def test_a_split_needs_two_pieces_and_values_for_all_or_none() -> None:
    with pytest.raises(ValidationFailed):
        rules.parse_event({"type": "split", "parcels": [1], "into": [{"carats": "1.00"}]}, NOW)
    with pytest.raises(ValidationFailed):
        rules.parse_event({"type": "split", "parcels": [1],
                           "into": [{"carats": "1.00", "value_usd": "1.00"}, {"carats": "1.00"}]}, NOW)
    ev = rules.parse_event({"type": "split", "parcels": [1], "into": [{"carats": "1.00"}, {"carats": "2.5"}]}, NOW)
    assert [n.carats_centi for n in ev.new] == [100, 250] and ev.occurred_at == NOW


def test_production_needs_value_and_hs_code() -> None:
    base = {"type": "production", "site": 3, "produced": [{"carats": "1.00", "value_usd": "5.00",
                                                           "hs_code": "7102.31"}]}
    assert rules.parse_event(base, NOW).new[0] == rules.NewParcel(100, 500, "7102.31")
    with pytest.raises(ValidationFailed) as exc:
        rules.parse_event({**base, "produced": [{"carats": "1.00", "value_usd": "5.00"}]}, NOW)
    assert exc.value.rule == "DEF-05"
    with pytest.raises(ValidationFailed):
        rules.parse_event({**base, "produced": [{"carats": "0.00", "value_usd": "5.00", "hs_code": "7102.31"}]}, NOW)


LICENCES = [rules.LicenceView(1, "dealing", "D-1", dt.date(2020, 1, 1), dt.date(2022, 12, 31)),
            rules.LicenceView(2, "dealing", "D-2", dt.date(2023, 1, 1), None)]


def test_the_licence_valid_on_the_day_is_chosen() -> None:
    pick = rules.licence_for(LICENCES, rules.BUYING_LICENCES, dt.date(2021, 5, 1), operator="X", rule="INT-08",
                             role="buyer")
    assert pick.number == "D-1"
    assert rules.licence_for(LICENCES, rules.BUYING_LICENCES, dt.date(2023, 1, 1), operator="X", rule="INT-08",
                             role="buyer").number == "D-2"


def test_no_valid_licence_is_refused_naming_the_rule() -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.licence_for(LICENCES, rules.BUYING_LICENCES, dt.date(2019, 1, 1), operator="X", rule="INT-08",
                          role="buyer")
    assert (exc.value.code, exc.value.rule) == ("licence_not_valid", "INT-08")
    with pytest.raises(ValidationFailed) as exc:
        rules.licence_for(LICENCES, rules.PRODUCING_LICENCES["industrial_mine"], dt.date(2024, 1, 1), operator="X",
                          rule="INT-06", role="producer")
    assert (exc.value.code, exc.value.rule) == ("unlicensed", "INT-06")


def test_split_shares_by_largest_remainder() -> None:
    shares = [Share("AO", 1, 1), Share("BW", 2, 1), Share("CD", None, 1)]
    assert rules.divide_shares(shares, [2, 1]) == [[Share("AO", 1, 1), Share("BW", 2, 1)], [Share("CD", None, 1)]]


def test_merge_sums_the_same_origin() -> None:
    assert rules.merge_shares([[Share("BW", 1, 5)], [Share("BW", 1, 3), Share("ZA", 2, 2)]]) == [
        Share("BW", 1, 8), Share("ZA", 2, 2)]


SHARES = st.lists(st.tuples(st.sampled_from(["AO", "BW", "CD", "ZA"]), st.integers(1, 6), st.integers(1, 10**9)),
                  min_size=1, max_size=6, unique_by=lambda t: (t[0], t[1]))


@given(SHARES, st.lists(st.integers(1, 1000), min_size=1, max_size=8))
def test_split_conserves_every_origin_and_every_piece(raw: list[tuple[str, int, int]], weights: list[int]) -> None:
    shares = [Share(c, s, v) for c, s, v in raw]
    total = sum(s.carats_centi for s in shares)
    if total < len(weights):
        weights = weights[:total]
    amounts = rules.divide_value(total, weights)
    amounts = [a for a in amounts if a > 0]
    pieces = rules.divide_shares(shares, amounts)
    assert [sum(s.carats_centi for s in piece) for piece in pieces] == amounts
    assert rules.merge_shares(pieces) == rules.merge_shares([shares])
    assert all(s.carats_centi > 0 for piece in pieces for s in piece)


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=10))
def test_a_value_divides_exactly(total: int, weights: list[int]) -> None:
    parts = rules.divide_value(total, weights)
    assert len(parts) == len(weights) and all(p >= 0 for p in parts)
    assert sum(parts) == (total if sum(weights) else 0)


def test_conservation_names_the_figures() -> None:
    rules.check_conserved(150, 150)
    with pytest.raises(ValidationFailed) as exc:
        rules.check_conserved(150, 149)
    assert exc.value.rule == "INT-09" and exc.value.details == {"carats_in": "1.50", "carats_out": "1.49"}


D = dt.date(2026, 1, 1)


def test_ledger_opening_in_out_closing() -> None:
    moves = [Movement(D, "production", 1000, 50), Movement(D + dt.timedelta(1), "transfer", -400, -20),
             Movement(D + dt.timedelta(1), "split", -600, -30), Movement(D + dt.timedelta(1), "split", 600, 30),
             Movement(D + dt.timedelta(5), "transfer", 200, 10)]
    book = rules.ledger(moves, D + dt.timedelta(1), D + dt.timedelta(3))
    assert book.opening == 1000 and book.closing == 600
    assert book.received == {"split": 600} and book.removed == {"transfer": 400, "split": 600}
    assert [(d.day, d.opening, d.closing) for d in book.days] == [(D + dt.timedelta(1), 1000, 600)]
    assert book.closing_usd == 30


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(-10**6, 10**6).filter(bool)), max_size=40),
       st.integers(0, 30), st.integers(0, 30))
def test_ledger_always_balances(raw: list[tuple[int, int]], a: int, b: int) -> None:
    start, end = D + dt.timedelta(min(a, b)), D + dt.timedelta(max(a, b))
    moves = [Movement(D + dt.timedelta(d), "transfer", c, 0) for d, c in raw]
    book = rules.ledger(moves, start, end)
    assert book.closing == sum(m.carats_centi for m in moves if m.day <= end)
    assert book.opening == sum(m.carats_centi for m in moves if m.day < start)
    running = book.opening
    for day in book.days:
        assert day.opening == running
        running = day.closing
    assert running == book.closing


def test_ledger_end_before_start_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        rules.ledger([], D, D - dt.timedelta(1))


def test_compliant_zones_clear_regions() -> None:
    """SPEC-03: CAR exports only from declared compliant zones (Berberati first, Boda, Carnot, Nola later)."""
    zones = Measure("compliant_zones_only", dt.date(2015, 7, 17), dt.date(2024, 11, 1),
                    (Zone("Berberati", dt.date(2016, 3, 1)), Zone("Carnot", dt.date(2017, 1, 1))))
    assert not rules.region_cleared([zones], "Berberati", dt.date(2015, 8, 1))
    assert rules.region_cleared([zones], "berberati", dt.date(2016, 3, 1))
    assert not rules.region_cleared([zones], "Bria", dt.date(2020, 1, 1))
    assert rules.region_cleared([zones], "Bria", dt.date(2024, 11, 1))  # reinstated fully
    assert rules.region_cleared([], "Bria", dt.date(2020, 1, 1))


def test_an_authorised_area_names_places_by_site_or_region() -> None:
    """INT-07: an area is places separated by ";" or new lines, each place before its first comma."""
    assert rules.area_places("Lerala river, lot 7; Central\n  north  bank ") == ["lerala river", "central",
                                                                               "north bank"]
    assert rules.area_covers("Lerala  River, lot 7", "Lerala river", "Central")
    assert rules.area_covers("Central", "Motloutse river", "central")
    assert not rules.area_covers("Lerala river, lot 7", "Motloutse river", "Central")
    assert rules.area_covers("", "Anywhere", "Anything")  # none recorded (migrated licences): not restricted


def test_production_outside_the_authorised_area_is_refused_with_the_figures() -> None:
    day = dt.date(2025, 3, 3)
    digs = [rules.LicenceView(1, "digging", "DIG-1", dt.date(2020, 1, 1), None, "Lerala river, lot 7"),
            rules.LicenceView(2, "digging", "DIG-2", dt.date(2024, 1, 1), None, "Shashe river")]
    kinds = rules.PRODUCING_LICENCES["alluvial_area"]
    found = rules.producing_licence(digs, kinds, day, operator="X", site_name="Lerala river", region="Central",
                                    rule="INT-07", role="producer")
    assert found.number == "DIG-1"  # the one whose area covers the site, though another is more recent
    with pytest.raises(ValidationFailed) as exc:
        rules.producing_licence(digs, kinds, day, operator="X", site_name="Motloutse river", region="Central",
                                rule="INT-07", role="producer")
    assert (exc.value.code, exc.value.rule) == ("outside_licensed_area", "INT-07")
    assert "Motloutse river" in exc.value.message and "DIG-1: Lerala river, lot 7" in exc.value.message
    assert exc.value.details["licences"] == [{"number": "DIG-1", "area": "Lerala river, lot 7"},
                                             {"number": "DIG-2", "area": "Shashe river"}]
    with pytest.raises(ValidationFailed) as exc:  # validity is judged first, as before
        rules.producing_licence(digs, kinds, dt.date(2019, 1, 1), operator="X", site_name="Lerala river",
                                region="Central", rule="INT-07", role="producer")
    assert exc.value.code == "licence_not_valid"
