"""Statistics rules: reporting periods, the exchange format and reporting deadlines (STAT-01..11).

Plain functions over plain values; no database.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache

from django.utils.translation import gettext as _

from kpcs.certificates.rules import HS_IN_SCOPE
from kpcs.registry import rules as registry_rules

COLUMNS = ("period", "participant", "flow", "partner", "origin", "hs_code", "carats", "usd", "certificates")
FLOWS = ("production", "export", "import")
MAX_AMOUNT = Decimal("1000000000000")  # 10^12: far above world production in carats or US$ per row
DEFAULT_DUE_MONTHS = 2  # STAT-01, STAT-03: published within two months of the period


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: a year, a half-year (H1/H2) or a quarter (Q1..Q4)."""

    year: int
    kind: str  # "year" | "half" | "quarter"
    index: int  # 1 for a year; 1..2 for halves; 1..4 for quarters

    @cached_property
    def label(self) -> str:
        if self.kind == "year":
            return str(self.year)
        return f"{self.year}-{'H' if self.kind == 'half' else 'Q'}{self.index}"

    @property
    def months(self) -> tuple[int, int]:
        span = {"year": 12, "half": 6, "quarter": 3}[self.kind]
        first = (self.index - 1) * span + 1
        return first, first + span - 1

    @cached_property
    def start(self) -> dt.date:
        return dt.date(self.year, self.months[0], 1)

    @cached_property
    def end(self) -> dt.date:
        last = self.months[1]
        return dt.date(self.year, last, calendar.monthrange(self.year, last)[1])

    def contains(self, other: Period) -> bool:
        return self.start <= other.start and other.end <= self.end

    def __str__(self) -> str:
        return self.label


_PERIOD = re.compile(r"^(\d{4})(?:-(H[12]|Q[1-4]))?$")


@lru_cache(maxsize=4096)
def parse_period(text: str) -> Period:
    m = _PERIOD.match(text.strip())
    if not m:
        raise ValueError(_("%(text)s is not a period: use YYYY, YYYY-H1/H2 or YYYY-Q1..Q4") % {"text": repr(text)})
    year = int(m.group(1))
    if not 1990 <= year <= 2100:
        raise ValueError(_("year %(year)s is out of range") % {"year": year})
    part = m.group(2)
    if part is None:
        return Period(year, "year", 1)
    return Period(year, "half" if part[0] == "H" else "quarter", int(part[1]))


def quarter_of(day: dt.date) -> Period:
    return Period(day.year, "quarter", (day.month - 1) // 3 + 1)


def half_of(day: dt.date) -> Period:
    return Period(day.year, "half", 1 if day.month <= 6 else 2)


def periods_of_year(year: int, kind: str) -> list[Period]:
    n = {"year": 1, "half": 2, "quarter": 4}[kind]
    return [Period(year, kind, i) for i in range(1, n + 1)]


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_on(period: Period, due_months: int = DEFAULT_DUE_MONTHS) -> dt.date:
    """Statistics are due `due_months` after the period ends (STAT-01, STAT-03)."""
    return add_months(period.end + dt.timedelta(days=1), due_months) - dt.timedelta(days=1)


def annual_report_due(year: int) -> dt.date:
    """STAT-11: the annual report on the previous calendar year is due by 31 March."""
    return dt.date(year + 1, 3, 31)


def obligation_status(received_on: dt.date | None, due: dt.date, as_of: dt.date) -> str:
    """received (on time), late (received after the due date), missing (not received, past due), pending.

    Judged as of a date: something that arrived after `as_of` had not been received then."""
    if received_on is not None and received_on <= as_of:
        return "received" if received_on <= due else "late"
    return "missing" if as_of > due else "pending"


# --- the exchange format ---------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One row of the statistics exchange format; quantities exact, absent ones None."""

    period: Period
    participant: str
    flow: str
    partner: str
    origin: str
    hs_code: str
    carats: Decimal | None
    usd: Decimal | None
    certificates: int | None

    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.period.label, self.participant, self.flow, self.partner, self.origin, self.hs_code)

    def as_csv(self) -> list[str]:
        return [self.period.label, self.participant, self.flow, self.partner, self.origin, self.hs_code,
                "" if self.carats is None else f"{self.carats:.2f}", "" if self.usd is None else f"{self.usd:.2f}",
                "" if self.certificates is None else str(self.certificates)]


class RowError(ValueError):
    """A row of a statistics file that cannot be accepted; names the row and the column."""

    def __init__(self, row: int, column: str, message: str) -> None:
        super().__init__(f"row {row}, column {column}: {message}")
        self.row, self.column, self.message = row, column, message


def check_header(header: list[str]) -> None:
    cleaned = [h.strip().lower() for h in header]
    if tuple(cleaned) != COLUMNS:
        raise RowError(1, "header", _("expected exactly the columns %(columns)s; got %(header)s")
                                      % {"columns": ','.join(COLUMNS), "header": ','.join(header)})


def _amount(value: str, row: int, column: str) -> Decimal | None:
    text = value.strip()
    if not text:
        return None
    if not re.fullmatch(r"\d+(\.\d{1,2})?", text):
        raise RowError(row, column, _("%(text)s is not a non-negative decimal with at most 2 places")
                                      % {"text": repr(text)})
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - excluded by the pattern
        raise RowError(row, column, _("%(text)s is not a decimal") % {"text": repr(text)}) from None
    if amount > MAX_AMOUNT:
        raise RowError(row, column, _("%(text)s is larger than any plausible figure") % {"text": text})
    return amount


