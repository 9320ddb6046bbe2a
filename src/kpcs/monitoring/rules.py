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
from dataclasses import dataclass
from decimal import Decimal
from statistics import median
from typing import Any, NamedTuple

from kpcs.registry import rules as registry_rules
from kpcs.statistics.rules import (  # the figures and their yearly view are the statistics app's
    NOT_PARTICIPATING,
    Agg,
    CustomsFact,
    Fact,
    Period,
    YearlyView,
    due_on,
    owes,
    participated,
    periods_of_year,
    statuses_during,
)

RULES = ("exports-exceed-supply", "price-outlier", "certificate-price-outlier", "volume-spike",
         "mirror-discrepancy", "missing-report", "unconfirmed-certificate", "embargoed-trade", "re-export-valuation",
         "customs-mirror-discrepancy")
SEVERITIES = ("high", "medium", "low")
ZERO = Decimal("0")
UNITS = ("carats", "usd")  # volume first: a value-only history is compared on values


@dataclass(frozen=True)
class Thresholds:
    """Defaults chosen so an ordinary year of an ordinary producer raises nothing; all are configurable."""

    min_carats: Decimal = Decimal("1000")  # below this, volumes are too small to judge
    min_usd: Decimal = Decimal("1000000")
    stock_tolerance: Decimal = Decimal("0.25")  # exports may exceed supply + carried stock by 25 %
    stock_tolerance_usd: Decimal = Decimal("0.50")  # … by 50 % on values: mine and sale valuations differ
    stock_years: int = 3  # unsold supply of this many previous years counts as stock
    price_history_factor: Decimal = Decimal("3")  # US$/ct vs the participant's own median of previous years
    price_history_years: int = 5
    price_peer_factor: Decimal = Decimal("20")  # vs peers' median, only when there is no own history
    price_min_peers: int = 5
    reexport_factor: Decimal = Decimal("3")  # re-exports' US$/ct ×3 from the imports' US$/ct: high severity
    reexport_share: Decimal = Decimal("0.10")  # a hub: production < 10 % of imports (by carats or by value)
    reexport_margin: Decimal = Decimal("0.40")  # rough re-traded without processing: markup within ±40 %
    markup_change: Decimal = Decimal("0.30")  # a hub's markup moving by > 30 points from one year to the next
    certificate_factor: Decimal = Decimal("5")  # a shipment's US$/ct vs its origin's production US$/ct
    certificate_min_carats: Decimal = Decimal("500")
    spike_factor: Decimal = Decimal("3")  # jump ×3 or collapse to ⅓ of the median of previous years
    spike_history_years: int = 3
    spike_floor_carats: Decimal = Decimal("10000")  # added to both sides: robust to zeros and small bases
    spike_floor_usd: Decimal = Decimal("5000000")
    mirror_tolerance: Decimal = Decimal("0.20")
    # KP figures against customs (issue 10): real pairs agree within ~10 % (Botswana, Russia, India, Israel,
    # Canada 2006-2021), the EU's customs sum runs 10-20 % above its KP figure (intra-EU trade), documented
    # cases are 40 % and more apart. docs/decisions.md, "Customs cross-check".
    customs_tolerance: Decimal = Decimal("0.25")
    customs_tolerance_eu: Decimal = Decimal("0.40")  # approximate: member states' customs include intra-EU trade
    customs_min_usd: Decimal = Decimal("10000000")  # and at least US$10 million apart
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


def _downgrade(severity: str) -> str:
    """One level lower: a comparison against a single previous year is weaker evidence than a longer history."""
    return {"high": "medium", "medium": "low"}.get(severity, "low")


def _missing(unit: str, aggs: Mapping[int, Agg | None]) -> str:
    """Why `unit` could not be compared: the years (of those looked at) that do not report it."""
    years = [str(y) for y, a in sorted(aggs.items()) if a is not None and getattr(a, unit) is None]
    return f"not reported for {', '.join(years)}" if years else "not reported"


def _fmt(unit: str) -> Any:
    return ct if unit == "carats" else usd


# --- the rules -----------------------------------------------------------------------------------

