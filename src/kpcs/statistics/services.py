"""Statistics use cases: trade derived from certificates, production submissions, imports and exports of
the exchange format, reporting compliance (STAT-01..11)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from kpcs import clock
from kpcs.audit import services as audit
from kpcs.certificates.models import Certificate, CertificateLine
from kpcs.errors import NotFound, ValidationFailed
from kpcs.monitoring.rules import Fact
from kpcs.registry import services as registry
from kpcs.registry.rules import StatusPeriod
from kpcs.registry.services import Actor
from kpcs.statistics import rules
from kpcs.statistics.models import AnnualReport, Batch, CustomsFigure, Figure, TradeCell

# Certificates that stand for a shipment that left the country: cancelled and expired ones never did.
EXPORTED = ("issued", "confirmed", "rejected")
FIRST_LINES = Count("certificate_id", filter=Q(position=1))
Progress = Callable[[str, int], None]  # (phase "checking" or "writing", rows done)


def _dec(centi: int | None) -> Decimal | None:
    """Exact: 125040 centi-carats is Decimal("1250.40")."""
    return None if centi is None else Decimal(centi).scaleb(-2)


def _centi(value: Decimal | None) -> int | None:
    return None if value is None else int(value * 100)


# --- derived from certificates -------------------------------------------------------------------

def _quarter_filter(period: rules.Period | None) -> list[str] | None:
    if period is None:
        return None
    quarters = rules.periods_of_year(period.year, "quarter")
    return [q.label for q in quarters if period.contains(q)]


Spans = Mapping[str, Sequence[tuple[dt.date, dt.date | None]]]  # code -> [(from, to exclusive or None)]


def derived_facts(period: rules.Period | None = None, participant: str | None = None,
                  by_hs: bool = True, as_of: dt.date | None = None, effective: bool = True,
                  origins_within: Spans | None = None) -> list[Fact]:
    """Quarterly trade by partner, origin and HS code, derived from certificates (STAT-01, STAT-02).

    Exports count certificates issued (and not cancelled or expired unused), by quarter of issue; imports
    count certificates confirmed by the importing authority, by quarter of receipt. A certificate is counted
    once, on the cell of its first line, so that certificate counts add up across HS codes. Read from the
    trade cells that every certificate change keeps up to date (`record_trade`), streamed, less the
    certificates whose status is still `issued` though their expiry date has passed by `as_of` (default today):
    by effective status (CERT-09) they are expired, whether or not the hourly expiry job has written it yet.
    `effective=False` reads the cells as stored (what `check_trade_cells` compares with the lines).

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
    lines = CertificateLine.objects.filter(certificate__status="issued", certificate__expires_on__lt=as_of,
                                           certificate__signer_revoked=False)
    if quarters is not None:
        lines = lines.filter(certificate__issued_quarter__in=quarters)
    if participant:
        lines = lines.filter(certificate__exporting_participant_id=participant)
    keys = ["certificate__issued_quarter", "certificate__exporting_participant_id",
            "certificate__importing_participant_id", "certificate__origin"] + (["hs_code"] if by_hs else [])
    out: dict[tuple[Any, ...], tuple[int, int, int]] = {}
    for *key, c, v, n in (lines.values_list(*keys).annotate(c=Sum("carats_centi"), v=Sum("value_cents"),
                                                            n=FIRST_LINES).order_by()):
        q, p, partner, origin, *hs = key
        out[(q, p, "export", partner, origin, hs[0] if hs else "")] = (c or 0, v or 0, n or 0)
    return out


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
    quarters = _quarter_filter(period)
    out: list[Fact] = []
    for flow, status_filter, quarter_field, who, other in (
            ("export", Q(certificate__status__in=EXPORTED), "certificate__issued_quarter",
             "certificate__exporting_participant_id", "certificate__importing_participant_id"),
            ("import", Q(certificate__status="confirmed"), "certificate__confirmation__received_quarter",
             "certificate__importing_participant_id", "certificate__exporting_participant_id")):
        lines = CertificateLine.objects.filter(status_filter, certificate__signer_revoked=False)
        if quarters is not None:
            lines = lines.filter(**{f"{quarter_field}__in": quarters})
        rows = (lines.values_list(quarter_field, who, other, "certificate__origin", "hs_code")
                .annotate(c=Sum("carats_centi"), v=Sum("value_cents"), n=FIRST_LINES).order_by())
        out.extend(_facts((q, p, flow, partner, origin, hs, c, v, n) for q, p, partner, origin, hs, c, v, n in rows))
    return out


