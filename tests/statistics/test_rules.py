"""Periods, the exchange format and deadlines, without a database (STAT-01..11)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kpcs.statistics import rules


def test_periods() -> None:
    q = rules.parse_period("2025-Q3")
    assert (q.start, q.end, q.label) == (dt.date(2025, 7, 1), dt.date(2025, 9, 30), "2025-Q3")
    h = rules.parse_period("2024-H1")
    assert (h.start, h.end) == (dt.date(2024, 1, 1), dt.date(2024, 6, 30))
    y = rules.parse_period("2024")
    assert y.contains(h) and y.contains(rules.parse_period("2024-Q4")) and not h.contains(y)
    for bad in ("2025-Q5", "2025-H3", "25", "2025Q1", "1800", ""):
        with pytest.raises(ValueError):
            rules.parse_period(bad)


def test_due_dates_two_months_after_the_period() -> None:
    assert rules.due_on(rules.parse_period("2025-Q1")) == dt.date(2025, 5, 31)
    assert rules.due_on(rules.parse_period("2025-H2")) == dt.date(2026, 2, 28)
    assert rules.due_on(rules.parse_period("2025-Q3"), due_months=3) == dt.date(2025, 12, 31)
    assert rules.annual_report_due(2025) == dt.date(2026, 3, 31)


def test_obligation_status() -> None:
    due = dt.date(2025, 5, 31)
    assert rules.obligation_status(dt.date(2025, 5, 1), due, dt.date(2025, 9, 1)) == "received"
    assert rules.obligation_status(dt.date(2025, 6, 5), due, dt.date(2025, 9, 1)) == "late"
    assert rules.obligation_status(None, due, dt.date(2025, 6, 1)) == "missing"
    assert rules.obligation_status(None, due, dt.date(2025, 5, 31)) == "pending"
    assert rules.obligation_status(dt.date(2025, 9, 2), due, dt.date(2025, 9, 1)) == "missing"  # not yet, then


def test_a_good_row() -> None:
    row = rules.parse_row(["2025-Q1", "bw", "export", "EU", "BW", "7102 31 00", "1250.4", "", "3"], 2)
    assert row.participant == "BW" and row.hs_code == "7102.31" and row.carats == Decimal("1250.4")
    assert row.usd is None and row.certificates == 3
    assert row.as_csv() == ["2025-Q1", "BW", "export", "EU", "BW", "7102.31", "1250.40", "", "3"]


@pytest.mark.parametrize("values,column", [
    (["2025-Q9", "BW", "export", "", "", "", "1", "1", ""], "period"),
    (["2025", "XX", "export", "", "", "", "1", "1", ""], "participant"),
    (["2025", "BW", "exports", "", "", "", "1", "1", ""], "flow"),
    (["2025", "BW", "export", "ZZ", "", "", "1", "1", ""], "partner"),
    (["2025", "BW", "production", "EU", "", "", "1", "1", ""], "partner"),
    (["2025", "BW", "export", "", "EU", "", "1", "1", ""], "origin"),
    (["2025", "BW", "export", "", "", "7102.39", "1", "1", ""], "hs_code"),
    (["2025", "BW", "export", "", "", "", "-1", "1", ""], "carats"),
    (["2025", "BW", "export", "", "", "", "1.234", "1", ""], "carats"),
    (["2025", "BW", "export", "", "", "", "1", "1e6", ""], "usd"),
    (["2025", "BW", "export", "", "", "", "", "", ""], "carats"),
    (["2025", "BW", "export", "", "", "", "1", "1", "two"], "certificates"),
    (["2025", "BW", "export", "", "", "", "1", "1"], "-"),
])
def test_a_bad_row_names_its_row_and_column(values: list[str], column: str) -> None:
    with pytest.raises(rules.RowError) as exc:
        rules.parse_row(values, 7)
    assert exc.value.row == 7 and exc.value.column == column
    assert str(exc.value).startswith(f"row 7, column {column}:")


def test_header_must_be_exact() -> None:
    rules.check_header(list(rules.COLUMNS))
    with pytest.raises(rules.RowError) as exc:
        rules.check_header(["period", "participant", "flow"])
    assert exc.value.row == 1 and exc.value.column == "header"