def year_complete(year: int, as_of: dt.date | None, th: Thresholds) -> bool:
    """A year is judged on volumes only once its fourth quarter's reports are due: a year in progress would
    look like a collapse, and shipments in transit like mirror gaps."""
    return as_of is None or due_on(Period(year, "quarter", 4), th.due_months) < as_of


def exports_exceed_supply(view: YearlyView, th: Thresholds, as_of: dt.date | None = None) -> list[Finding]:
    """Exports beyond production plus imports plus estimated stock (the Republic of Congo case, MON-11).

    Compared in carats when the year's exports, production and imports all give carats, else on values (a
    participant that reports values only is still judged); the evidence says which and why."""
    out = []
    for (p, flow, year), exp in view.total.items():
        if flow != "export" or not year_complete(year, as_of, th):
            continue
        prod = view.get(p, "production", year)
        if prod is None and view.is_producer(p):
            continue  # production not reported this year: missing-report says so; no guess here
        imp = view.get(p, "import", year)
        if imp is None and view.reports(p, "import"):
            continue  # likewise for an importer whose imports of the year are missing: a gap is not a zero
        flows = {"exports": exp, "production": prod, "imports": imp}
        unit, not_compared = None, {}
        for u in UNITS:
            lacking = [name for name, a in flows.items() if a is not None and getattr(a, u) is None]
            if not lacking:
                unit = u
                break
            not_compared[u] = f"not reported for {year} ({', '.join(lacking)})"
        if unit is None:
            continue
        if unit == "usd" and is_hub(view, p, year, th):
            continue  # a hub's re-exports worth more than its imports: reexport_valuation judges that on values
        minimum = th.min_carats if unit == "carats" else th.min_usd
        tolerance = th.stock_tolerance if unit == "carats" else th.stock_tolerance_usd
        exported = getattr(exp, unit) or ZERO
        if exported < minimum:
            continue

        def amount(a: Agg | None, u: str = unit) -> Decimal:
            return (getattr(a, u) or ZERO) if a is not None else ZERO

        supply = amount(prod) + amount(imp)
        carry = ZERO
        for y in range(year - th.stock_years, year):
            e, pr, im = view.get(p, "export", y), view.get(p, "production", y), view.get(p, "import", y)
            carry += amount(pr) + amount(im) - amount(e)
        carry = max(carry, ZERO)
        available = supply + carry
        if exported <= available * (1 + tolerance) or exported - available < minimum:
            continue
        ratio = exported / available if available else Decimal("Infinity")
        severity = "high" if ratio >= 3 else "medium" if ratio >= Decimal("1.75") else "low"
        times = "with no supply at all" if not available else f"{ratio:.1f}× what was available"
        fmt = _fmt(unit)
        out.append(Finding(
            "exports-exceed-supply", p, str(year), severity,
            f"{p} exported {fmt(exported)} in {year} but produced {fmt(amount(prod))} and "
            f"imported {fmt(amount(imp))} (estimated stock carried {fmt(carry)}): exports are {times}.",
            {"exports": exp.evidence(), "production": prod.evidence() if prod else None,
             "imports": imp.evidence() if imp else None, "stock_carried_" + unit: str(carry),
             "tolerance": str(tolerance), "compared": [unit], "not_compared": not_compared}))
    return out