def _cell_key(f: Fact) -> tuple[Any, ...]:
    return (f.period.label, f.participant, f.flow, f.partner, f.origin, f.hs_code, f.carats, f.usd, f.certificates)


def check_trade_cells() -> int:
    """How many trade cells differ from an aggregation straight from certificate lines (0 when in step)."""
    kept = set(map(_cell_key, derived_facts(effective=False)))
    reference = set(map(_cell_key, derived_facts_from_lines()))
    return len(kept ^ reference)


@transaction.atomic
def rebuild_trade_cells(actor: Actor) -> int:
    """Recompute every trade cell from the certificate lines (after a bulk load that bypassed the services)."""
    registry.require(actor, "statistics.rebuild")
    TradeCell.objects.all().delete()
    cells = [TradeCell(quarter=f.period.label, participant=f.participant, flow=f.flow, partner=f.partner,
                       origin=f.origin or "mixed", hs_code=f.hs_code, carats_centi=_centi(f.carats) or 0,
                       value_cents=_centi(f.usd) or 0, certificates=f.certificates or 0)
             for f in derived_facts_from_lines()]
    TradeCell.objects.bulk_create(cells, batch_size=5000)
    audit.record(actor=actor.label, action="statistics.trade_cells_rebuilt", object_type="trade_cells",
                 object_id="all", payload={"cells": len(cells)})
    return len(cells)


def record_trade(*, flow: str, quarter: str, participant: str, partner: str, origin: str,
                 lines: Iterable[tuple[int, str, int, int]], sign: int) -> None:
    """Add (sign=1) or take back (sign=-1) a certificate's lines in the trade cells; call it inside the
    transaction of the certificate change. `lines` holds (position, hs_code, centi-carats, cents)."""
    table = TradeCell._meta.db_table
    sql = (f"INSERT INTO {table} (quarter, participant, flow, partner, origin, hs_code, carats_centi, value_cents, "
           "certificates) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
           "ON CONFLICT (quarter, participant, flow, partner, origin, hs_code) DO UPDATE SET "
           f"carats_centi = {table}.carats_centi + excluded.carats_centi, "
           f"value_cents = {table}.value_cents + excluded.value_cents, "
           f"certificates = {table}.certificates + excluded.certificates")
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(quarter, participant, flow, partner, origin, hs, sign * carats, sign * cents,
                                  sign if position == 1 else 0) for position, hs, carats, cents in lines])


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


# --- importing and exporting the exchange format ------------------------------------------------

@dataclass
class ImportResult:
    batch_id: int
    rows: int
    revised: int
    sha256: str


