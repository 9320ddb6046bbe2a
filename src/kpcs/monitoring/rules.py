"""Anomaly rules of the Working Group on Statistics (STAT-09, MON-09, MON-11): pure functions.

Input is plain values: trade and production figures (whatever their source), single shipments, overdue
certificates and participants' status histories. Output is a list of findings whose summaries quote the
figures and whose evidence says where each number came from.

Figures are compared per calendar year. For each (participant, flow, year) the finest granularity present is
used: quarters if any quarterly rows exist, else half-years, else the annual figure (annual figures are
accepted where quarterly ones do not exist). Rows are additive slices: an empty partner, origin or HS code
means "not broken down", never "total".
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median
from typing import Any, NamedTuple

from kpcs.registry import rules as registry_rules
from kpcs.statistics.rules import Period, due_on, owes, participated, periods_of_year

RULES = ("exports-exceed-supply", "price-outlier", "certificate-price-outlier", "volume-spike",
         "mirror-discrepancy", "missing-report", "unconfirmed-certificate", "embargoed-trade")
SEVERITIES = ("high", "medium", "low")
ZERO = Decimal("0")


@dataclass(frozen=True)
class Thresholds:
    """Defaults chosen so an ordinary year of an ordinary producer raises nothing; all are configurable."""

    min_carats: Decimal = Decimal("1000")  # below this, volumes are too small to judge
    min_usd: Decimal = Decimal("1000000")
    stock_tolerance: Decimal = Decimal("0.25")  # exports may exceed supply + carried stock by 25 %
    stock_years: int = 3  # unsold supply of this many previous years counts as stock
    price_history_factor: Decimal = Decimal("3")  # US$/ct vs the participant's own median of previous years
    price_history_years: int = 5
    price_peer_factor: Decimal = Decimal("20")  # vs peers' median, only when there is no own history
    price_min_peers: int = 5
    reexport_factor: Decimal = Decimal("3")  # re-exports' US$/ct vs the same participant's imports
    reexport_share: Decimal = Decimal("0.10")  # a participant whose production < 10 % of imports re-exports
    certificate_factor: Decimal = Decimal("5")  # a shipment's US$/ct vs its origin's production US$/ct
    certificate_min_carats: Decimal = Decimal("500")
    spike_factor: Decimal = Decimal("3")  # jump ×3 or collapse to ⅓ of the median of previous years
    spike_history_years: int = 3
    spike_floor_carats: Decimal = Decimal("10000")  # added to both sides: robust to zeros and small bases
    spike_floor_usd: Decimal = Decimal("5000000")
    mirror_tolerance: Decimal = Decimal("0.20")
    due_months: int = 2
    confirmation_days: int = 15

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Thresholds:
        known = {f: getattr(cls, f) for f in cls.__dataclass_fields__}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown thresholds: {', '.join(sorted(unknown))}")
        conv: dict[str, Any] = {k: (int(v) if isinstance(known[k], int) else Decimal(str(v)))
                                for k, v in values.items()}
        return cls(**conv)


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


@dataclass(frozen=True)
class Shipment:
    """One certificate's totals, for the certificate-price rule."""

    ref: str
    participant: str
    day: dt.date
    origin: str
    carats: Decimal
    usd: Decimal
    industrial_only: bool
    source: str


@dataclass(frozen=True)
class Overdue:
    number: str
    exporting: str
    importing: str
    issued_on: dt.date
    due_on: dt.date
    carats: Decimal
    usd: Decimal


@dataclass
class Finding:
    rule: str
    participant: str
    period: str
    severity: str
    summary: str
    evidence: dict[str, Any]
    subject: str = ""

    @property
    def fingerprint(self) -> str:
        return "|".join((self.rule, self.participant, self.period, self.subject))

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "participant": self.participant, "period": self.period,
                "severity": self.severity, "summary": self.summary, "evidence": self.evidence,
                "subject": self.subject}


def ct(value: Decimal | None) -> str:
    return "no figure" if value is None else f"{value:,.2f} ct"


