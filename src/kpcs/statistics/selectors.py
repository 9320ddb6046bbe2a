"""Read-only queries the statistics app publishes to other apps (and reads itself): the figures the node knows,
as `rules.Fact`s, the customs figures and the annual reports.

Trade derived from certificates is read from the trade cells this app keeps; what it needs of the certificates
themselves comes through `certificates.selectors`, never their tables (tests/test_boundaries.py). The Working Group
on Monitoring's anomaly scan reads here (monitoring depends on statistics, never the reverse). Annual reports
(STAT-11, MON-01) are recorded by `services.record_annual_report` (`POST /statistics/annual-reports`); the Working
Group on Monitoring only shows their status.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Min, QuerySet, Sum

from kpcs import clock
from kpcs.certificates import selectors as certificates
from kpcs.statistics import rules
from kpcs.statistics.models import AnnualReport, CustomsFigure, Figure, TradeCell
from kpcs.statistics.rules import Fact


def _dec(centi: int | None) -> Decimal | None:
    """Exact: 125040 centi-carats is Decimal("1250.40")."""
    return None if centi is None else Decimal(centi).scaleb(-2)


# --- derived from certificates -------------------------------------------------------------------

def _quarter_filter(period: rules.Period | None) -> list[str] | None:
    return None if period is None else rules.quarter_labels(period)


Spans = Mapping[str, Sequence[tuple[dt.date, dt.date | None]]]  # code -> [(from, to exclusive or None)]


def derived_facts(period: rules.Period | None = None, participant: str | None = None,
                  by_hs: bool = True, as_of: dt.date | None = None, effective: bool = True,
                  origins_within: Spans | None = None) -> list[Fact]:
    """Quarterly trade by partner, origin and HS code, derived from certificates (STAT-01, STAT-02).

    Exports count certificates issued (and not cancelled or expired unused), by quarter of issue; imports
    count certificates confirmed by the importing authority, by quarter of receipt. A certificate is counted
    once, on the cell of its first line, so that certificate counts add up across HS codes. Read from the
    trade cells that every certificate change keeps up to date (`services.record_trade`), streamed, less the
    certificates whose status is still `issued` though their expiry date has passed by `as_of` (default today):
    by effective status (CERT-09) they are expired, whether or not the hourly expiry job has written it yet.
    `effective=False` reads the cells as stored (what `services.check_trade_cells` compares with the lines).

    `origins_within` (the anomaly scan): origins are kept apart only in the quarters in which the participant,
    the partner or the origin of a cell falls within one of its spans (code -> dates); elsewhere a participant's
    trade with a partner in a quarter is one fact over all origins (origin ""): far fewer facts to hold and judge.
    """
    quarters = _quarter_filter(period)
    cells = TradeCell.objects.exclude(carats_centi=0, value_cents=0, certificates=0)
    if quarters is not None:
        cells = cells.filter(quarter__in=quarters)
    if participant:
        cells = cells.filter(participant=participant)
    if by_hs:
        rows: Iterable[tuple[Any, ...]] = cells.values_list(
            "quarter", "participant", "flow", "partner", "origin", "hs_code", "carats_centi", "value_cents",
            "certificates").iterator(chunk_size=5000)
    else:  # the anomaly scan needs no HS breakdown: fewer, larger cells
        rows = ((q, p, fl, pa, o, "", c, v, n) for q, p, fl, pa, o, c, v, n in _stream(cells.values_list(
            "quarter", "participant", "flow", "partner", "origin").annotate(
            c=Sum("carats_centi"), v=Sum("value_cents"), n=Sum("certificates")).order_by()))
    lapsed = _expired_unused(as_of or clock.today(), quarters, participant, by_hs) if effective else None
    if lapsed:
        rows = _less(rows, lapsed)
    if origins_within is not None:
        rows = _over_origins(rows, origins_within)
    return list(_facts(rows))


def _stream(qs: QuerySet[Any], chunk: int = 5000) -> Iterator[tuple[Any, ...]]:
    """A values_list() queryset's rows straight from a cursor, a chunk at a time (on PostgreSQL a server-side
    cursor, as `iterator()` uses): a third less work per row than `iterator()`, for hundreds of thousands of rows.
    Only for columns that need no conversion from the database (text, integers)."""
    sql, params = qs.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield from rows


def _over_origins(rows: Iterable[tuple[Any, ...]], spans: Spans) -> Iterator[tuple[Any, ...]]:
    """The rows summed over origins, but for those of a quarter in which one of their codes is within its spans."""
    within: dict[str, frozenset[str]] = {}  # quarter -> the codes within one of their spans on a day of it
    merged: dict[tuple[Any, ...], list[int]] = {}
    for q, p, flow, partner, origin, hs, c, v, n in rows:
        codes = within.get(q)
        if codes is None:
            quarter = rules.parse_period(q)
            codes = within[q] = frozenset(
                code for code, ranges in spans.items()
                if any(start <= quarter.end and (end is None or quarter.start < end) for start, end in ranges))
        key = (q, p, flow, partner, origin if (p in codes or partner in codes or origin in codes) else "", hs)
        acc = merged.get(key)
        if acc is None:
            merged[key] = [c, v, n]
        else:
            acc[0] += c
            acc[1] += v
            acc[2] += n
    for key, (c, v, n) in merged.items():
        yield *key, c, v, n


def _expired_unused(as_of: dt.date, quarters: list[str] | None, participant: str | None,
                    by_hs: bool) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """Export cells of certificates past their expiry date on `as_of` and still `issued` (CERT-09): not exports.
    Few: only those the expiry job has not reached yet (it runs every hour on the worker)."""
    return {(q, p, flow, partner, origin, hs): (c, v, n) for q, p, flow, partner, origin, hs, c, v, n
            in certificates.expired_unused_exports(as_of, quarters, participant, by_hs)}


def _less(rows: Iterable[tuple[Any, ...]],
          lapsed: dict[tuple[Any, ...], tuple[int, int, int]]) -> Iterator[tuple[Any, ...]]:
    for q, p, flow, partner, origin, hs, c, v, n in rows:
        minus = lapsed.get((q, p, flow, partner, origin, hs))
        if minus is not None:
            c, v, n = c - minus[0], v - minus[1], n - minus[2]
            if not (c or v or n):
                continue
        yield q, p, flow, partner, origin, hs, c, v, n


def derived_facts_from_lines(period: rules.Period | None = None) -> list[Fact]:
    """The same figures aggregated straight from certificate lines: the reference the trade cells must
    equal (checked by tests and by `kpcs stats check`)."""
    return list(_facts(certificates.trade_from_lines(_quarter_filter(period))))


def _facts(rows: Iterable[tuple[Any, ...]]) -> Iterator[Fact]:
    """Facts sharing one object per period and per code: a scan holds hundreds of thousands of them, and each
    row from the database brings new copies of the same few strings."""
    cache: dict[str, rules.Period] = {}
    codes: dict[str, str] = {"mixed": ""}
    for q, p, flow, partner, origin, hs, c, v, n in rows:
        if q not in cache:
            cache[q] = rules.parse_period(q)
        yield Fact(cache[q], codes.setdefault(p, p), codes.setdefault(flow, flow), codes.setdefault(partner, partner),
                   codes.setdefault(origin, origin), codes.setdefault(hs, hs), _dec(c), _dec(v), n,
                   "certificates on this node", derived=True)


# --- reported figures ----------------------------------------------------------------------------

def reported_facts(period: rules.Period | None = None, participant: str | None = None,
                   flows: Iterable[str] = rules.FLOWS) -> list[Fact]:
    qs = Figure.objects.filter(is_current=True, flow__in=list(flows))
    if period is not None:
        qs = qs.filter(period_start__gte=period.start, period_end__lte=period.end)
    if participant:
        qs = qs.filter(participant=participant)
    cache: dict[str, rules.Period] = {}
    out = []
    for (label, p, flow, partner, origin, hs, c, v, n, source, filename, row) in qs.values_list(
            "period", "participant", "flow", "partner", "origin", "hs_code", "carats_centi", "usd_cents",
            "certificates", "source", "batch__filename", "row").iterator(chunk_size=5000):
        if label not in cache:
            cache[label] = rules.parse_period(label)
        where = f"{source} ({filename} row {row})" if row else f"{source} ({filename})"
        out.append(Fact(cache[label], p, flow, partner, origin, hs, _dec(c), _dec(v), n, where))
    return out


def effective_facts(period: rules.Period | None = None, participant: str | None = None,
                    by_hs: bool = True, as_of: dt.date | None = None,
                    origins_within: Spans | None = None) -> list[Fact]:
    """What the node knows: trade derived from certificates wherever a participant's year has any, otherwise
    the imported trade figures; production as submitted or imported (the latest revision counts).

    Where the same production figure was both submitted and imported, the most recent batch wins.
    `origins_within`: see `derived_facts`.
    """
    derived = derived_facts(period, participant, by_hs, as_of, origins_within=origins_within)
    covered = {(f.participant, f.flow, f.period.year) for f in derived}
    reported = reported_facts(period, participant, flows=("export", "import"))
    trade = [f for f in reported if (f.participant, f.flow, f.period.year) not in covered]
    production = _latest_production(period, participant)
    return derived + trade + production


def _latest_production(period: rules.Period | None, participant: str | None) -> list[Fact]:
    qs = Figure.objects.filter(is_current=True, flow="production")
    if period is not None:
        qs = qs.filter(period_start__gte=period.start, period_end__lte=period.end)
    if participant:
        qs = qs.filter(participant=participant)
    best: dict[tuple[str, ...], tuple[int, Fact]] = {}
    for (label, p, origin, hs, c, v, source, batch_id, filename, row) in qs.values_list(
            "period", "participant", "origin", "hs_code", "carats_centi", "usd_cents", "source", "batch_id",
            "batch__filename", "row"):
        key = (label, p, origin, hs)
        if key not in best or batch_id > best[key][0]:
            where = f"{source} ({filename} row {row})" if row else f"{source} ({filename})"
            best[key] = (batch_id, Fact(rules.parse_period(label), p, "production", "", origin, hs, _dec(c), _dec(v),
                                        None, where))
    return [f for _key, f in best.values()]


# --- customs figures and annual reports ---------------------------------------------------------

def customs_facts(participant: str | None = None, year: int | None = None) -> list[rules.CustomsFact]:
    """The current customs figures, for the cross-check (monitoring) and the readers."""
    qs = CustomsFigure.objects.filter(is_current=True)
    if participant:
        qs = qs.filter(participant=participant)
    if year is not None:
        qs = qs.filter(year=year)
    out = []
    for p, y, flow, cents, iso2, hs, filename, batch in qs.values_list(
            "participant", "year", "flow", "usd_cents", "iso2", "hs_code", "batch__filename", "batch_id"
    ).order_by("participant", "year", "flow", "iso2", "hs_code").iterator(chunk_size=5000):
        out.append(rules.CustomsFact(p, y, flow, Decimal(cents).scaleb(-2), iso2, hs,
                                     f"customs ({filename or 'no file'}, batch {batch})"))
    return out


def annual_reports() -> dict[tuple[str, int], dt.date]:
    """(participant, year) -> the first day its annual report was received (later revisions do not move it)."""
    return {(p, y): first for p, y, first in AnnualReport.objects.values_list("participant", "year")
            .annotate(first=Min("received_on")).order_by()}


def annual_reports_from() -> int | None:
    """Annual reports are expected from the first year this node recorded one (none recorded: not tracked)."""
    return AnnualReport.objects.order_by("year").values_list("year", flat=True).first()


def annual_report_status(year: int, participants: Iterable[str], as_of: dt.date) -> list[dict[str, Any]]:
    """Each participant's annual report on `year`: due 31 March of the next year, the day it was received (the
    node's clock when it was first recorded) and its status as of `as_of` (received, late, missing, pending)."""
    due = rules.annual_report_due(year)
    received = dict(AnnualReport.objects.filter(year=year).values_list("participant")
                    .annotate(first=Min("received_on")).order_by())  # the first receipt; revisions do not move it
    return [{"participant": code, "year": year, "due_on": due, "received_on": received.get(code),
             "status": rules.obligation_status(received.get(code), due, as_of)} for code in participants]