def _csv_with_header(text: str) -> tuple[Any, list[str]]:
    """A CSV reader past its header row, and the header; an empty or unreadable file is row 1's error."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        return reader, next(reader)
    except StopIteration:
        raise rules.RowError(1, "header", _("the file is empty")) from None
    except csv.Error as exc:
        raise rules.RowError(1, "header", _("not a CSV file: %(error)s") % {"error": exc}) from None


def parse_csv(text: str, progress: Progress | None = None) -> tuple[list[rules.Row], list[int]]:
    """Every row or nothing: the first bad row raises RowError naming the row and the column."""
    reader, header = _csv_with_header(text)
    rules.check_header(header)
    rows: list[rules.Row] = []
    numbers: list[int] = []
    seen: dict[tuple[str, ...], int] = {}
    n = 1
    try:
        for n, values in enumerate(reader, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            row = rules.parse_row(values, n)
            key = row.key()
            if key in seen:
                raise rules.RowError(n, "period", _("repeats the figure of row %(row)s (same period, "
                                                    "participant, flow, partner, origin and HS code)")
                                                    % {"row": seen[key]})
            seen[key] = n
            rows.append(row)
            numbers.append(n)
            if progress and n % 10000 == 0:
                progress("checking", n)
    except csv.Error as exc:
        raise rules.RowError(n + 1, "-", _("malformed CSV: %(error)s") % {"error": exc}) from None
    if not rows:
        raise rules.RowError(2, "-", _("the file has a header but no rows"))
    return rows, numbers


def import_rows(rows: list[rules.Row], *, actor: Actor, source: str, filename: str = "", sha256: str = "",
                row_numbers: list[int] | None = None, progress: Progress | None = None) -> ImportResult:
    """Store figures as a new batch; a figure already held for the same key becomes a new revision."""
    now = clock.now()
    periods = {r.period.label for r in rows}
    participants = {r.participant for r in rows}
    with transaction.atomic():
        batch = Batch.objects.create(source=source, filename=filename, sha256=sha256, rows=len(rows),
                                     created_by=actor.label, created_at=now)
        existing: dict[tuple[str, ...], tuple[int, int]] = {}
        qs = Figure.objects.filter(source=source, is_current=True, period__in=periods, participant__in=participants)
        for pk, *key, rev in qs.values_list("pk", "period", "participant", "flow", "partner", "origin", "hs_code",
                                            "revision").iterator(chunk_size=5000):
            existing[tuple(key)] = (pk, rev)
        superseded = [existing[r.key()][0] for r in rows if r.key() in existing]
        for i in range(0, len(superseded), 900):
            Figure.objects.filter(pk__in=superseded[i:i + 900]).update(is_current=False)
        # One parameterised INSERT run over all rows (executemany), in this transaction: the ORM's bulk_create
        # builds a model object per row and is several times slower on files of tens of thousands of rows.
        columns = ("period", "period_start", "period_end", "participant", "flow", "partner", "origin", "hs_code",
                   "carats_centi", "usd_cents", "certificates", "source", "batch_id", "row", "revision", "is_current")
        sql = (f"INSERT INTO {Figure._meta.db_table} ({', '.join(columns)}) "
               f"VALUES ({', '.join(['%s'] * len(columns))})")
        values = []
        for i, r in enumerate(rows):
            prev = existing.get(r.key())
            values.append((r.period.label, r.period.start.isoformat(), r.period.end.isoformat(), r.participant,
                           r.flow, r.partner, r.origin, r.hs_code, _centi(r.carats), _centi(r.usd), r.certificates,
                           source, batch.pk, row_numbers[i] if row_numbers else None,
                           prev[1] + 1 if prev else 1, True))
        with connection.cursor() as cursor:
            for i in range(0, len(values), 10000):
                cursor.executemany(sql, values[i:i + 10000])
                if progress:
                    progress("writing", min(i + 10000, len(values)))
        # The entry binds the figures without quoting them: the file's SHA-256, or for rows that came without a
        # file (a submission, generated data) the SHA-256 of the same rows written in the exchange format. The
        # figures it revises are the previous revision of each key; `revised` counts them (now not current).
        audit.record(actor=actor.label, action="statistics.imported", object_type="statistics_batch",
                     object_id=str(batch.pk),
                     payload={"source": source, "file": filename, "sha256": sha256, "rows": len(rows),
                              "revised": len(superseded), "rows_sha256": sha256 or _rows_sha256(rows)})
    return ImportResult(batch.pk, len(rows), len(superseded), sha256)


def _rows_sha256(rows: list[rules.Row]) -> str:
    buffer = io.StringIO()
    write_csv(rows, buffer)
    return hashlib.sha256(buffer.getvalue().encode()).hexdigest()


def import_csv(data: bytes, *, actor: Actor, filename: str = "", progress: Progress | None = None) -> ImportResult:
    """`kpcs stats import`: all-or-nothing; nothing is written unless every row is valid."""
    registry.require(actor, "statistics.import")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise rules.RowError(1, "-", _("the file is not UTF-8 text: %(error)s") % {"error": exc}) from None
    rows, numbers = parse_csv(text, progress)
    return import_rows(rows, actor=actor, source="imported", filename=filename, row_numbers=numbers,
                       sha256=hashlib.sha256(data).hexdigest(), progress=progress)


def export_rows(period: rules.Period | None = None, participant: str | None = None) -> list[rules.Row]:
    """The node's effective figures in the exchange format, sorted."""
    out = []
    for f in effective_facts(period, participant):
        out.append(rules.Row(f.period, f.participant, f.flow, f.partner, f.origin, f.hs_code, f.carats, f.usd,
                             f.certificates))
    flow_order = {fl: i for i, fl in enumerate(rules.FLOWS)}
    out.sort(key=lambda r: (r.period.start, r.period.kind, r.participant, flow_order[r.flow], r.partner, r.origin,
                            r.hs_code))
    return out