def usd(value: Decimal | None) -> str:
    return "no figure" if value is None else f"US${value:,.0f}"


def per_ct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"US${value:,.2f}/ct"


# --- yearly view ---------------------------------------------------------------------------------

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

    def price(self, th: Thresholds) -> Decimal | None:
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

    def get(self, participant: str, flow: str, year: int) -> Agg | None:
        return self.total.get((participant, flow, year))

    def is_producer(self, participant: str) -> bool:
        return any(a.carats for (p, fl, _), a in self.total.items() if p == participant and fl == "production")


def _severity(ratio: Decimal, factor: Decimal) -> str:
    """high beyond factor², medium beyond factor^1.5, else low (ratio and factor ≥ 1)."""
    if ratio >= factor * factor:
        return "high"
    if ratio * ratio >= factor * factor * factor:
        return "medium"
    return "low"


def _fold(ratio: Decimal) -> Decimal:
    """A ratio's distance from 1 in either direction (×3 and ÷3 both give 3)."""
    return ratio if ratio >= 1 else (Decimal("Infinity") if ratio == 0 else 1 / ratio)


# --- the rules -----------------------------------------------------------------------------------

def year_complete(year: int, as_of: dt.date | None, th: Thresholds) -> bool:
    """A year is judged on volumes only once its fourth quarter's reports are due: a year in progress would
    look like a collapse, and shipments in transit like mirror gaps."""
    return as_of is None or due_on(Period(year, "quarter", 4), th.due_months) < as_of


def exports_exceed_supply(view: YearlyView, th: Thresholds, as_of: dt.date | None = None) -> list[Finding]:
    """Exports beyond production plus imports plus estimated stock (the Republic of Congo case, MON-11)."""
    out = []
    for (p, flow, year), exp in view.total.items():
        if flow != "export" or not exp.carats or exp.carats < th.min_carats or not year_complete(year, as_of, th):
            continue
        prod = view.get(p, "production", year)
        if prod is None and view.is_producer(p):
            continue  # production not reported this year: missing-report says so; no guess here
        imp = view.get(p, "import", year)
        supply = (prod.carats if prod and prod.carats else ZERO) + (imp.carats if imp and imp.carats else ZERO)
        carry = ZERO
        for y in range(year - th.stock_years, year):
            e, pr, im = view.get(p, "export", y), view.get(p, "production", y), view.get(p, "import", y)
            carry += sum(((a.carats or ZERO) for a in (pr, im) if a), ZERO) - ((e.carats or ZERO) if e else ZERO)
        carry = max(carry, ZERO)
        available = supply + carry
        if exp.carats <= available * (1 + th.stock_tolerance) or exp.carats - available < th.min_carats:
            continue
        ratio = exp.carats / available if available else Decimal("Infinity")
        severity = "high" if ratio >= 3 else "medium" if ratio >= Decimal("1.75") else "low"
        times = "with no supply at all" if not available else f"{ratio:.1f}× what was available"
        out.append(Finding(
            "exports-exceed-supply", p, str(year), severity,
            f"{p} exported {ct(exp.carats)} in {year} but produced {ct(prod.carats if prod else ZERO)} and "
            f"imported {ct(imp.carats if imp else ZERO)} (estimated stock carried {ct(carry)}): "
            f"exports are {times}.",
            {"exports": exp.evidence(), "production": prod.evidence() if prod else None,
             "imports": imp.evidence() if imp else None, "stock_carried_carats": str(carry),
             "tolerance": str(th.stock_tolerance)}))
    return out


