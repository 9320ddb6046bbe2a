"""Statistics rules: reporting periods, the exchange format, reporting deadlines, and figures rolled up by year
(STAT-01..11; the anomaly rules in monitoring judge the same `Fact`s and `YearlyView`).

Plain functions over plain values; no database.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any, NamedTuple, Protocol

from django.utils.translation import gettext as _

from kpcs.errors import ValidationFailed
from kpcs.registry import rules as registry_rules
from kpcs.registry.rules import HS_IN_SCOPE, HS_WORKED, normalise_hs

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


def quarter_labels(period: Period) -> list[str]:
    """The quarters a period spans, as labels (2025-H1 -> 2025-Q1, 2025-Q2): how trade cells are keyed."""
    return [q.label for q in periods_of_year(period.year, "quarter") if period.contains(q)]


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
    try:
        hs = normalise_hs(cells["hs_code"]) if cells["hs_code"] else ""  # empty: not broken down by HS code
    except ValidationFailed:
        raise RowError(row, "hs_code", _("%(hs_code)s is not one of %(codes)s")
                                         % {"hs_code": repr(cells['hs_code']), "codes": ', '.join(HS_IN_SCOPE)}
                       ) from None
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


# --- customs figures: HS 7102 trade as customs report it (issue 10, MON-09) ------------------------------
# Not KP statistics: an independent source the Working Group on Statistics compares the KP figures with. One row
# per year, reporting country, flow and HS subheading, in US$ (values only: customs tables carry no carats here).
# docs/decisions.md, "Customs cross-check".

CUSTOMS_COLUMNS = ("year", "reporter", "iso2", "flow", "hs6", "usd")
CUSTOMS_FLOWS = ("export", "import")
# 7102.29 and 7102.39 are diamonds "otherwise worked": outside the KP's definition of rough diamonds (DEF-05) and
# outside its statistics (STAT-02), so a customs file may carry them but they are not compared.
CUSTOMS_WORKED = HS_WORKED
# EU member states report to customs one by one; in the KP the EU is one participant (STAT-07). Years of membership
# counted for a calendar year: a member on 31 December of the year. The United Kingdom left on 31 January 2020
# but stayed in the Union's customs territory, and in its KP participation, until 31 December 2020.
EU_MEMBERS: dict[str, tuple[int, int | None]] = {
    **{c: (1958, None) for c in ("BE", "DE", "FR", "IT", "LU", "NL")},
    **{c: (1973, None) for c in ("DK", "IE")}, "GB": (1973, 2020), "GR": (1981, None),
    **{c: (1986, None) for c in ("ES", "PT")}, **{c: (1995, None) for c in ("AT", "FI", "SE")},
    **{c: (2004, None) for c in ("CY", "CZ", "EE", "HU", "LT", "LV", "MT", "PL", "SI", "SK")},
    **{c: (2007, None) for c in ("BG", "RO")}, "HR": (2013, None),
}


@dataclass(frozen=True)
class CustomsRow:
    """One customs figure: what `iso2` reported for `year`, `flow` and `hs_code`, in US$."""

    year: int
    reporter: str
    iso2: str
    flow: str
    hs_code: str
    usd: Decimal

    def key(self) -> tuple[int, str, str, str]:
        return (self.year, self.iso2, self.flow, self.hs_code)

    @property
    def participant(self) -> str:
        return customs_participant(self.iso2, self.year)


class CustomsFact(NamedTuple):
    """A stored customs figure as the customs cross-check reads it (monitoring.rules.customs_discrepancies)."""

    participant: str  # the KP participant it counts for (customs_participant)
    year: int
    flow: str
    usd: Decimal
    iso2: str  # the reporting country
    hs_code: str
    source: str  # "customs (file name, batch n)"


def eu_member(iso2: str, year: int) -> bool:
    span = EU_MEMBERS.get(iso2)
    return span is not None and span[0] <= year and (span[1] is None or year <= span[1])


def customs_participant(iso2: str, year: int) -> str:
    """The KP participant a customs reporter's figures belong to: EU member states count for the EU (STAT-07)."""
    return "EU" if eu_member(iso2, year) else iso2


def check_customs_header(header: list[str]) -> None:
    cleaned = [h.strip().lower() for h in header]
    if tuple(cleaned) != CUSTOMS_COLUMNS:
        raise RowError(1, "header", _("expected exactly the columns %(columns)s; got %(header)s")
                                      % {"columns": ','.join(CUSTOMS_COLUMNS), "header": ','.join(header)})


def customs_hs(text: str, row: int) -> str | None:
    """The HS subheading through the node's one HS function (registry.rules.normalise_hs); None for the worked
    subheadings 7102.29/7102.39 (not compared); any other code is refused naming the row."""
    try:
        hs = normalise_hs(text, HS_IN_SCOPE + CUSTOMS_WORKED)
    except ValidationFailed:
        raise RowError(row, "hs6", _("%(hs)s is not an HS 7102 subheading (%(codes)s, or 7102.29/7102.39)")
                                     % {"hs": repr(text), "codes": ', '.join(HS_IN_SCOPE)}) from None
    return None if hs in CUSTOMS_WORKED else hs