@lru_cache(maxsize=64)
def _hs(text: str) -> str | None:
    """7102.31, 7102 31 or the 8-digit 7102 31 00 → 7102.31; None when out of scope."""
    digits = re.sub(r"[\s.]", "", text)
    hs = f"{digits[:4]}.{digits[4:6]}" if len(digits) in (6, 8) and digits.isdigit() else text
    return hs if hs in HS_IN_SCOPE else None


def parse_row(values: list[str], row: int) -> Row:
    """Validate one data row (row numbers count the header as row 1, as a spreadsheet shows them)."""
    if len(values) != len(COLUMNS):
        raise RowError(row, "-", _("expected %(expected)s columns, found %(found)s")
                                   % {"expected": len(COLUMNS), "found": len(values)})
    cells = dict(zip(COLUMNS, (v.strip() for v in values), strict=True))
    try:
        period = parse_period(cells["period"])
    except ValueError as exc:
        raise RowError(row, "period", str(exc)) from None
    participant = cells["participant"].upper()
    if not registry_rules.is_participant_code(participant):
        raise RowError(row, "participant", _("%(participant)s is not an ISO 3166-1 alpha-2 code or EU")
                                             % {"participant": repr(cells['participant'])})
    flow = cells["flow"].lower()
    if flow not in FLOWS:
        raise RowError(row, "flow", _("%(flow)s is not one of %(flows)s")
                                      % {"flow": repr(cells['flow']), "flows": ', '.join(FLOWS)})
    partner = cells["partner"].upper()
    if partner and not registry_rules.is_participant_code(partner):
        raise RowError(row, "partner", _("%(partner)s is not an ISO 3166-1 alpha-2 code or EU")
                                         % {"partner": repr(cells['partner'])})
    if partner and flow == "production":
        raise RowError(row, "partner", _("production has no partner"))
    if partner == participant:
        raise RowError(row, "partner", _("a participant does not trade with itself"))
    origin = cells["origin"].upper()
    if origin and not registry_rules.is_country_code(origin):
        raise RowError(row, "origin", _("%(origin)s is not an ISO 3166-1 alpha-2 country code")
                                        % {"origin": repr(cells['origin'])})
    hs = _hs(cells["hs_code"]) if cells["hs_code"] else ""
    if hs is None:
        raise RowError(row, "hs_code", _("%(hs_code)s is not one of %(codes)s")
                                         % {"hs_code": repr(cells['hs_code']), "codes": ', '.join(HS_IN_SCOPE)})
    carats = _amount(cells["carats"], row, "carats")
    usd = _amount(cells["usd"], row, "usd")
    if carats is None and usd is None:
        raise RowError(row, "carats", _("carats and usd may not both be empty"))
    certificates: int | None = None
    if cells["certificates"]:
        if not cells["certificates"].isdigit():
            raise RowError(row, "certificates", _("%(certificates)s is not a whole number")
                                                  % {"certificates": repr(cells['certificates'])})
        certificates = int(cells["certificates"])
        if flow == "production":
            raise RowError(row, "certificates", _("production has no certificates"))
    return Row(period, participant, flow, partner, origin, hs, carats, usd, certificates)


# --- who owes what: obligations follow admission and status (STAT-10, GOV-05, GOV-06, SPEC-07) -----------
# A participant owes statistics only for periods in which it took part in the scheme: not before its admission
# (non_participant), not as an applicant, not while removed. Suspended and self-suspended participants are
# still participants (they owe production figures and annual reports) but may not trade (EXP-01, SPEC-02):
# no trade statistics are owed for a period entirely inside such a status. docs/decisions.md, "Statistics".
NOT_PARTICIPATING = frozenset({"non_participant", "applicant", "removed"})
NO_TRADE_OBLIGATION = NOT_PARTICIPATING | {"suspended", "self_suspended"}
OBLIGATION_KINDS = ("trade", "production", "annual_report")


def statuses_during(history: Iterable[registry_rules.StatusPeriod], start: dt.date, end: dt.date) -> set[str]:
    """Every status a participant held on some day from `start` to `end` (both included); `active` for days no
    period covers. Standing changes only where a period begins or ends, so those days (and `start`) suffice."""
    periods = list(history)
    days = {start} | {d for p in periods for d in (p.valid_from, p.valid_to)
                      if d is not None and start < d <= end}
    return {(registry_rules.status_on(periods, d) or registry_rules.StatusPeriod("active", d, None)).status
            for d in days}


def participated(history: Iterable[registry_rules.StatusPeriod] | None, start: dt.date, end: dt.date) -> bool:
    """A participant on at least one day from `start` to `end` (SPEC-07, GOV-05, GOV-13): nobody took part
    before the scheme began. None (no standing known: a code the registry does not hold) judges nothing."""
    if history is None:
        return True
    if end < registry_rules.SCHEME_START:
        return False
    return bool(statuses_during(history, max(start, registry_rules.SCHEME_START), end) - NOT_PARTICIPATING)


def owes(kind: str, history: Iterable[registry_rules.StatusPeriod] | None, period: Period) -> bool:
    """Whether a participant with this standing owes `kind` (trade, production, annual_report) for `period`.

    Production and the annual report (STAT-03, STAT-11): if it was a participant on at least one day of the
    period (the year, for the annual report). Trade (STAT-01): also not when every such day was suspended or
    self-suspended, as it could not trade then."""
    if kind not in OBLIGATION_KINDS:
        raise ValueError(f"unknown obligation {kind!r}")
    if history is None:
        return True
    if kind != "trade":
        return participated(history, period.start, period.end)
    if period.end < registry_rules.SCHEME_START:
        return False
    start = max(period.start, registry_rules.SCHEME_START)
    return bool(statuses_during(history, start, period.end) - NO_TRADE_OBLIGATION)