def price_outliers(view: YearlyView, th: Thresholds) -> list[Finding]:
    """US$/ct far from the participant's own history, from peers (no history), or re-exports vs imports."""
    out = []
    prices: dict[tuple[str, str, int], Decimal] = {}
    for key, agg in view.total.items():
        price = agg.price(th)
        if price is not None:
            prices[key] = price
    peers: dict[tuple[str, int], list[Decimal]] = defaultdict(list)
    for (_, flow, year), price in prices.items():
        peers[(flow, year)].append(price)
    for (p, flow, year), price in prices.items():
        history = [prices[(p, flow, y)] for y in range(year - th.price_history_years, year) if (p, flow, y) in prices]
        agg = view.total[(p, flow, year)]
        if len(history) >= 2:
            ref, basis, factor = Decimal(median(history)), "its own median of previous years", th.price_history_factor
        elif len(peers[(flow, year)]) >= th.price_min_peers:
            ref, basis, factor = Decimal(median(peers[(flow, year)])), "the median of all participants", \
                th.price_peer_factor
        else:
            continue
        ratio = price / ref if ref else Decimal("Infinity")
        folded = _fold(ratio)
        if folded < factor:
            continue
        severity = "low" if basis.startswith("the median") else _severity(folded, factor)
        word = "above" if ratio > 1 else "below"
        out.append(Finding(
            "price-outlier", p, str(year), severity,
            f"{p}'s {flow} in {year} were valued at {per_ct(price)} ({usd(agg.usd)} for {ct(agg.carats)}), "
            f"{folded:.1f}× {word} {basis} ({per_ct(ref)}).",
            {"flow": flow, "price_usd_per_ct": str(price.quantize(Decimal("0.01"))),
             "reference_usd_per_ct": str(ref.quantize(Decimal("0.01"))), "reference": basis,
             "history": [str(h.quantize(Decimal("0.01"))) for h in history], "figures": agg.evidence()},
            subject=flow))
    for (p, flow, year), exp_price in prices.items():
        if flow != "export" or (p, "import", year) not in prices:
            continue
        imp = view.total[(p, "import", year)]
        prod = view.get(p, "production", year)
        if prod and prod.carats and imp.carats and prod.carats >= imp.carats * th.reexport_share:
            continue  # a producer's exports mix its own goods: not a re-export comparison
        imp_price = prices[(p, "import", year)]
        folded = _fold(exp_price / imp_price)
        if folded < th.reexport_factor:
            continue
        word = "above" if exp_price > imp_price else "below"
        out.append(Finding(
            "price-outlier", p, str(year), _severity(folded, th.reexport_factor),
            f"{p} re-exported rough diamonds in {year} at {per_ct(exp_price)}, {folded:.1f}× {word} the "
            f"{per_ct(imp_price)} of its imports ({ct(imp.carats)}, {usd(imp.usd)}).",
            {"export_usd_per_ct": str(exp_price.quantize(Decimal("0.01"))),
             "import_usd_per_ct": str(imp_price.quantize(Decimal("0.01"))),
             "exports": view.total[(p, flow, year)].evidence(), "imports": imp.evidence()},
            subject="re-export"))
    return out


def origin_prices(view: YearlyView, th: Thresholds) -> dict[tuple[str, int], Decimal]:
    """Production US$/ct per origin and year: the yardstick for single shipments."""
    return {(p, year): price for (p, flow, year), agg in view.total.items()
            if flow == "production" and (price := agg.price(th)) is not None}


def reference_price(prices: Mapping[tuple[str, int], Decimal], origin: str, year: int) -> tuple[Decimal, int] | None:
    for y in (year, year - 1, year - 2):
        if (origin, y) in prices:
            return prices[(origin, y)], y
    return None


def shipments_from_facts(facts: Iterable[Fact]) -> list[Shipment]:
    """Reported export rows that stand for exactly one certificate are single shipments too (this node's own
    certificates are checked one by one from the certificate store)."""
    return [Shipment(ref=f"{f.participant} {f.period.label} export to {f.partner or '?'} ({f.source})",
                     participant=f.participant, day=f.period.end, origin=f.origin, carats=f.carats, usd=f.usd,
                     industrial_only=f.hs_code == "7102.21", source=f.source)
            for f in facts if f.flow == "export" and f.certificates == 1 and not f.derived and f.origin and f.carats
            and f.usd]