def price_outliers(view: YearlyView, th: Thresholds) -> list[Finding]:
    """US$/ct far from the participant's own history (one previous year is enough, at a lower severity), or from
    peers when it has none. Re-exports against imports are `reexport_valuation`'s."""
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
        window = range(year - th.price_history_years, year)
        history = [prices[(p, flow, y)] for y in window if (p, flow, y) in prices and (p, y) not in view.not_baseline]
        # years reported without a unit value (carats or value missing, or too few carats to judge)
        unpriced = {str(y): ("carats not reported" if a.carats is None else "value not reported"
                             if a.usd is None else "too few carats")
                    for y in window if (a := view.total.get((p, flow, y))) is not None and (p, flow, y) not in prices}
        agg = view.total[(p, flow, year)]
        if not history:
            # years missing: its own last price within twice the window says more than peers that produce
            # different goods (the DRC's industrial US$10/ct against Lesotho's US$1,000/ct)
            older = [y for y in range(year - 2 * th.price_history_years, year - th.price_history_years)
                     if (p, flow, y) in prices and (p, y) not in view.not_baseline]
            if older:
                window, history = range(older[-1], year), [prices[(p, flow, older[-1])]]
        if history:
            ref, factor = Decimal(median(history)), th.price_history_factor
            basis = ("its own median of previous years" if len(history) > 1
                     else f"its only previous year with a price "
                          f"({max(y for y in window if (p, flow, y) in prices and (p, y) not in view.not_baseline)})")
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
        if len(history) == 1:
            severity = _downgrade(severity)
        word = "above" if ratio > 1 else "below"
        out.append(Finding(
            "price-outlier", p, str(year), severity,
            f"{p}'s {flow} in {year} were valued at {per_ct(price)} ({usd(agg.usd)} for {ct(agg.carats)}), "
            f"{folded:.1f}× {word} {basis} ({per_ct(ref)}).",
            {"flow": flow, "price_usd_per_ct": str(price.quantize(Decimal("0.01"))),
             "reference_usd_per_ct": str(ref.quantize(Decimal("0.01"))), "reference": basis,
             "history": [str(h.quantize(Decimal("0.01"))) for h in history], "history_years": len(history),
             "figures": agg.evidence(), "compared": ["usd_per_ct"], "not_compared": unpriced},
            subject=flow))
    return out


def is_hub(view: YearlyView, participant: str, year: int, th: Thresholds) -> bool:
    """A trading hub that year: production under `reexport_share` of its imports, by carats or by value (a
    participant that produces nothing and imports is one)."""
    imp = view.get(participant, "import", year)
    if imp is None:
        return False
    prod = view.get(participant, "production", year)
    for unit in UNITS:
        bought = getattr(imp, unit)
        if bought and ((getattr(prod, unit) if prod else None) or ZERO) < bought * th.reexport_share:
            return True
    return False


def _reexport_values(p: str, year: int, exp: Agg, imp: Agg, th: Thresholds) -> list[Finding]:
    """Without carats on both sides there is no unit value; values still say something one way: re-exports worth
    more than everything imported, beyond the margin, are over-valued (or stock sold). Fewer re-exports than
    imports is what a cutting centre does, so only the upward gap counts, one severity level lower."""
    if exp.usd is None or not imp.usd or exp.usd < th.min_usd or exp.usd <= imp.usd * (1 + th.reexport_margin):
        return []
    ratio = exp.usd / imp.usd
    lacking = [name for name, a in (("exports", exp), ("imports", imp)) if a.carats is None]
    reason = (f"not reported for {year} ({', '.join(lacking)})" if lacking
              else f"under the {th.min_carats:,.0f} ct needed for a unit value")
    severity = _downgrade("high" if ratio >= th.reexport_factor else "medium" if ratio >= 1 + 2 * th.reexport_margin
                          else "low")
    return [Finding(
        "re-export-valuation", p, str(year), severity,
        f"{p} re-exported rough diamonds worth {usd(exp.usd)} in {year}, {ratio:.1f}× the {usd(imp.usd)} of all its "
        f"imports, beyond the +{th.reexport_margin:.0%} of trading without processing (no carats on both sides: "
        f"the unit values could not be compared).",
        {"export_usd": str(exp.usd.quantize(Decimal("0.01"))), "import_usd": str(imp.usd.quantize(Decimal("0.01"))),
         "value_ratio": str(ratio.quantize(Decimal("0.0001"))), "margin": str(th.reexport_margin),
         "exports": exp.evidence(), "imports": imp.evidence(), "compared": ["usd"],
         "not_compared": {"carats": reason}}, subject="markup")]


