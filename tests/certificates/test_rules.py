"""Certificate rules without a database (CERT, EXP, IMP)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kpcs.certificates import rules
from kpcs.errors import Conflict, ValidationFailed

DAY = dt.date(2025, 3, 3)


def test_a_line_s_hs_code_is_read_by_the_node_s_hs_function() -> None:
    """DEF-05 through registry.rules.normalise_hs (tests/registry/test_hs.py); the line keeps its 7102.31 form."""
    line = {"carats": "1.00", "value_usd": "1.00", "parcels": 1}
    assert rules.parse_lines([{**line, "hs_code": "7102 31 00"}])[0].hs_code == "7102.31"
    with pytest.raises(ValidationFailed) as exc:
        rules.parse_lines([{**line, "hs_code": "7102.39"}])
    assert (exc.value.code, exc.value.rule) == ("hs_out_of_scope", "DEF-05")


@pytest.mark.parametrize("value", ["0", "0.00", "-1", "1.234", "1e3", "abc", "", 1.5, None, True, "1,000.00"])
def test_quantities_zero_negative_or_malformed_are_refused(value: object) -> None:
    with pytest.raises(ValidationFailed):
        rules.parse_amount(value, "carats", maximum=rules.MAX_CARATS)


def test_quantities_are_exact_decimals_with_two_places() -> None:
    assert rules.parse_amount("1250.4", "carats", maximum=rules.MAX_CARATS) == Decimal("1250.40")
    assert rules.to_centi(Decimal("1250.40")) == 125040
    assert rules.from_centi(125040) == "1250.40"


def _lines() -> list[rules.Line]:
    return rules.parse_lines([
        {"hs_code": "7102.31", "carats": "1250.40", "value_usd": "1875600.00", "parcels": 3},
        {"hs_code": "7102.21", "carats": "400.00", "value_usd": "12000.00", "parcels": 1}])


def test_totals_are_the_sum_of_lines() -> None:
    totals = rules.check_declared_totals(_lines(), {"carats": "1650.40", "value_usd": "1887600.00", "parcels": 4})
    assert totals == rules.Totals(Decimal("1650.40"), Decimal("1887600.00"), 4)


def test_declared_totals_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.check_declared_totals(_lines(), {"carats": "1650.41"})
    assert exc.value.code == "totals_mismatch" and exc.value.rule == "CERT-02"
    assert exc.value.details["carats"]["sum_of_lines"] == "1650.40"


def test_a_certificate_needs_lines_with_whole_parcels() -> None:
    with pytest.raises(ValidationFailed):
        rules.parse_lines([])
    with pytest.raises(ValidationFailed):
        rules.parse_lines([{"hs_code": "7102.31", "carats": "1", "value_usd": "1", "parcels": 0}])


def test_origin_single_or_mixed_with_optional_countries() -> None:
    assert rules.parse_origin("bw", None) == {"kind": "single", "countries": ["BW"]}
    assert rules.parse_origin("mixed", ["za", "BW"]) == {"kind": "mixed", "countries": ["BW", "ZA"]}
    assert rules.parse_origin("MIXED", None) == {"kind": "mixed", "countries": []}
    for bad in ("XX", "", "Botswana"):
        with pytest.raises(ValidationFailed):
            rules.parse_origin(bad, None)
    with pytest.raises(ValidationFailed):
        rules.parse_origin("mixed", ["QQ"])


def test_expiry_defaults_to_policy_and_may_not_exceed_it() -> None:
    assert rules.expiry(DAY, None, 60) == DAY + dt.timedelta(days=60)
    assert rules.expiry(DAY, DAY + dt.timedelta(days=10), 60) == DAY + dt.timedelta(days=10)
    for bad in (DAY, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=61)):
        with pytest.raises(ValidationFailed) as exc:
            rules.expiry(DAY, bad, 60)
        assert exc.value.rule == "CERT-09"


def test_trade_only_between_participants_in_good_standing() -> None:
    rules.check_trade("BW", "active", "EU", "active", DAY)
    rules.check_trade("CF", "restricted", "EU", "active", DAY)
    for exp_status, imp_status, imp in [("suspended", "active", "EU"), ("active", "self_suspended", "VE"),
                                        ("active", "non_participant", "KP"), ("embargoed", "active", "EU"),
                                        ("active", "removed", "CG")]:
        with pytest.raises(ValidationFailed) as exc:
            rules.check_trade("XX", exp_status, imp, imp_status, DAY)
        assert exc.value.rule == "EXP-01"
    with pytest.raises(ValidationFailed):
        rules.check_trade("BW", "active", "BW", "active", DAY)


def test_origin_under_embargo_is_refused() -> None:
    rules.check_origin_not_embargoed({"BW": "active", "CA": "non_participant"}, DAY)
    with pytest.raises(ValidationFailed) as exc:
        rules.check_origin_not_embargoed({"BW": "active", "CI": "embargoed"}, DAY)
    assert exc.value.rule == "SPEC-01"


def test_numbers_carry_prefix_space_and_padded_serial() -> None:
    assert rules.format_number("BW", 123) == "BW 0000123"
    assert rules.format_number("EU", 42) == "EU 00000042"
    assert rules.normalise_number("bw0000123") == "BW 0000123"
    assert rules.normalise_number("EU-00000042") == "EU 00000042"


@pytest.mark.parametrize("action,new", [("confirm", "confirmed"), ("reject", "rejected"), ("cancel", "cancelled"),
                                        ("expire", "expired")])
def test_issued_certificates_move_once_to_a_terminal_state(action: str, new: str) -> None:
    assert rules.next_status("issued", action) == new
    for terminal in rules.TERMINAL:
        with pytest.raises(Conflict):
            rules.next_status(terminal, action)


def test_effective_status_and_overdue() -> None:
    assert rules.effective_status("issued", DAY, DAY) == "issued"
    assert rules.effective_status("issued", DAY, DAY + dt.timedelta(days=1)) == "expired"
    assert rules.effective_status("confirmed", DAY, DAY + dt.timedelta(days=99)) == "confirmed"
    assert not rules.is_overdue("issued", DAY, DAY + dt.timedelta(days=15), 15)
    assert rules.is_overdue("issued", DAY, DAY + dt.timedelta(days=16), 15)
    assert not rules.is_overdue("confirmed", DAY, DAY + dt.timedelta(days=99), 15)


def test_receipt_checks() -> None:
    rules.check_receipt(DAY, DAY + dt.timedelta(days=60), DAY + dt.timedelta(days=2), DAY + dt.timedelta(days=3),
                        True)
    with pytest.raises(ValidationFailed) as exc:
        rules.check_receipt(DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2),
                            DAY + dt.timedelta(days=3), True)
    assert exc.value.rule == "CERT-09"
    with pytest.raises(ValidationFailed) as exc:
        rules.check_receipt(DAY, DAY + dt.timedelta(days=60), DAY, DAY, False)
    assert exc.value.rule == "IMP-05"


def test_payload_has_every_annex_i_minimum_element() -> None:
    lines = _lines()
    payload = rules.build_payload(
        number="BW 0000001", cert_type="standard", exporting="BW", importing="EU",
        authority={"id": "BW-KPA", "name": "Botswana KPA", "participant": "BW"},
        issued_at=dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC), expires_on=dt.date(2025, 5, 2),
        exporter={"name": "X (Pty) Ltd", "address": "Gaborone", "licence": "L1"},
        importer={"name": "Y BV", "address": "Antwerp"}, origin={"kind": "single", "countries": ["BW"]},
        lines=lines, totals=rules.totals_of(lines))
    assert payload["title"] == "Kimberley Process Certificate"
    assert payload["statement"].startswith("The rough diamonds in this shipment have been handled")
    for key in ("number", "origin", "issued_on", "expires_on", "issuing_authority", "exporter", "importer",
                "totals", "lines", "validation", "import_confirmation_part", "language"):
        assert payload[key]
    assert payload["totals"] == {"carats": "1650.40", "value_usd": "1887600.00", "parcels": 4}
    assert payload["import_confirmation_part"]["country_of_destination"] == "EU"