def certificate_price_outliers(shipments: Iterable[Shipment], prices: Mapping[tuple[str, int], Decimal],
                               th: Thresholds) -> list[Finding]:
    """A shipment priced far from its declared origin's production US$/ct (undervaluation through a hub)."""
    out = []
    for s in shipments:
        if s.industrial_only or not s.origin or s.carats < th.certificate_min_carats:
            continue
        ref = reference_price(prices, s.origin, s.day.year)
        if ref is None:
            continue
        ref_price, ref_year = ref
        price = s.usd / s.carats
        folded = _fold(price / ref_price)
        if folded < th.certificate_factor:
            continue
        word = "above" if price > ref_price else "below"
        out.append(Finding(
            "certificate-price-outlier", s.participant, str(s.day.year), _severity(folded, th.certificate_factor),
            f"Shipment {s.ref} from {s.participant} ({ct(s.carats)}, {usd(s.usd)}, origin {s.origin}) is priced at "
            f"{per_ct(price)}, {folded:.1f}× {word} {s.origin}'s {ref_year} production average {per_ct(ref_price)}.",
            {"shipment": s.ref, "source": s.source, "date": s.day.isoformat(), "origin": s.origin,
             "carats": str(s.carats), "usd": str(s.usd), "price_usd_per_ct": str(price.quantize(Decimal("0.01"))),
             "origin_production_usd_per_ct": str(ref_price.quantize(Decimal("0.01"))), "origin_year": ref_year},
            subject=s.ref))
    return out


def volume_spikes(view: YearlyView, th: Thresholds, as_of: dt.date | None = None) -> list[Finding]:
    """A jump or collapse against the median of previous years; a floor on both sides tames small bases."""
    out = []
    for (p, flow, year), agg in view.total.items():
        if not year_complete(year, as_of, th):
            continue
        unit = "carats" if agg.carats is not None else "usd"
        current = agg.carats if unit == "carats" else agg.usd
        if current is None:
            continue
        prev = [getattr(view.total[(p, flow, y)], unit) for y in range(year - th.spike_history_years, year)
                if (p, flow, y) in view.total and getattr(view.total[(p, flow, y)], unit) is not None]
        if len(prev) < 2:
            continue
        base = Decimal(median(prev))
        floor = th.spike_floor_carats if unit == "carats" else th.spike_floor_usd
        ratio = (current + floor) / (base + floor)
        folded = _fold(ratio)
        if folded < th.spike_factor:
            continue
        fmt = ct if unit == "carats" else usd
        word = "jumped" if ratio > 1 else "collapsed"
        out.append(Finding(
            "volume-spike", p, str(year), _severity(folded, th.spike_factor),
            f"{p}'s {flow} {word} to {fmt(current)} in {year} from a median of {fmt(base)} over the previous "
            f"{len(prev)} years ({folded:.1f}×).",
            {"flow": flow, "unit": unit, "current": str(current), "baseline_median": str(base),
             "previous": [str(v) for v in prev], "figures": agg.evidence()},
            subject=flow))
    return out


def mirror_discrepancies(view: YearlyView, th: Thresholds, as_of: dt.date | None = None) -> list[Finding]:
    """What A reports exporting to B against what B reports importing from A (STAT-02)."""
    out = []
    pairs = {(p, partner, year) for (p, flow, year, partner) in view.partner if flow == "export"}
    pairs |= {(partner, p, year) for (p, flow, year, partner) in view.partner if flow == "import"}
    broken_down = {k[:3] for k in view.partner}
    for a, b, year in sorted(pairs):
        if not year_complete(year, as_of, th):
            continue
        if (a, "export", year) not in broken_down or (b, "import", year) not in broken_down:
            continue  # one side did not report, or gives no partner breakdown: not a mirror gap
        e = view.partner.get((a, "export", year, b), Agg())
        i = view.partner.get((b, "import", year, a), Agg())
        unit = "carats" if e.carats is not None or i.carats is not None else "usd"
        x, y = getattr(e, unit) or ZERO, getattr(i, unit) or ZERO
        minimum = th.min_carats if unit == "carats" else th.min_usd
        diff = abs(x - y)
        rel = diff / max(x, y) if max(x, y) else ZERO
        if rel <= th.mirror_tolerance or diff < minimum:
            continue
        severity = "high" if rel >= Decimal("0.5") else "medium" if rel >= Decimal("0.3") else "low"
        fmt = ct if unit == "carats" else usd
        out.append(Finding(
            "mirror-discrepancy", a, str(year), severity,
            f"In {year} {a} reported exporting {fmt(x)} to {b}, but {b} reported importing {fmt(y)} from {a} "
            f"({rel:.0%} apart).",
            {"unit": unit, "exporter_reports": e.evidence(), "importer_reports": i.evidence(),
             "relative_difference": str(rel.quantize(Decimal("0.0001")))},
            subject=b))
    return out