def reexport_valuation(view: YearlyView, th: Thresholds) -> list[Finding]:
    """A hub's re-exports move with its imports in volume and in unit value: a re-export US$/ct beyond normal
    trading margins of the same year's import US$/ct, or a sudden change of that markup from the previous year,
    is a finding (transfer mispricing through a trading centre, MON-09/STAT-09)."""
    out = []
    markups: dict[tuple[str, int], tuple[Decimal, Decimal, Decimal]] = {}  # (exp price, imp price, markup)
    for (p, flow, year), exp in view.total.items():
        if flow != "export" or not is_hub(view, p, year, th):
            continue
        imp = view.total[(p, "import", year)]
        exp_price, imp_price = exp.price(th), imp.price(th)
        if exp_price is not None and imp_price:
            markups[(p, year)] = (exp_price, imp_price, exp_price / imp_price - 1)
        else:
            out += _reexport_values(p, year, exp, imp, th)
    q2, q4 = Decimal("0.01"), Decimal("0.0001")
    for (p, year), (exp_price, imp_price, markup) in sorted(markups.items()):
        exp, imp = view.total[(p, "export", year)], view.total[(p, "import", year)]
        figures = {"import_usd_per_ct": str(imp_price.quantize(q2)), "export_usd_per_ct": str(exp_price.quantize(q2)),
                   "markup": str(markup.quantize(q4)), "exports": exp.evidence(), "imports": imp.evidence()}
        folded = _fold(exp_price / imp_price)
        if folded > 1 + th.reexport_margin:
            severity = ("high" if folded >= th.reexport_factor
                        else "medium" if folded >= 1 + 2 * th.reexport_margin else "low")
            word = "above" if markup > 0 else "below"
            out.append(Finding(
                "re-export-valuation", p, str(year), severity,
                f"{p} re-exported rough diamonds in {year} at {per_ct(exp_price)} ({usd(exp.usd)} for "
                f"{ct(exp.carats)}), {folded:.1f}× {word} the {per_ct(imp_price)} of its imports ({usd(imp.usd)} "
                f"for {ct(imp.carats)}): a markup of {markup:+.0%}, beyond the ±{th.reexport_margin:.0%} of "
                f"trading without processing.",
                {**figures, "margin": str(th.reexport_margin)}, subject="markup"))
        previous = markups.get((p, year - 1))
        if previous is None:
            continue
        change = markup - previous[2]
        if abs(change) <= th.markup_change:
            continue
        out.append(Finding(
            "re-export-valuation", p, str(year), "medium" if abs(change) >= 2 * th.markup_change else "low",
            f"{p}'s markup on re-exports moved from {previous[2]:+.0%} in {year - 1} ({per_ct(previous[0])} "
            f"against imports at {per_ct(previous[1])}) to {markup:+.0%} in {year} ({per_ct(exp_price)} against "
            f"{per_ct(imp_price)}).",
            {**figures, "previous_markup": str(previous[2].quantize(q4)),
             "previous_import_usd_per_ct": str(previous[1].quantize(q2)),
             "previous_export_usd_per_ct": str(previous[0].quantize(q2)),
             "change": str(change.quantize(q4)), "threshold": str(th.markup_change)}, subject="markup-change"))
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
    """A jump or collapse against the median of previous years; a floor on both sides tames small bases.

    Carats when the year and its history give them, else values (a value-only history is compared on values);
    a single previous year is enough, at one severity level lower than a longer history."""
    out = []
    for (p, flow, year), agg in view.total.items():
        if not year_complete(year, as_of, th):
            continue
        history = {y: view.total[(p, flow, y)] for y in range(year - th.spike_history_years, year)
                   if (p, flow, y) in view.total and (p, y) not in view.not_baseline}
        if not history:
            continue
        chosen: tuple[str, Decimal, dict[int, Decimal]] | None = None
        not_compared: dict[str, str] = {}
        for unit in UNITS:
            current = getattr(agg, unit)
            prev = {y: getattr(a, unit) for y, a in history.items() if getattr(a, unit) is not None}
            if current is not None and prev:
                chosen = (unit, current, prev)
                break
            not_compared[unit] = _missing(unit, {year: agg, **history} if current is None else history)
        if chosen is None:
            continue
        unit, current, prev = chosen
        base = Decimal(median(prev.values()))
        floor = th.spike_floor_carats if unit == "carats" else th.spike_floor_usd
        ratio = (current + floor) / (base + floor)
        folded = _fold(ratio)
        if folded < th.spike_factor:
            continue
        severity = _severity(folded, th.spike_factor)
        fmt = _fmt(unit)
        word = "jumped" if ratio > 1 else "collapsed"
        if len(prev) == 1:
            severity = _downgrade(severity)
            (only,) = prev
            since = f"{fmt(base)} in {only}, the only previous year reported"
        else:
            since = f"a median of {fmt(base)} over the previous {len(prev)} years"
        out.append(Finding(
            "volume-spike", p, str(year), severity,
            f"{p}'s {flow} {word} to {fmt(current)} in {year} from {since} ({folded:.1f}×).",
            {"flow": flow, "unit": unit, "current": str(current), "baseline_median": str(base),
             "previous": [str(v) for _, v in sorted(prev.items())], "previous_years": sorted(prev),
             "figures": agg.evidence(), "compared": [unit], "not_compared": not_compared},
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
        e = view.partner.get((a, "export", year, b))
        i = view.partner.get((b, "import", year, a))
        # carats when both sides give them, else values: one side's carats against the other's missing carats
        # would be a gap of 100 %; a side with no row for the pair reported nothing to it (zero)
        not_compared: dict[str, str] = {}
        unit = None
        for u in UNITS:
            lacking = [who for who, agg in ((a, e), (b, i)) if agg is not None and getattr(agg, u) is None]
            if not lacking:
                unit = u
                break
            not_compared[u] = f"not reported by {' and '.join(lacking)}"
        if unit is None:
            continue
        e, i = e or Agg(), i or Agg()
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
             "relative_difference": str(rel.quantize(Decimal("0.0001"))), "compared": [unit],
             "not_compared": not_compared},
            subject=b))
    return out


