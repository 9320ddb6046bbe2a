"""Bulk intake of a file of custody events (BRIEF §6: bulk import >= 50,000 rows/s, all or nothing).

    .venv/bin/python bench/bench_custody_intake.py [--events 100000] [--stock 2000] [--one-by-one 1000]
                                                   [--database-url postgresql://…/empty_db] [--profile]

A throw-away node (a temp KPCS_DATA_DIR; SQLite unless --database-url names an empty PostgreSQL database) is
migrated and seeded; a mine, two alluvial areas, their holders, three dealers and an exporter are registered
through the services, and a first file puts --stock parcels in the dealers' stock. Then a day's file of about
--events lines (JSON lines, as a buying office sends them: productions of two lots, sales whole and partial,
sorting, mixing, losses, and sales from the stock held before the file) is generated and timed through
`custody.bulk.import_file` (read, check whole, write, one audit entry, commit): lines/s, events/s and the rows
written per second, with the time of each phase. Baseline in the same run: the same rows (events, parcels, origin
rows) inserted again into the same tables by a bare `executemany` per table in one transaction, rolled back
(and on PostgreSQL by a bare COPY, which the intake uses there; its foreign keys checked at each statement,
as the rollback would skip the checks a COMMIT makes); the ratio is what the checks and the
bookkeeping cost over writing alone. Then the same kind of file of
--one-by-one lines through `services.import_events` (each event as the API records it), for comparison.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

WARRANTY = "The seller hereby guarantees that these diamonds are conflict free."


def day_file(ops: dict[str, int], sites: dict[str, int], stock: list[int], lines: int,
             start: dt.datetime) -> list[dict[str, Any]]:
    """About `lines` lines in chains of 12: each chain's parcels are named by "@LINE" references; one chain in
    ten also sells a parcel of the stock held before the file."""
    out: list[dict[str, Any]] = []
    sale = {"invoice": "INV", "warranty": WARRANTY}
    chain = 0
    while len(out) < lines:
        k = len(out)  # lines are numbered from 1: line k + n is out[k + n - 1]
        t = start + dt.timedelta(minutes=chain)

        def when(s: int, t: dt.datetime = t) -> str:
            return (t + dt.timedelta(seconds=s)).isoformat()

        dealer_a, dealer_b = ops[f"dealer{chain % 3}"], ops[f"dealer{(chain + 1) % 3}"]
        digger, alluvial = (ops["digger0"], sites["river0"]) if chain % 2 else (ops["digger1"], sites["river1"])
        out += [
            {"type": "production", "site": sites["mine"], "occurred_at": when(1),
             "produced": [{"carats": "120.50", "value_usd": "18075.00", "hs_code": "7102.31", "stones": 60},
                          {"carats": "40.25", "value_usd": "2012.50", "hs_code": "7102.21"}]},
            {"type": "transfer", "parcels": [f"@{k + 1}.1"], "seller": ops["miner"], "buyer": dealer_a,
             "occurred_at": when(2), **sale},
            {"type": "transfer", "parcels": [f"@{k + 1}.2"], "seller": ops["miner"], "buyer": dealer_b,
             "carats": "15.25", "occurred_at": when(3), **sale},
            {"type": "split", "parcels": [f"@{k + 2}"], "into": [{"carats": "60.00"}, {"carats": "40.50"},
                                                                 {"carats": "20.00"}], "occurred_at": when(4)},
            {"type": "transfer", "parcels": [f"@{k + 4}.1"], "seller": dealer_a, "buyer": ops["exporter"],
             "value_usd": "9500.00", "occurred_at": when(5), **sale},
            {"type": "merge", "parcels": [f"@{k + 4}.2", f"@{k + 4}.3"], "occurred_at": when(6)},
            {"type": "production", "site": alluvial, "occurred_at": when(7),
             "produced": [{"carats": "3.17", "value_usd": "412.10", "hs_code": "7102.31", "stones": 4}]},
            {"type": "transfer", "parcels": [f"@{k + 7}"], "seller": digger, "buyer": dealer_b,
             "occurred_at": when(8), **sale},
            {"type": "merge", "parcels": [f"@{k + 3}", f"@{k + 8}"], "hs_code": "7102.10", "occurred_at": when(9)},
            {"type": "loss", "parcels": [f"@{k + 6}"], "reason": "lost in sorting", "occurred_at": when(10)},
            {"type": "transfer", "parcels": [f"@{k + 9}"], "seller": dealer_b, "buyer": ops["exporter"],
             "occurred_at": when(11), **sale},
        ]
        if chain % 10 == 0 and stock:
            pk, holder = stock.pop()
            out.append({"type": "transfer", "parcels": [pk], "seller": holder, "buyer": ops["exporter"],
                        "occurred_at": when(12), **sale})
        else:
            out.append({"type": "seizure", "parcels": [f"@{k + 5}"], "reason": "unlicensed buyer",
                        "occurred_at": when(12)})
        chain += 1
    return out


def jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)


def timed(holder: Any, name: str, spent: dict[str, float]) -> Callable[[], None]:
    """Wrap holder.name so that its time adds to spent[name]; returns the undo."""
    original = getattr(holder, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t

    setattr(holder, name, wrapper)
    return lambda: setattr(holder, name, original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="lines of the day's file")
    parser.add_argument("--stock", type=int, default=2000, help="parcels held before the file")
    parser.add_argument("--one-by-one", type=int, default=1000, help="lines through the one-by-one path (0: skip)")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", action="store_true", help="cProfile of the bulk import")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="kpcs-bench-intake-")
    os.environ.update({"KPCS_DATA_DIR": data_dir, "KPCS_SECRET_KEY": "bench",
                       "KPCS_DATABASE_URL": args.database_url or f"sqlite:///{data_dir}/kpcs.sqlite3",
                       "DJANGO_SETTINGS_MODULE": "kpcs.settings"})
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from kpcs import clock
    from kpcs.audit import services as audit
    from kpcs.custody import bulk, rules, services
    from kpcs.custody.models import CustodyEvent, Parcel, ParcelOrigin
    from kpcs.registry import services as registry

    call_command("migrate", verbosity=0)
    registry.seed_reference_data()
    since = dt.date(2000, 1, 1)
    kinds = {"miner": "miner", "digger0": "digger", "digger1": "digger", "dealer0": "dealer", "dealer1": "dealer",
             "dealer2": "dealer", "exporter": "exporter"}
    ops = {name: registry.register_operator(registry.SYSTEM, participant="BW", name=f"Bench {name}",
                                            address="Gaborone", kind=kind, licence=f"BW-BENCH-{name}",
                                            valid_from=since).pk for name, kind in kinds.items()}
    sites = {"mine": services.register_site(registry.SYSTEM, name="Bench mine", kind="industrial_mine",
                                            region="South", holder=ops["miner"]).pk}
    for n in range(2):
        sites[f"river{n}"] = services.register_site(registry.SYSTEM, name=f"Bench river {n}", kind="alluvial_area",
                                                    region="Central", holder=ops[f"digger{n}"]).pk
    now = clock.now()
    start = now - dt.timedelta(days=60)
    # the stock held before the day: productions sold to the dealers, in bulk
    stock_lines: list[dict[str, Any]] = []
    for n in range(args.stock):
        at = (start - dt.timedelta(days=1, seconds=n)).isoformat()
        stock_lines.append({"type": "production", "site": sites["mine"], "occurred_at": at,
                            "produced": [{"carats": "10.00", "value_usd": "900.00", "hs_code": "7102.31"}]})
        stock_lines.append({"type": "transfer", "parcels": [f"@{2 * n + 1}"], "seller": ops["miner"],
                            "buyer": ops[f"dealer{n % 3}"], "occurred_at": at, "invoice": "S",
                            "warranty": WARRANTY})
    bulk.import_file(registry.SYSTEM, jsonl(stock_lines), "stock.jsonl")
    stock = list(Parcel.objects.filter(status="held", holder_id__in=[ops[f"dealer{n}"] for n in range(3)])
                 .values_list("pk", "holder_id").order_by("-pk"))
    events = day_file(ops, sites, list(stock), args.events, start)
    data = jsonl(events)
    counts_before = {m: m.objects.count() for m in (CustodyEvent, Parcel, ParcelOrigin)}

    spent: dict[str, float] = {}
    undo = [timed(rules, "read_events", spent), timed(bulk, "_read_records", spent),
            timed(bulk._Planner, "plan", spent), timed(bulk, "_write", spent), timed(audit, "record", spent)]
    profile = cProfile.Profile() if args.profile else None
    t, cpu = time.perf_counter(), time.process_time()
    if profile:
        profile.enable()
    done = bulk.import_file(registry.SYSTEM, data, "day.jsonl")
    if profile:
        profile.disable()
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    for u in undo:
        u()
    rows = {m: m.objects.count() - counts_before[m] for m in (CustodyEvent, Parcel, ParcelOrigin)}
    written = sum(rows.values())
    assert done.lines == len(events) and rows[CustodyEvent] == done.events

    # baseline: the same rows, a bare executemany per table into the same tables, one transaction, rolled back
    tables = {m: m._meta.db_table for m in (CustodyEvent, Parcel, ParcelOrigin)}
    with connection.cursor() as cursor:
        def rows_of(model: Any, where: str, params: list[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
            cursor.execute(f"SELECT * FROM {tables[model]} WHERE {where}", params)  # noqa: S608
            return [c[0] for c in cursor.description], [tuple(r) for r in cursor.fetchall()]

        first, last = done.event_ids[0], done.event_ids[-1]
        ev_cols, ev_rows = rows_of(CustodyEvent, "batch_id = %s", [done.batch])
        pa_cols, pa_rows = rows_of(Parcel, "created_by_id BETWEEN %s AND %s", [first, last])
        first_parcel = min(r[pa_cols.index("id")] for r in pa_rows)
        or_cols, or_rows = rows_of(ParcelOrigin, "parcel_id >= %s", [first_parcel])
    shift = 10**9

    def shifted(cols: list[str], rows: list[tuple[Any, ...]], keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
        at = [cols.index(k) for k in keys]
        return [tuple(v + shift if i in at and v is not None else v for i, v in enumerate(r)) for r in rows]

    batches = [(tables[CustodyEvent], ev_cols, shifted(ev_cols, ev_rows, ("id",))),
               (tables[Parcel], pa_cols, shifted(pa_cols, pa_rows, ("id", "created_by_id", "consumed_by_id"))),
               (tables[ParcelOrigin], or_cols[1:], [r[1:] for r in shifted(or_cols, or_rows, ("parcel_id",))])]
    if connection.vendor == "postgresql":  # JSON read back as dicts: written back as text, cast by the column
        from psycopg.types.json import Jsonb

        d = ev_cols.index("details")
        batches[0] = (batches[0][0], ev_cols, [(*r[:d], Jsonb(r[d]), *r[d + 1:]) for r in batches[0][2]])
    immediate = connection.vendor == "postgresql"  # its foreign keys are checked at COMMIT, which a rollback skips:
    # checked at each statement instead, so that the baseline pays for them as the intake does

    t, raw_cpu = time.perf_counter(), time.process_time()
    with transaction.atomic():
        with connection.cursor() as cursor:
            if immediate:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table, cols, values in batches:
                sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"  # noqa: S608
                for i in range(0, len(values), 20_000):
                    cursor.executemany(sql, values[i:i + 20_000])
        raw, raw_cpu = time.perf_counter() - t, time.process_time() - raw_cpu
        transaction.set_rollback(True)
    copied = None
    if connection.vendor == "postgresql":  # the fastest way in: COPY of the same rows, rolled back
        t = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                for table, cols, values in batches:
                    with cursor.cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in values:
                            copy.write_row(row)
            copied = time.perf_counter() - t
            transaction.set_rollback(True)

    one_by_one = None
    if args.one_by_one:
        later = start + dt.timedelta(days=20)
        small = [(n, e) for n, e in enumerate(day_file(ops, sites, [], args.one_by_one, later), start=1)]
        t = time.perf_counter()
        recorded = services.import_events(registry.SYSTEM, small)
        one_by_one = (len(small), len(recorded), time.perf_counter() - t)

    print(f"\n{connection.vendor}: a file of {done.lines:,} lines ({len(data) / 1e6:.1f} MB), {done.events:,} events "
          f"({', '.join(f'{k} {v:,}' for k, v in sorted(done.by_type.items()))}); {done.parcels_consumed:,} parcels "
          f"of the {len(stock):,} held before it sold; {written:,} rows written "
          f"({rows[CustodyEvent]:,} events, {rows[Parcel]:,} parcels, {rows[ParcelOrigin]:,} origin rows)")
    width = 44
    print("-" * (width + 40))
    print(f"{'bulk intake (read, check, write, audit, commit)':<{width}} {elapsed:8.2f} s  "
          f"{done.lines / elapsed:>10,.0f} lines/s  {written / elapsed:>10,.0f} rows/s")
    for name in ("read_events", "_read_records", "plan", "_write", "record"):
        print(f"  {name:<{width - 2}} {spent.get(name, 0.0):8.2f} s")
    print(f"{'baseline: bare executemany of the same rows':<{width}} {raw:8.2f} s  "
          f"{done.lines / raw:>10,.0f} lines/s  {written / raw:>10,.0f} rows/s")
    print(f"{'ratio bulk intake / baseline':<{width}} {elapsed / raw:8.2f} x")
    if copied:
        print(f"{'baseline: bare COPY of the same rows':<{width}} {copied:8.2f} s  "
              f"{done.lines / copied:>10,.0f} lines/s  {written / copied:>10,.0f} rows/s")
        print(f"{'ratio bulk intake / COPY':<{width}} {elapsed / copied:8.2f} x")
    print(f"{'CPU time of this process: bulk, baseline':<{width}} {cpu:8.2f} s  {raw_cpu:8.2f} s  "
          f"(bulk {done.lines / cpu:,.0f} lines per CPU-second)")
    if one_by_one:
        n, events_n, secs = one_by_one
        print(f"{'one by one (services.import_events)':<{width}} {secs:8.2f} s  {n / secs:>10,.0f} lines/s  "
              f"({n:,} lines, {events_n:,} events; bulk is {(done.lines / elapsed) / (n / secs):,.0f} x faster)")
    print("-" * (width + 40))
    print(f"target: >= 50,000 lines/s, all or nothing; load average {os.getloadavg()[0]:.2f} (other work on the "
          "same cores lengthens the wall times; the CPU times less so)")
    verification = audit.verify_chain()
    assert verification[1] is None, verification
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    main()