def write_csv(rows: Iterable[rules.Row], fh: io.TextIOBase | Any) -> int:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(rules.COLUMNS)
    n = 0
    for r in rows:
        w.writerow(r.as_csv())
        n += 1
    return n


# --- customs figures (issue 10: the customs cross-check, MON-09) ------------------------------------------

@dataclass
class CustomsImportResult:
    batch_id: int | None  # None when the file changed nothing (the same file imported again)
    rows: int  # rows compared (HS 7102.10/21/31)
    new: int
    revised: int
    unchanged: int
    skipped: int  # worked subheadings 7102.29/7102.39 (DEF-05) and rows without a country (World…)
    sha256: str


def parse_customs_csv(text: str, progress: Progress | None = None
                      ) -> tuple[list[rules.CustomsRow], list[int], int]:
    """Every row or nothing: the first bad row raises RowError naming the row and the column. Returns the rows,
    their numbers in the file and how many worked-diamond rows were skipped."""
    reader, header = _csv_with_header(text)
    rules.check_customs_header(header)
    rows: list[rules.CustomsRow] = []
    numbers: list[int] = []
    seen: dict[tuple[int, str, str, str], int] = {}
    skipped = 0
    n = 1
    try:
        for n, values in enumerate(reader, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            row = rules.parse_customs_row(values, n)
            if progress and n % 10000 == 0:
                progress("checking", n)
            if row is None:
                skipped += 1
                continue
            if row.key() in seen:
                raise rules.RowError(n, "year", _("repeats the figure of row %(row)s (same year, reporter, flow "
                                                  "and HS code)") % {"row": seen[row.key()]})
            seen[row.key()] = n
            rows.append(row)
            numbers.append(n)
    except csv.Error as exc:
        raise rules.RowError(n + 1, "-", _("malformed CSV: %(error)s") % {"error": exc}) from None
    if not rows and not skipped:
        raise rules.RowError(2, "-", _("the file has a header but no rows"))
    return rows, numbers, skipped


def import_customs(data: bytes, *, actor: Actor, filename: str = "", progress: Progress | None = None
                   ) -> CustomsImportResult:
    """`kpcs stats import-customs`: customs HS 7102 values, all or nothing, audited as one batch.

    Idempotent: a figure equal to the one held for its key (year, reporting country, flow, HS code) is not written
    again, so importing the same file twice changes nothing (no batch, no entry); a different value is a new
    revision of that key and the earlier one stays, no longer current (docs/decisions.md, "Customs cross-check").
    """
    registry.require(actor, "statistics.import")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise rules.RowError(1, "-", _("the file is not UTF-8 text: %(error)s") % {"error": exc}) from None
    rows, numbers, skipped = parse_customs_csv(text, progress)
    return import_customs_rows(rows, actor=actor, filename=filename, sha256=hashlib.sha256(data).hexdigest(),
                               row_numbers=numbers, skipped=skipped, progress=progress)


def import_customs_rows(rows: list[rules.CustomsRow], *, actor: Actor, filename: str, sha256: str = "",
                        row_numbers: list[int] | None = None, skipped: int = 0,
                        progress: Progress | None = None) -> CustomsImportResult:
    """Store customs figures (see import_customs); also used by the demo for rows generated without a file."""
    registry.require(actor, "statistics.import")
    with transaction.atomic():
        held: dict[tuple[int, str, str, str], tuple[int, int, int]] = {}
        qs = CustomsFigure.objects.filter(is_current=True, year__in={r.year for r in rows})
        for pk, year, iso2, flow, hs, cents, rev in qs.values_list(
                "pk", "year", "iso2", "flow", "hs_code", "usd_cents", "revision").iterator(chunk_size=5000):
            held[(year, iso2, flow, hs)] = (pk, cents, rev)
        changed: list[tuple[int, rules.CustomsRow, tuple[int, int, int] | None]] = []
        for i, r in enumerate(rows):
            prev = held.get(r.key())
            if prev is None or prev[1] != _centi(r.usd):
                changed.append((i, r, prev))
        revised = [prev[0] for _i, _r, prev in changed if prev is not None]
        result = CustomsImportResult(None, len(rows), len(changed) - len(revised), len(revised),
                                     len(rows) - len(changed), skipped, sha256)
        if not changed:
            return result
        batch = Batch.objects.create(source="customs", filename=filename, sha256=sha256, rows=len(changed),
                                     created_by=actor.label, created_at=clock.now())
        for i in range(0, len(revised), 900):
            CustomsFigure.objects.filter(pk__in=revised[i:i + 900]).update(is_current=False)
        objects = [CustomsFigure(year=r.year, reporter=r.reporter, iso2=r.iso2, participant=r.participant,
                                 flow=r.flow, hs_code=r.hs_code, usd_cents=int(r.usd * 100), batch=batch,
                                 row=row_numbers[i] if row_numbers else None,
                                 revision=prev[2] + 1 if prev else 1, is_current=True)
                   for i, r, prev in changed]
        for i in range(0, len(objects), 5000):
            CustomsFigure.objects.bulk_create(objects[i:i + 5000])
            if progress:
                progress("writing", min(i + 5000, len(objects)))
        # One entry for the batch: the file's SHA-256 binds the figures without quoting them.
        audit.record(actor=actor.label, action="statistics.customs_imported", object_type="statistics_batch",
                     object_id=str(batch.pk),
                     payload={"source": "customs", "file": filename, "sha256": sha256, "rows": len(rows),
                              "new": result.new, "revised": result.revised, "unchanged": result.unchanged,
                              "skipped": skipped})
    result.batch_id = batch.pk
    return result


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


def customs_figures(actor: Actor, participant: str | None = None, year: int | None = None) -> Any:
    """What was loaded, for `GET /statistics/customs` (statistics.read): one participant's, or every participant
    the caller may read (an officer: its own; the WGS and analysts: all). A queryset, for paging."""
    registry.require(actor, "statistics.read", participant)
    qs = CustomsFigure.objects.filter(is_current=True).select_related("batch")
    if participant:
        qs = qs.filter(participant=participant)
    else:
        scope = actor.participants_for("statistics.read")
        if scope is not None:
            qs = qs.filter(participant__in=sorted(scope))
    if year is not None:
        qs = qs.filter(year=year)
    return qs.order_by("participant", "year", "flow", "iso2", "hs_code")


# --- production submissions ------------------------------------------------------------------------

def submit_production(actor: Actor, *, participant: str, period: str, carats: str | None, usd: str | None,
                      industrial_carats: str | None = None, artisanal_carats: str | None = None) -> Figure:
    """STAT-03: half-yearly production (carats and US$), optionally split industrial/artisanal; a resubmission
    for the same period is a new revision and the latest counts."""
    registry.require(actor, "statistics.submit", participant)
    try:
        p = rules.parse_period(period)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_period") from None
    if p.kind == "quarter":
        raise ValidationFailed(_("production is reported per half-year (YYYY-H1/H2) or year (STAT-03)"),
                               code="invalid_period", rule="STAT-03")
    values: dict[str, Decimal | None] = {}
    for name, raw in (("carats", carats), ("usd", usd), ("industrial_carats", industrial_carats),
                      ("artisanal_carats", artisanal_carats)):
        try:
            values[name] = rules._amount(raw or "", 0, name)
        except rules.RowError as exc:
            raise ValidationFailed(f"{name}: {exc.message}", code="invalid_quantity",
                                   details={"field": name}) from None
    if values["carats"] is None and values["usd"] is None:
        raise ValidationFailed(_("give carats, usd or both"), code="invalid_quantity")
    split = [v for v in (values["industrial_carats"], values["artisanal_carats"]) if v is not None]
    if split and values["carats"] is not None and sum(split, Decimal(0)) > values["carats"]:
        raise ValidationFailed(_("industrial and artisanal carats exceed the total"), code="invalid_quantity",
                               details={"field": "industrial_carats"})
    row = rules.Row(p, participant, "production", "", "", "", values["carats"], values["usd"], None)
    with transaction.atomic():
        result = import_rows([row], actor=actor, source="submitted", filename=f"submission {p.label}")
        fig = Figure.objects.get(batch_id=result.batch_id)
        fig.industrial_carats_centi = _centi(values["industrial_carats"])
        fig.artisanal_carats_centi = _centi(values["artisanal_carats"])
        fig.save(update_fields=["industrial_carats_centi", "artisanal_carats_centi"])
        audit.record(actor=actor.label, action="production.submitted", object_type="figure", object_id=str(fig.pk),
                     participant=participant,
                     payload={"batch": result.batch_id, "period": p.label, "revision": fig.revision,
                              "record_hash": audit.record_hash({
                                  "carats_centi": fig.carats_centi, "usd_cents": fig.usd_cents,
                                  "industrial_carats_centi": fig.industrial_carats_centi,
                                  "artisanal_carats_centi": fig.artisanal_carats_centi})})
    return fig


def production_history(actor: Actor, participant: str) -> list[dict[str, Any]]:
    registry.require(actor, "statistics.read", participant)
    qs = (Figure.objects.filter(participant=participant, flow="production").select_related("batch")
          .order_by("period_start", "period", "revision"))
    return [{"period": f.period, "carats": _dec(f.carats_centi), "usd": _dec(f.usd_cents),
             "industrial_carats": _dec(f.industrial_carats_centi), "artisanal_carats": _dec(f.artisanal_carats_centi),
             "source": f.source, "revision": f.revision, "current": f.is_current, "by": f.batch.created_by,
             "at": f.batch.created_at} for f in qs]


# --- trade statistics and reconciliation ----------------------------------------------------------

def trade_statistics(actor: Actor, period: rules.Period, participant: str) -> dict[str, Any]:
    """STAT-01/02: exports and imports of one participant for a period, by partner, origin and HS code."""
    registry.require(actor, "statistics.read", participant)
    facts = [f for f in effective_facts(period, participant) if f.flow != "production"]
    breakdown = [{"flow": f.flow, "period": f.period.label, "partner": f.partner, "origin": f.origin,
                  "hs_code": f.hs_code, "carats": f.carats, "usd": f.usd, "certificates": f.certificates,
                  "source": f.source} for f in facts]
    breakdown.sort(key=lambda r: (r["flow"], r["period"], r["partner"], r["origin"], r["hs_code"]))
    totals: dict[str, dict[str, Any]] = {}
    for flow in ("export", "import"):
        rows = [f for f in facts if f.flow == flow]
        totals[flow] = {"carats": sum((f.carats or Decimal(0) for f in rows), Decimal("0.00")),
                        "usd": sum((f.usd or Decimal(0) for f in rows), Decimal("0.00")),
                        "certificates": sum(f.certificates or 0 for f in rows)}
    return {"participant": participant, "period": period.label, "totals": totals, "rows": breakdown}


def reconciliation(actor: Actor, period: rules.Period, participant: str) -> list[dict[str, Any]]:
    """For each certificate of the participant (either side) issued in the period: declared vs confirmed."""
    registry.require(actor, "statistics.read", participant)
    quarters = _quarter_filter(period) or []
    qs = (Certificate.objects.filter(issued_quarter__in=quarters)
          .filter(exporting_participant_id=participant) | Certificate.objects.filter(
              issued_quarter__in=quarters, importing_participant_id=participant))
    out = []
    for c in qs.select_related("confirmation").order_by("issued_on", "number"):
        conf = getattr(c, "confirmation", None) if c.status == "confirmed" else None
        declared = _dec(c.total_carats_centi)
        confirmed = _dec(conf.carats_centi) if conf else None
        out.append({"number": c.number, "status": c.status, "exporting": c.exporting_participant_id,
                    "importing": c.importing_participant_id, "issued_on": c.issued_on,
                    "declared_carats": declared, "declared_usd": _dec(c.total_value_cents),
                    "declared_parcels": c.total_parcels,
                    "confirmed_carats": confirmed, "confirmed_parcels": conf.parcels if conf else None,
                    "received_on": conf.received_on if conf else None,
                    "carats_difference": (confirmed - declared) if confirmed is not None and declared is not None
                    else None})
    return out


# --- reporting compliance ------------------------------------------------------------------------

def record_annual_report(actor: Actor, participant: str, year: int, received_on: dt.date | None = None,
                         note: str = "") -> AnnualReport:
    """STAT-11: a submission of the annual report, received on the node's clock. Only the system actor (the
    node operator loading historical records) may give another receipt date; each submission is a new revision,
    and compliance counts the first receipt (`annual_reports`)."""
    registry.require(actor, "statistics.submit", participant)
    if received_on is not None and not actor.system:
        raise ValidationFailed(_("the receipt date is the node's clock at submission; only the node operator "
                                 "loading historical records may give one (STAT-11)"),
                               code="received_on_not_allowed", rule="STAT-11")
    received_on = received_on or clock.today()
    with transaction.atomic():
        previous = (AnnualReport.objects.select_for_update().filter(participant=participant, year=year)
                    .order_by("-revision").first())
        report = AnnualReport.objects.create(participant=participant, year=year,
                                             revision=previous.revision + 1 if previous else 1,
                                             received_on=received_on, recorded_by=actor.label, note=note)
        audit.record(actor=actor.label, action="annual_report.recorded", object_type="annual_report",
                     object_id=f"{participant} {year}", participant=participant,
                     payload={"before": _annual_report_state(previous) if previous else None,
                              "after": _annual_report_state(report)})
    return report


def _annual_report_state(report: AnnualReport) -> dict[str, Any]:
    return {"revision": report.revision, "received_on": report.received_on.isoformat(),
            "recorded_by": report.recorded_by, "note": report.note}


def annual_reports() -> dict[tuple[str, int], dt.date]:
    """(participant, year) -> the first day its annual report was received (later revisions do not move it)."""
    return {(p, y): first for p, y, first in AnnualReport.objects.values_list("participant", "year")
            .annotate(first=Min("received_on")).order_by()}


def annual_reports_from() -> int | None:
    """Annual reports are expected from the first year this node recorded one (none recorded: not tracked)."""
    return AnnualReport.objects.order_by("year").values_list("year", flat=True).first()


def _received_index(participant: str | None = None) -> dict[tuple[str, str], list[tuple[rules.Period, dt.date]]]:
    """(participant, "trade"|"production") -> periods with figures and the day they first arrived.

    Trade derived from certificates counts as received at the end of its quarter.
    """
    out: dict[tuple[str, str], list[tuple[rules.Period, dt.date]]] = defaultdict(list)
    figures = Figure.objects.all()
    # by effective status: a certificate past its expiry date and never used is no trade (CERT-09)
    certificates = Certificate.objects.filter(status__in=EXPORTED, signer_revoked=False).exclude(
        status="issued", expires_on__lt=clock.today())
    if participant:
        figures = figures.filter(participant=participant)
        certificates = certificates.filter(exporting_participant_id=participant)
    for p, flow, label, at in (figures.values_list("participant", "flow", "period")
                               .annotate(first=Min("batch__created_at")).order_by()):
        out[(p, "production" if flow == "production" else "trade")].append((rules.parse_period(label), at.date()))
    for p, quarter in certificates.values_list("exporting_participant_id", "issued_quarter").distinct().order_by():
        period = rules.parse_period(quarter)
        out[(p, "trade")].append((period, period.end))
    return out


def standing(participant: str) -> list[StatusPeriod] | None:
    """The status history that judges what a participant owes (non-participation before admission included);
    None for a code the registry does not hold (its obligations are not judged by standing)."""
    if participant not in registry.snapshot().participants:
        return None
    return registry.status_history(participant)


def obligations(participant: str, as_of: dt.date, years: Iterable[int] | None = None,
                due_months: int | None = None,
                index: dict[tuple[str, str], list[tuple[rules.Period, dt.date]]] | None = None,
                shared: tuple[set[str], dict[tuple[str, int], dt.date], int | None] | None = None,
                ) -> list[dict[str, Any]]:
    """Every reporting obligation of a participant with its due date and status (received, late, missing,
    pending): quarterly trade, half-yearly production (for producers), the annual report by 31 March.
    Statistics are due `due_months` after the period (default KPCS_STATISTICS_DUE_MONTHS, 2).

    Only periods it owes by its standing (rules.owes): none before its admission, as an applicant or while
    removed; no trade for a period spent entirely suspended or self-suspended (STAT-10, SPEC-07)."""
    history = standing(participant)
    due_months = due_months or settings.KPCS_STATISTICS_DUE_MONTHS
    index = index if index is not None else _received_index(participant)
    if shared is None:
        producer = Figure.objects.filter(participant=participant, flow="production", carats_centi__gt=0).exists()
        reports = annual_reports()
        tracked_from = annual_reports_from()  # annual reports count from the first year this node recorded one
    else:  # read once for every participant (non_reporting)
        producer, reports, tracked_from = participant in shared[0], shared[1], shared[2]
    if years is None:
        years = range(as_of.year - 2, as_of.year + 1)
    out = []
    for year in years:
        kinds = [("trade_quarterly", "trade", "quarter")]
        if producer:
            kinds.append(("production_half_yearly", "production", "half"))
        for kind, flow_kind, grain in kinds:
            have = index.get((participant, flow_kind), [])
            started = min((p.start for p, _since in have), default=None)
            for period in rules.periods_of_year(year, grain):
                if started is not None and period.end < started:
                    continue  # obligations start with the participant's first report of this kind
                if not rules.owes(flow_kind, history, period):
                    continue  # not a participant then, or barred from trade throughout
                due = rules.due_on(period, due_months)
                got = [d for p, d in have if p.contains(period) or period.contains(p)]
                first = min(got) if got else None
                out.append({"kind": kind, "period": period.label, "due_on": due, "received_on": first,
                            "status": rules.obligation_status(first, due, as_of)})
        if tracked_from is not None and year >= tracked_from \
                and rules.owes("annual_report", history, rules.Period(year, "year", 1)):
            due = rules.annual_report_due(year)
            got_report = reports.get((participant, year))
            out.append({"kind": "annual_report", "period": str(year), "due_on": due,
                        "status": rules.obligation_status(got_report, due, as_of), "received_on": got_report})
    return out


def non_reporting(as_of: dt.date, due_months: int | None = None) -> list[dict[str, Any]]:
    """STAT-10: participants with statistics missing after their due date, for the public list.

    A participant counts once it has ever reported (or traded on this node); the periods checked are those
    of the last completed year and the current one.
    """
    index = _received_index()
    producers = set(Figure.objects.filter(flow="production", carats_centi__gt=0)
                    .values_list("participant", flat=True).distinct().order_by())
    shared = (producers, annual_reports(), annual_reports_from())
    out = []
    for p in sorted({p for p, _since in index}):
        missing = [o for o in obligations(p, as_of, range(as_of.year - 1, as_of.year + 1), due_months, index,
                                          shared)
                   if o["status"] == "missing" and o["kind"] != "annual_report"]
        if missing:
            out.append({"participant": p, "missing": [f"{o['kind']} {o['period']}" for o in missing]})
    return out


def participant_name(code: str) -> str:
    try:
        return registry.get_participant(code).name
    except NotFound:
        return code