@dataclass
class CustomsComparison:
    """One participant, year and flow: its KP figure in US$ beside the customs figure, compared or not (and why)."""

    participant: str
    year: int
    flow: str
    kp: Agg | None
    customs: Decimal | None
    reporters: list[str]
    hs_codes: list[str]
    sources: list[str]
    approximate: bool
    compared: bool
    reason: str  # why it was not compared, or "" when it was
    relative: Decimal | None = None

    def customs_evidence(self) -> dict[str, Any]:
        return {"usd": None if self.customs is None else str(self.customs.quantize(Decimal("0.01"))),
                "reporters": self.reporters, "hs_codes": self.hs_codes, "from": self.sources}


EU_APPROXIMATE = ("the EU's customs figure is the sum of its member states' customs, which includes trade between "
                  "member states; the KP's EU figure excludes it, and the customs file gives no partners to take it "
                  "out")


def customs_comparisons(view: YearlyView, customs: Iterable[CustomsFact], th: Thresholds,
                        as_of: dt.date | None = None) -> list[CustomsComparison]:
    """KP trade in US$ per participant, year and flow beside customs HS 7102 values (issue 10, MON-09).

    Customs figures of EU member states add up to the EU (STAT-07): that comparison is approximate. Missing on
    one side is no discrepancy: not compared, with the reason. A customs total of zero counts as missing (customs
    tables write 0 where a country reported nothing); carats are never compared (customs give values only); nor is
    a year the participant took part in the scheme only partly (`part_years`: customs cover the whole year)."""
    totals: dict[tuple[str, int, str], Decimal] = defaultdict(lambda: ZERO)
    reporters: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    codes: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    sources: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    for c in customs:
        key = (c.participant, c.year, c.flow)
        totals[key] += c.usd
        reporters[key].add(c.iso2)
        codes[key].add(c.hs_code)
        sources[key].add(c.source)
    keys = set(totals) | {(p, y, fl) for (p, fl, y), a in view.total.items() if fl in ("export", "import")
                          and a.usd is not None}
    out = []
    for p, year, flow in sorted(keys):
        kp = view.get(p, flow, year)
        cu = totals.get((p, year, flow))
        approximate = p == "EU" and len(reporters.get((p, year, flow), ())) > 1
        row = CustomsComparison(p, year, flow, kp, cu, sorted(reporters.get((p, year, flow), ())),
                                sorted(codes.get((p, year, flow), ())), sorted(sources.get((p, year, flow), ())),
                                approximate, False, "")
        if not year_complete(year, as_of, th):
            row.reason = "year not complete"
        elif (p, year) in view.not_baseline:
            row.reason = "a participant for part of the year only: its KP figure covers part of the year"
        elif kp is None or kp.usd is None:
            row.reason = "no KP figure in US$" if kp is None else "the KP figure gives no value in US$"
        elif cu is None or cu == 0:
            row.reason = "no customs figure" if cu is None else "customs report zero (no report)"
        else:
            row.compared = True
            row.relative = abs(kp.usd - cu) / max(kp.usd, cu)
        out.append(row)
    return out