def barred(status: str, export_side: bool) -> bool:
    """May not trade (or not export) in this status (EXP-01, SPEC-01..07); a non-participant (before its
    admission, GOV-05) is outside the scheme: no KP trade with it either."""
    if status == "non_participant":
        return True
    return not (registry_rules.may_export(status) if export_side else registry_rules.may_trade(status))


def _blocked_share(history: Sequence[registry_rules.StatusPeriod], period: Period, export_side: bool) -> float:
    """Share of the period's days on which the participant could not trade (or not export)."""
    days = (period.end - period.start).days + 1
    blocked = 0
    day = period.start
    while day <= period.end:
        st = registry_rules.status_on(history, day)
        if st is not None and barred(st.status, export_side):
            blocked += 1
        day += dt.timedelta(days=1)
    return blocked / days


def embargoed_trade(facts: Iterable[Fact], statuses: Mapping[str, Sequence[registry_rules.StatusPeriod]],
                    th: Thresholds) -> list[Finding]:
    """Trade with, or origin in, a participant under removal, suspension or embargo at the time (SPEC-01..07)."""
    hits: dict[tuple[str, int, str], list[tuple[Fact, str, float]]] = defaultdict(list)
    share_cache: dict[tuple[str, Period, bool], float] = {}

    def share(code: str, period: Period, export_side: bool) -> float:
        key = (code, period, export_side)
        if key not in share_cache:
            share_cache[key] = _blocked_share(statuses.get(code, ()), period, export_side) if code in statuses \
                else 0.0
        return share_cache[key]

    for f in facts:
        if f.flow == "production" or not ((f.carats or ZERO) > 0 or (f.usd or ZERO) > 0):
            continue
        if f.participant not in statuses and f.partner not in statuses and f.origin not in statuses:
            continue  # nobody involved was ever barred
        checks = []
        if f.partner:
            # exporting to a partner that may not trade; importing from a partner that may not export
            checks.append((f.partner, f.flow == "import", f"{'imports from' if f.flow == 'import' else 'exports to'} "
                                                          f"{f.partner}"))
        if f.origin and f.origin != f.participant:
            checks.append((f.origin, True, f"diamonds of origin {f.origin}"))
        checks.append((f.participant, f.flow == "export", f"{f.participant} itself"))
        for code, export_side, what in checks:
            if code not in statuses:
                continue
            s = share(code, f.period, export_side)
            if s > 0:
                hits[(f.participant, f.period.year, code)].append((f, what, s))
    out = []
    for (p, year, code), rows in sorted(hits.items()):
        full = any(s >= 1.0 for _, _, s in rows)
        carats = sum(((f.carats or ZERO) for f, _, _ in rows), ZERO)
        value = sum(((f.usd or ZERO) for f, _, _ in rows), ZERO)
        status = sorted({st.status for st in statuses.get(code, ())
                         if st.valid_from.year <= year and (st.valid_to is None or st.valid_to.year >= year)})
        labels = sorted({w for _, w, _ in rows})
        out.append(Finding(
            "embargoed-trade", p, str(year), "high" if full else "low",
            f"{p} recorded {', '.join(labels)} in {year} ({ct(carats)}, {usd(value)}) while {code} was "
            f"{'/'.join(status) or 'barred'}" + ("" if full else " for part of the period") + ".",
            {"counterparty": code, "status": status, "rows": [
                {"period": f.period.label, "flow": f.flow, "partner": f.partner, "origin": f.origin,
                 "carats": None if f.carats is None else str(f.carats), "usd": None if f.usd is None else str(f.usd),
                 "source": f.source, "blocked_share": round(s, 3)} for f, _, s in rows]},
            subject=code))
    return out


