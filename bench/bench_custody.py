"""Trace a parcel at depth 20 among a million custody events (BRIEF §6: <= 20 ms on SQLite and PostgreSQL).

    .venv/bin/python bench/bench_custody.py [--events 1000000] [--depth 20] [--database-url URL]

A throw-away node (a temp KPCS_DATA_DIR; SQLite unless --database-url names an empty PostgreSQL database) is
migrated and seeded; a mine, its holder and two dealers are registered through the services; then chains of
--depth events (a production and depth-1 transfers, each consuming the parcel the one before made) are written
straight into the custody tables, in order of time, until --events events exist. The project's own
`custody.selectors.trace` is then timed on the last parcel of chains spread over the table (best and median of
--repeat), and checked: its path has `depth` events and its origins add up to its carats.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="kpcs-bench-custody-")
    os.environ.update({"KPCS_DATA_DIR": data, "KPCS_SECRET_KEY": "bench",
                       "KPCS_DATABASE_URL": args.database_url or f"sqlite:///{data}/kpcs.sqlite3",
                       "DJANGO_SETTINGS_MODULE": "kpcs.settings"})
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from kpcs.custody import selectors, services
    from kpcs.custody.models import CustodyEvent, Parcel, ParcelOrigin
    from kpcs.registry import services as registry

    call_command("migrate", verbosity=0)
    registry.seed_reference_data()
    since = dt.date(2000, 1, 1)
    ops = [registry.register_operator(registry.SYSTEM, participant="BW", name=f"Bench {kind} {n}", address="Gaborone",
                                      kind=kind, licence=f"BW-BENCH-{n}", valid_from=since)
           for n, kind in enumerate(("miner", "dealer", "dealer"))]
    site = services.register_site(registry.SYSTEM, name="Bench mine", kind="industrial_mine", region="South",
                                  holder=ops[0].pk)
    events_t, parcels_t, origins_t = (m._meta.db_table for m in (CustodyEvent, Parcel, ParcelOrigin))
    chains = args.events // args.depth
    start = time.perf_counter()
    base = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    batch_chains = max(1, 20_000 // args.depth)
    event_id = parcel_id = 0
    lasts: list[int] = []
    q = "%s"
    with transaction.atomic(), connection.cursor() as cursor:
        for first in range(0, chains, batch_chains):
            events, parcels, origins = [], [], []
            for chain in range(first, min(chains, first + batch_chains)):
                when = base + dt.timedelta(minutes=chain)
                for step in range(args.depth):
                    event_id += 1
                    parcel_id += 1
                    at = when + dt.timedelta(seconds=step)
                    holder = ops[0].pk if step == 0 else ops[1 + step % 2].pk
                    seller = ops[0].pk if step <= 1 else ops[1 + (step - 1) % 2].pk
                    events.append((event_id, "production" if step == 0 else "transfer", "BW", at, at, "bench",
                                   seller if step else ops[0].pk, holder if step else None,
                                   site.pk if step == 0 else None, "{}", "", None, "", ""))
                    consumed = event_id + 1 if step < args.depth - 1 else None
                    parcels.append((parcel_id, holder, "BW", 1234, 5678, "7102.31", None,
                                    "consumed" if consumed else "held", event_id, at.date(), consumed,
                                    at.date() if consumed else None))
                    origins.append((parcel_id, "BW", site.pk, 1234))
                lasts.append(parcel_id)
            cursor.executemany(
                f"INSERT INTO {events_t} (id, type, participant_id, occurred_at, recorded_at, actor, operator_id, "
                f"counterparty_id, site_id, details, idempotency_scope, idempotency_key, request_hash, certificate) "
                f"VALUES ({', '.join([q] * 14)})", events)
            cursor.executemany(
                f"INSERT INTO {parcels_t} (id, holder_id, participant_id, carats_centi, usd_cents, hs_code, stones, "
                f"status, created_by_id, created_on, consumed_by_id, consumed_on) VALUES ({', '.join([q] * 12)})",
                parcels)
            cursor.executemany(f"INSERT INTO {origins_t} (parcel_id, country, site_id, carats_centi) VALUES "
                               f"({', '.join([q] * 4)})", origins)
    loaded = time.perf_counter() - start
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in (events_t, parcels_t, origins_t):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT MAX(id) FROM {table}))")
                cursor.execute(f"ANALYZE {table}")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    picks = [lasts[i * (len(lasts) - 1) // max(args.repeat - 1, 1)] for i in range(args.repeat)]
    timings = []
    for pk in picks:
        t = time.perf_counter()
        found = selectors.trace(Parcel.objects.select_related("holder").get(pk=pk))
        timings.append(time.perf_counter() - t)
        assert len(found["path"]) == args.depth, len(found["path"])
        assert found["origins"][0]["carats"] == "12.34"
    print(f"{connection.vendor}: {event_id:,} events loaded in {loaded:.1f} s; trace at depth {args.depth}: "
          f"best {min(timings) * 1000:.2f} ms, median {statistics.median(timings) * 1000:.2f} ms, "
          f"worst {max(timings) * 1000:.2f} ms over {len(timings)} parcels (target <= 20 ms)")


if __name__ == "__main__":
    main()
