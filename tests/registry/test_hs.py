"""The node's one HS function (registry.rules.normalise_hs, DEF-05, FIX-04): what certificates, custody, the
statistics exchange format and customs files accept, and how a refusal reads."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from kpcs.errors import ValidationFailed
from kpcs.registry import rules


@pytest.mark.parametrize(("code", "expected"), [
    ("7102.31", "7102.31"), ("7102 31 00", "7102.31"), ("7102.31.00", "7102.31"), ("71023100", "7102.31"),
    ("710210", "7102.10"), ("7102 10", "7102.10"), ("7102.21", "7102.21"), (" 7102.21 ", "7102.21")])
def test_in_scope_codes_are_read_in_their_6_and_8_digit_forms(code: str, expected: str) -> None:
    assert rules.normalise_hs(code) == expected


@pytest.mark.parametrize("code", ["7102.29", "7102.39", "7104.21", "7102", "", "abc", "71023190", "7102.3",
                                  "7102.311", "7102.31.01", None, 710231.0])
def test_anything_else_is_refused_naming_def05(code: object) -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.normalise_hs(code)
    assert (exc.value.code, exc.value.rule) == ("hs_out_of_scope", "DEF-05")
    assert exc.value.message == (f"HS code {code!r} is not a rough-diamond code; use one of 7102.10, 7102.21, "
                                 "7102.31")


def test_a_caller_may_widen_the_codes_it_reads() -> None:
    """Customs files carry worked diamonds (7102.29/39) that are read, then left out of the comparison."""
    assert rules.normalise_hs("710239", rules.HS_IN_SCOPE + rules.HS_WORKED) == "7102.39"
    with pytest.raises(ValidationFailed):
        rules.normalise_hs("710239")


@pytest.mark.parametrize("code", ["7102.31", "710231", "7102 31", "7102 31 00", "7102.31.00", "7102.10", "7102.21"])
def test_the_api_pattern_accepts_what_the_function_accepts(code: str) -> None:
    import re

    assert re.match(rules.HS_PATTERN, code)
    assert rules.normalise_hs(code)


@pytest.mark.parametrize("code", ["7102.29", "7102.39", "7103.10", "71023190"])
def test_the_api_pattern_refuses_what_the_function_refuses(code: str) -> None:
    import re

    assert not re.match(rules.HS_PATTERN, code)


def test_the_reference_data_agrees_with_the_codes_in_scope() -> None:
    """registry/data/hs-codes.csv describes the codes: in scope exactly those the function accepts, and the worked
    ones among those it does not."""
    with resources.files("kpcs.registry").joinpath("data", "hs-codes.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(r["hs_code"] for r in rows if r["in_scope"] == "yes") == rules.HS_IN_SCOPE
    assert set(rules.HS_WORKED) <= {r["hs_code"] for r in rows if r["in_scope"] == "no"}