def missing_reports(facts: Sequence[Fact], annual_reports: Mapping[tuple[str, int], dt.date], as_of: dt.date,
                    th: Thresholds, annual_reports_from: int | None = None,
                    statuses: Mapping[str, Sequence[registry_rules.StatusPeriod]] | None = None) -> list[Finding]:
    """A required report absent after its due date, including a participant whose data simply stop (STAT-10).

    Obligations start with a participant's first figure: trade every quarter (or every year for one that
    reports annually), production every half-year for a producer. Only periods up to the latest period anyone
    reported (the reporting horizon) are expected, so history loaded late does not count as missing. With
    `statuses`, only periods the participant owes by its standing (statistics.rules.owes: not before admission,
    not while removed, no trade while suspended throughout).
    """
    if not facts:
        return []
    # Trade derived from certificates is never "missing", and it does not move the horizon of what reports
    # are expected: only reported figures do (unless nothing was reported).
    reported_ends = [f.period.end for f in facts if not f.derived]
    horizon = max(reported_ends) if reported_ends else max(f.period.end for f in facts)
    by_p: dict[str, list[Fact]] = defaultdict(list)
    for f in facts:
        by_p[f.participant].append(f)
    out = []
    for p, rows in sorted(by_p.items()):
        history = _standing(statuses, p)
        missing: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        obliged: list[str] = []
        for kind, flows, grain in (("trade", ("export", "import"), "quarter"), ("production", ("production",), "half")):
            group = [f for f in rows if f.flow in flows]
            if not any((f.carats or f.usd) for f in group):
                continue  # never traded, or never produced: no such obligation
            obliged.append(kind)
            if all(f.period.kind == "year" for f in group):
                grain = "year"  # reports annually: annual figures are accepted
            have = {f.period for f in group}
            start = min(f.period.start for f in group)
            for year in range(start.year, horizon.year + 1):
                for period in periods_of_year(year, grain):
                    if period.start < start or period.end > horizon or due_on(period, th.due_months) >= as_of:
                        continue
                    if not owes(kind, history, period):
                        continue
                    if period not in have and not any(h.contains(period) or period.contains(h) for h in have):
                        missing[year][kind].append(period.label)
        if annual_reports_from is not None:
            first_year = min(f.period.year for f in rows)
            for year in range(max(first_year, annual_reports_from), as_of.year):
                if dt.date(year + 1, 3, 31) < as_of and (p, year) not in annual_reports \
                        and owes("annual_report", history, Period(year, "year", 1)):
                    missing[year]["annual report"].append(f"annual report {year}")
        for year, kinds in sorted(missing.items()):
            parts = [f"{kind} for {', '.join(labels)}" for kind, labels in kinds.items()]
            whole = [k for k, labels in kinds.items() if k != "annual report"
                     and len(labels) == len(periods_of_year(year, _grain_of(labels[0])))]
            severity = ("high" if obliged and set(whole) == set(obliged) else "medium" if whole else "low")
            out.append(Finding(
                "missing-report", p, str(year), severity,
                f"{p} has not reported {'; '.join(parts)}, due {th.due_months} months after each period.",
                {"missing": {k: list(v) for k, v in kinds.items()}, "as_of": as_of.isoformat(),
                 "reporting_horizon": horizon.isoformat()}))
    return out


def _grain_of(label: str) -> str:
    return "quarter" if "-Q" in label else "half" if "-H" in label else "year"


