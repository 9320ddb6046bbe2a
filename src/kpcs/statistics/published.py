"""What the scheme publishes: annual totals per participant of production, exports and imports (carats, US$,
US$/ct). Never a certificate, a partner, an operator or a price of a single shipment (STAT-05, STAT-07)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Max, Min

from kpcs import clock
from kpcs.statistics import rules, selectors
from kpcs.statistics.charts import price
from kpcs.statistics.models import Figure, TradeCell

FLOWS = ("production", "export", "import")
CSV_COLUMNS = ("participant", "year", "production_carats", "production_usd", "production_usd_per_carat",
               "export_carats", "export_usd", "export_usd_per_carat", "import_carats", "import_usd",
               "import_usd_per_carat")


def years() -> list[int]:
    """Years with figures on this node, newest first (two index look-ups, not a scan)."""
    span = Figure.objects.aggregate(first=Min("period_start"), last=Max("period_end"))
    quarters = TradeCell.objects.aggregate(first=Min("quarter"), last=Max("quarter"))
    firsts = [d.year for d in (span["first"],) if d] + [int(q[:4]) for q in (quarters["first"],) if q]
    lasts = [d.year for d in (span["last"],) if d] + [int(q[:4]) for q in (quarters["last"],) if q]
    if not firsts:
        return []
    return list(range(min(max(lasts), clock.today().year), min(firsts) - 1, -1))


def annual(participant: str | None = None, year: int | None = None) -> list[dict[str, Any]]:
    """One row per participant and year: each flow's carats, US$ and US$/ct, rolled up from the finest periods
    held (quarters, else half-years, else the year), sorted by participant then year."""
    period = rules.Period(year, "year", 1) if year is not None else None
    view = rules.YearlyView(selectors.effective_facts(period, participant, by_hs=False))
    keys = sorted({(p, y) for p, _, y in view.total})
    out = []
    for p, y in keys:
        row: dict[str, Any] = {"participant": p, "year": y}
        for flow in FLOWS:
            agg = view.get(p, flow, y)
            carats = agg.carats if agg else None
            usd = agg.usd if agg else None
            row[flow] = {"carats": _two(carats), "usd": _two(usd), "price": price(usd, carats)}
        out.append(row)
    return out


def _two(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"))


def csv_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    def cell(v: Decimal | None) -> str:
        return "" if v is None else f"{v:.2f}"

    return [[r["participant"], str(r["year"]), *(cell(r[f][k]) for f in FLOWS for k in ("carats", "usd", "price"))]
            for r in rows]