def customs_discrepancies(view: YearlyView, customs: Iterable[CustomsFact], th: Thresholds,
                          as_of: dt.date | None = None) -> list[Finding]:
    """customs-mirror-discrepancy: a participant's KP figure in US$ and its customs' HS 7102 value for the same
    year and flow further apart than `customs_tolerance` (`customs_tolerance_eu` for the EU, one severity lower)
    and at least `customs_min_usd` (issue 10, MON-09, STAT-02)."""
    out = []
    for c in customs_comparisons(view, customs, th, as_of):
        if not c.compared or c.kp is None or c.kp.usd is None or c.customs is None or c.relative is None:
            continue
        tolerance = th.customs_tolerance_eu if c.approximate else th.customs_tolerance
        if c.relative <= tolerance or abs(c.kp.usd - c.customs) < th.customs_min_usd:
            continue
        rel = c.relative
        severity = "high" if rel >= Decimal("0.5") else "medium" if rel >= Decimal("0.35") else "low"
        if c.approximate:
            severity = _downgrade(severity)
        direction = "above" if c.customs > c.kp.usd else "below"
        out.append(Finding(
            "customs-mirror-discrepancy", c.participant, str(c.year), severity,
            f"In {c.year} {c.participant} reported {c.flow}s of {usd(c.kp.usd)} to the KP, but customs give "
            f"{usd(c.customs)} under HS 7102 ({rel:.0%} apart, customs {direction} the KP figure; from "
            f"{'; '.join(c.sources)}).",
            {"unit": "usd", "flow": c.flow, "kp_reports": c.kp.evidence(), "customs_reports": c.customs_evidence(),
             "relative_difference": str(rel.quantize(Decimal("0.0001"))), "tolerance": str(tolerance),
             "approximate": c.approximate, "approximate_why": EU_APPROXIMATE if c.approximate else "",
             "compared": ["usd"], "not_compared": {"carats": "customs figures give values only"}},
            subject=c.flow))
    return out


def barred(status: str, export_side: bool) -> bool:
    """May not trade (or not export) in this status (EXP-01, SPEC-01..07); a non-participant (before its
    admission, GOV-05) is outside the scheme: no KP trade with it either."""
    if status == "non_participant":
        return True
    return not (registry_rules.may_export(status) if export_side else registry_rules.may_trade(status))