def unconfirmed_certificates(overdue: Iterable[Overdue], as_of: dt.date) -> list[Finding]:
    """IMP-02: no import confirmation after the deadline."""
    out = []
    for o in overdue:
        late = (as_of - o.due_on).days
        period = f"{o.issued_on.year}-Q{(o.issued_on.month - 1) // 3 + 1}"
        out.append(Finding(
            "unconfirmed-certificate", o.importing, period, "high" if late > 30 else "medium",
            f"Certificate {o.number} from {o.exporting} ({ct(o.carats)}, {usd(o.usd)}), issued {o.issued_on}, "
            f"has no import confirmation from {o.importing}: {late} days past the {o.due_on} deadline.",
            {"certificate": o.number, "exporting": o.exporting, "importing": o.importing,
             "issued_on": o.issued_on.isoformat(), "due_on": o.due_on.isoformat(), "days_late": late,
             "carats": str(o.carats), "usd": str(o.usd)},
            subject=o.number))
    return out


def _standing(statuses: Mapping[str, Sequence[registry_rules.StatusPeriod]] | None,
              code: str) -> Sequence[registry_rules.StatusPeriod] | None:
    """A participant's status history; None when no statuses are given at all (standing not judged). A code
    without periods was plainly active throughout."""
    return None if statuses is None else statuses.get(code, ())


def as_participant(facts: Iterable[Fact],
                   statuses: Mapping[str, Sequence[registry_rules.StatusPeriod]] | None) -> list[Fact]:
    """A participant's own figures for periods in which it took part in the scheme on at least one day (SPEC-07,
    GOV-05): figures from before its admission, or while it was removed, are not its history as a participant —
    no baseline, no supply, no prices, no finding of their own (embargoed-trade still sees them)."""
    facts = list(facts)
    if statuses is None:
        return facts
    return [f for f in facts if participated(statuses.get(f.participant, ()), f.period.start, f.period.end)]


def analyse(facts: Sequence[Fact], *, shipments: Iterable[Shipment] = (), overdue: Iterable[Overdue] = (),
            statuses: Mapping[str, Sequence[registry_rules.StatusPeriod]] | None = None,
            annual_reports: Mapping[tuple[str, int], dt.date] | None = None, annual_reports_from: int | None = None,
            as_of: dt.date, thresholds: Thresholds | None = None, view: YearlyView | None = None) -> list[Finding]:
    """Every rule; `view` may be passed when the caller already rolled the same facts up to years.

    With `statuses`, the figures of a participant for periods in which it was not one (before admission, while
    removed) are left out of every rule but embargoed-trade, which exists to find that trade."""
    th = thresholds or Thresholds()
    judged = as_participant(facts, statuses)
    if view is None or len(judged) != len(facts):
        view = YearlyView(judged)
    findings = (exports_exceed_supply(view, th, as_of) + price_outliers(view, th)
                + certificate_price_outliers(shipments, origin_prices(view, th), th)
                + volume_spikes(view, th, as_of) + mirror_discrepancies(view, th, as_of)
                + missing_reports(judged, annual_reports or {}, as_of, th, annual_reports_from, statuses)
                + unconfirmed_certificates(overdue, as_of)
                + embargoed_trade(facts, statuses or {}, th))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order[f.severity], f.rule, f.participant, f.period, f.subject))


# --- peer review (MON-02..MON-08) -------------------------------------------------------------------
# Review visits (on invitation, MON-06) and review missions (by decision, MON-02/03): a mandate, a team tagged by
# constituency with one leader, a report due three weeks after the visit and published three weeks after that
# (MON-04), recommendations followed up until each is implemented or closed.

REVIEW_KINDS = ("visit", "mission")
REVIEW_STATUSES = ("planned", "visited", "report_submitted", "report_published", "closed")
CONSTITUENCIES = ("government", "industry", "civil_society")
RECOMMENDATION_STATUSES = ("open", "in_progress", "implemented", "closed")
RECOMMENDATION_DONE = frozenset({"implemented", "closed"})
REPORT_DAYS = 21  # MON-04: the report within three weeks of the visit …
PUBLICATION_DAYS = 21  # … and posted within three weeks after that