def parse_customs_row(values: list[str], row: int) -> CustomsRow | None:
    """Validate one data row of a customs file; None for a row kept out of the comparison: a worked subheading,
    or an aggregate with no reporting country (customs tables carry "World", "Free Zones", "Ship stores and
    bunkers" and dissolved territories without an ISO code)."""
    if len(values) != len(CUSTOMS_COLUMNS):
        raise RowError(row, "-", _("expected %(expected)s columns, found %(found)s")
                                   % {"expected": len(CUSTOMS_COLUMNS), "found": len(values)})
    cells = dict(zip(CUSTOMS_COLUMNS, (v.strip() for v in values), strict=True))
    if not re.fullmatch(r"\d{4}", cells["year"]) or not 1990 <= int(cells["year"]) <= 2100:
        raise RowError(row, "year", _("%(year)s is not a year") % {"year": repr(cells["year"])})
    iso2 = cells["iso2"].upper()
    if iso2 and not registry_rules.is_country_code(iso2):
        raise RowError(row, "iso2", _("%(iso2)s is not an ISO 3166-1 alpha-2 country code")
                                      % {"iso2": repr(cells["iso2"])})
    flow = cells["flow"].lower()
    if flow not in CUSTOMS_FLOWS:
        raise RowError(row, "flow", _("%(flow)s is not one of %(flows)s")
                                      % {"flow": repr(cells["flow"]), "flows": ', '.join(CUSTOMS_FLOWS)})
    hs = customs_hs(cells["hs6"], row)
    amount = _amount(cells["usd"], row, "usd")
    if amount is None:
        raise RowError(row, "usd", _("the value in US$ is missing"))
    if hs is None or not iso2:
        return None  # worked diamonds, or an aggregate without a country (World, Free Zones, ship stores)
    return CustomsRow(int(cells["year"]), cells["reporter"][:200], iso2, flow, hs, amount)


# --- figures and their yearly view (what statistics publishes and monitoring's rules judge) ------------------

ZERO = Decimal("0")


class Fact(NamedTuple):
    """One figure: a row of the exchange format or an aggregate derived from certificates.

    A named tuple rather than a dataclass: a scan builds hundreds of thousands of them."""

    period: Period
    participant: str
    flow: str
    partner: str
    origin: str
    hs_code: str
    carats: Decimal | None
    usd: Decimal | None
    certificates: int | None
    source: str  # where it came from: "certificates (…)", "imported (file row n)", "submitted (…)"
    derived: bool = False  # computed from this node's certificates rather than reported


class MinCarats(Protocol):
    """What a price needs of the anomaly thresholds (monitoring.rules.Thresholds): below this, no price."""

    @property
    def min_carats(self) -> Decimal: ...


@dataclass
class Agg:
    carats: Decimal | None = None
    usd: Decimal | None = None
    certificates: int | None = None
    sources: set[tuple[str, str]] = field(default_factory=set)

    def add(self, f: Fact) -> None:
        if f.carats is not None:
            self.carats = (self.carats or ZERO) + f.carats
        if f.usd is not None:
            self.usd = (self.usd or ZERO) + f.usd
        if f.certificates is not None:
            self.certificates = (self.certificates or 0) + f.certificates
        self.sources.add((f.period.label, f.source))

    def price(self, th: MinCarats) -> Decimal | None:
        if self.carats is None or self.usd is None or self.carats < th.min_carats:
            return None
        return self.usd / self.carats

    def evidence(self) -> dict[str, Any]:
        return {"carats": None if self.carats is None else str(self.carats.quantize(Decimal("0.01"))),
                "usd": None if self.usd is None else str(self.usd.quantize(Decimal("0.01"))),
                "certificates": self.certificates, "from": [f"{p}: {s}" for p, s in sorted(self.sources)]}


_GRAIN = {"quarter": 0, "half": 1, "year": 2}


class YearlyView:
    """Facts rolled up to calendar years, per participant and flow, and per trading partner."""

    def __init__(self, facts: Iterable[Fact]) -> None:
        by_key: dict[tuple[str, str, int], list[Fact]] = defaultdict(list)
        for f in facts:
            by_key[(f.participant, f.flow, f.period.year)].append(f)
        self.total: dict[tuple[str, str, int], Agg] = {}
        self.partner: dict[tuple[str, str, int, str], Agg] = {}
        self.grain: dict[tuple[str, str, int], str] = {}
        self.facts: dict[tuple[str, str, int], list[Fact]] = {}
        for key, rows in by_key.items():
            finest = min(_GRAIN[f.period.kind] for f in rows)
            kept = [f for f in rows if _GRAIN[f.period.kind] == finest]
            self.grain[key] = next(k for k, v in _GRAIN.items() if v == finest)
            self.facts[key] = kept
            agg = Agg()
            for f in kept:
                agg.add(f)
                if f.partner:
                    self.partner.setdefault((*key, f.partner), Agg()).add(f)
            self.total[key] = agg
        self.participants = sorted({k[0] for k in self.total})
        self.years = sorted({k[2] for k in self.total})
        # (participant, year) whose figures are no baseline for later years: see `part_years`
        self.not_baseline: set[tuple[str, int]] = set()

    def get(self, participant: str, flow: str, year: int) -> Agg | None:
        return self.total.get((participant, flow, year))

    def is_producer(self, participant: str) -> bool:
        return self.reports(participant, "production")

    def reports(self, participant: str, flow: str) -> bool:
        """Whether the participant ever reported a non-zero figure of this flow (carats or value)."""
        return any(a.carats or a.usd for (p, fl, _), a in self.total.items() if p == participant and fl == flow)