def barred_spans(statuses: Mapping[str, Sequence[registry_rules.StatusPeriod]]
                 ) -> dict[str, list[tuple[dt.date, dt.date | None]]]:
    """Per code, the status periods (from, to exclusive) in which it was barred on the import or export side:
    only days within them can be blocked (`_blocked_share`), so only trade in them needs its origins apart."""
    spans = {code: [(st.valid_from, st.valid_to) for st in history
                    if barred(st.status, True) or barred(st.status, False)] for code, history in statuses.items()}
    return {code: ranges for code, ranges in spans.items() if ranges}


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
    # Only days within a barred status period can be blocked: per period, the codes barred on a day of it, so
    # that a fact whose parties were all free throughout its period is passed over at once.
    spans = barred_spans(statuses)
    barred_in: dict[int, frozenset[str]] = {}  # id of a period -> codes; facts share their periods (parse_period)
    share_cache: dict[tuple[str, int, bool], float] = {}

    def share(code: str, period: Period, export_side: bool) -> float:
        key = (code, id(period), export_side)
        if key not in share_cache:
            share_cache[key] = _blocked_share(statuses.get(code, ()), period, export_side)
        return share_cache[key]

    for f in facts:
        if f.flow == "production" or not ((f.carats or ZERO) > 0 or (f.usd or ZERO) > 0):
            continue
        codes = barred_in.get(id(f.period))
        if codes is None:
            period = f.period
            codes = barred_in[id(period)] = frozenset(
                code for code, ranges in spans.items()
                if any(start <= period.end and (end is None or period.start < end) for start, end in ranges))
        if f.participant not in codes and f.partner not in codes and f.origin not in codes:
            continue  # nobody involved was barred on any day of the period
        checks = []
        if f.partner:
            # exporting to a partner that may not trade; importing from a partner that may not export
            checks.append((f.partner, f.flow == "import", f"{'imports from' if f.flow == 'import' else 'exports to'} "
                                                          f"{f.partner}"))
        if f.origin and f.origin != f.participant:
            checks.append((f.origin, True, f"diamonds of origin {f.origin}"))
        checks.append((f.participant, f.flow == "export", f"{f.participant} itself"))
        for code, export_side, what in checks:
            if code not in codes:
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
    took_part: dict[tuple[str, int], bool] = {}  # (participant, id of a period): facts share their periods
    out = []
    for f in facts:
        key = (f.participant, id(f.period))
        keep = took_part.get(key)
        if keep is None:
            keep = took_part[key] = participated(statuses.get(f.participant, ()), f.period.start, f.period.end)
        if keep:
            out.append(f)
    return out


def part_years(view: YearlyView, statuses: Mapping[str, Sequence[registry_rules.StatusPeriod]] | None
               ) -> set[tuple[str, int]]:
    """(participant, year) of the years it took part in the scheme only part of (admitted, removed or readmitted
    that year, GOV-05, SPEC-07): its figures for such a year are partly not a participant's, so they are no
    baseline for a jump measured against a single previous year or a price history (STAT-09)."""
    if statuses is None:
        return set()
    out = set()
    for p, _, year in view.total:
        history = statuses.get(p, ())
        if statuses_during(history, max(dt.date(year, 1, 1), registry_rules.SCHEME_START),
                           dt.date(year, 12, 31)) & NOT_PARTICIPATING:
            out.add((p, year))
    return out


def analyse(facts: Sequence[Fact], *, shipments: Iterable[Shipment] = (), overdue: Iterable[Overdue] = (),
            statuses: Mapping[str, Sequence[registry_rules.StatusPeriod]] | None = None,
            annual_reports: Mapping[tuple[str, int], dt.date] | None = None, annual_reports_from: int | None = None,
            as_of: dt.date, thresholds: Thresholds | None = None, view: YearlyView | None = None,
            judged: Sequence[Fact] | None = None, customs: Iterable[CustomsFact] = ()) -> list[Finding]:
    """Every rule; `customs`: customs HS 7102 values for the customs cross-check.

    With `statuses`, the figures of a participant for periods in which it was not one (before admission, while
    removed) are left out of every rule but embargoed-trade, which exists to find that trade. A caller that
    already has them passes `judged` (`as_participant(facts, statuses)`) and `view` (`YearlyView(judged)`):
    a scan builds each once."""
    th = thresholds or Thresholds()
    if judged is None or view is None:
        judged = as_participant(facts, statuses)
        view = YearlyView(judged)
    view.not_baseline = part_years(view, statuses)
    findings = (exports_exceed_supply(view, th, as_of) + price_outliers(view, th)
                + certificate_price_outliers(shipments, origin_prices(view, th), th)
                + volume_spikes(view, th, as_of) + mirror_discrepancies(view, th, as_of)
                + reexport_valuation(view, th) + customs_discrepancies(view, customs, th, as_of)
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