# (from, action) -> to: the cycle of a review
REVIEW_WORKFLOW = {
    ("planned", "record_visit"): "visited",
    ("visited", "submit_report"): "report_submitted",
    ("report_submitted", "publish_report"): "report_published",
    ("report_published", "close"): "closed",
}
# Team changes before the report; recommendations from the visit until the review closes.
TEAM_OPEN = frozenset({"planned", "visited"})
RECOMMENDATIONS_OPEN = frozenset({"visited", "report_submitted", "report_published"})
# Follow-up moves a recommendation forward; closing it ends it.
FOLLOW_UP_TO = ("in_progress", "implemented")
# MON-04: the participant comments on the report once it has it and until it is posted, with its comments.
COMMENTS_OPEN = frozenset({"report_submitted"})
COMMENT_MAX_LENGTH = 20_000  # a participant's comments on a report of tens of pages


def comment_refusal(status: str) -> str | None:
    """Why the reviewed participant may not comment on the report of a review in `status` (MON-04), or None.

    `no_report` before the report reaches it (nothing to comment on yet); `comments_closed` once the report is
    posted with the comments received (publication ends the three weeks MON-04 allows).
    """
    if status in COMMENTS_OPEN:
        return None
    return "comments_closed" if status in ("report_published", "closed") else "no_report"


def report_due(visit_end: dt.date) -> dt.date:
    """MON-04: the report goes to the Chair and the participant within three weeks of the visit's end."""
    return visit_end + dt.timedelta(days=REPORT_DAYS)


def publication_due(visit_end: dt.date) -> dt.date:
    """MON-04: posted within three weeks of the report's due date (a late report does not move it)."""
    return report_due(visit_end) + dt.timedelta(days=PUBLICATION_DAYS)


def next_review_status(status: str, action: str) -> str | None:
    return REVIEW_WORKFLOW.get((status, action))


class ReviewFlags(NamedTuple):
    report_overdue: bool
    publication_overdue: bool


def review_flags(status: str, visit_end: dt.date, submitted_on: dt.date | None, published_on: dt.date | None,
                 as_of: dt.date) -> ReviewFlags:
    """Overdue as of a day: the report not submitted by its due date, the report not published by its due date.

    Judged as of `as_of`, like reporting obligations: a report submitted after that day was not in then.
    """
    if status == "planned":
        return ReviewFlags(False, False)
    submitted = submitted_on is not None and submitted_on <= as_of
    published = published_on is not None and published_on <= as_of
    return ReviewFlags(report_overdue=not submitted and as_of > report_due(visit_end),
                       publication_overdue=not published and as_of > publication_due(visit_end))


def recommendation_overdue(status: str, due_on: dt.date, as_of: dt.date) -> bool:
    return status not in RECOMMENDATION_DONE and as_of > due_on


def may_close_review(recommendation_statuses: Iterable[str]) -> bool:
    """A review closes only once every recommendation is implemented or closed (none at all is fine)."""
    return all(s in RECOMMENDATION_DONE for s in recommendation_statuses)


def team_problems(leaders: int, members: int) -> list[str]:
    """What keeps a team from visiting: it needs members and exactly one leader."""
    problems = []
    if members == 0:
        problems.append("the review team has no members")
    if leaders != 1:
        problems.append(f"the review team needs exactly one leader, not {leaders}")
    return problems


def next_recommendation_status(status: str, action: str, to: str | None = None) -> str | None:
    """follow_up: open → in_progress | implemented, in_progress → in_progress | implemented (a note on the way);
    close: anything not closed → closed."""
    if action == "close":
        return "closed" if status != "closed" else None
    if action == "follow_up" and status in ("open", "in_progress") and to in FOLLOW_UP_TO:
        return to
    return None
