"""Issue certificates over HTTP against a real `kpcs serve`, and compare with the floor (BRIEF §6).

    .venv/bin/python bench/bench_issue.py [--requests 3000] [--concurrency 8] [--workers cores+1]

Measures, in one run:
  1. HTTP issue rate: POST /api/v1/certificates (validate, number, sign, persist, audit) from C client
     processes, each on its own http.client connection, against `kpcs serve --workers W` on a fresh node;
  2. the floor: the same Ed25519 sign (kpcs.crypto.sign of a comparable payload) + one single-row INSERT +
     commit, directly with sqlite3 (WAL, synchronous=FULL), on one core;
  3. for the breakdown: services.issue called in-process (no HTTP) on one core, sign alone, insert alone;
and the server's RSS (VmRSS of the gunicorn master and workers, sampled during the run).
Target: >= 500 certificates/s over HTTP on SQLite on 2 cores; the floor runs at about 11,000/s.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import multiprocessing as mp
import os
import pstats
import sqlite3
import statistics
import sys
import tempfile
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import HOST, REQUEST, Server, demo_node, dumps, kpcs, now, one_core, post, table


def client(port: int, token: str, n: int, barrier: Any, results: Any) -> None:
    import http.client

    body = dumps(REQUEST)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    latencies: list[float] = []
    errors: dict[int, int] = {}
    barrier.wait()
    for _ in range(n):
        t0 = now()
        try:
            status, _ = post(conn, "/api/v1/certificates", body, headers)
        except OSError:
            status = -1
            conn.close()
        latencies.append(now() - t0)
        if status != 201:
            errors[status] = errors.get(status, 0) + 1
    conn.close()
    results.put((latencies, errors))


def http_load(port: int, token: str, requests: int, concurrency: int) -> tuple[float, list[float], dict[int, int]]:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(concurrency + 1)
    results = ctx.Queue()
    shares = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]
    procs = [ctx.Process(target=client, args=(port, token, n, barrier, results)) for n in shares]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = now()
    latencies: list[float] = []
    errors: dict[int, int] = {}
    for _ in procs:
        lat, err = results.get(timeout=600)
        latencies += lat
        for k, v in err.items():
            errors[k] = errors.get(k, 0) + v
    elapsed = now() - t0
    for p in procs:
        p.join(timeout=30)
    return elapsed, latencies, errors


def comparable_payload(serial: int) -> dict[str, Any]:
    from kpcs.certificates import rules

    lines = [rules.Line("7102.31", Decimal("1250.40"), Decimal("1875600.00"), 3),
             rules.Line("7102.21", Decimal("400.00"), Decimal("12000.00"), 1)]
    return rules.build_payload(
        number=rules.format_number("BW", serial), cert_type="standard", exporting="BW", importing="EU",
        authority={"id": "BW-KPA", "name": "Department of Mines, Botswana", "participant": "BW"},
        issued_at=dt.datetime.now(dt.UTC), expires_on=dt.date.today() + dt.timedelta(days=60),
        exporter={"name": "Botswana Rough Exports Ltd", "address": "1 Diamond Street, Botswana",
                  "licence": "BW-EXP-0001"},
        importer={"name": "Y BV", "address": "Hoveniersstraat 22, Antwerp"},
        origin={"kind": "single", "countries": ["BW"]}, lines=lines, totals=rules.totals_of(lines))


def floor(n: int) -> dict[str, float]:
    """Sign + single-row INSERT + commit straight on sqlite3 (WAL, synchronous=FULL), one core."""
    from kpcs import crypto

    key = crypto.generate_private_key()
    with tempfile.TemporaryDirectory(prefix="kpcs-floor-") as d:
        db = sqlite3.connect(Path(d) / "floor.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE cert (id INTEGER PRIMARY KEY, number TEXT UNIQUE NOT NULL, jws TEXT NOT NULL)")
        payloads = [comparable_payload(i) for i in range(1, n + 1)]
        # Steady state, as in the server's database: the WAL has grown to its checkpoint size and is reused
        # (appending to a growing file costs an extra metadata sync per commit on most filesystems).
        filler = crypto.sign(payloads[0], key, "BW-KPA#floor")
        for i in range(2000):
            db.execute("BEGIN")
            db.execute("INSERT INTO cert (number, jws) VALUES (?, ?)", (f"WU {i:07d}", filler))
            db.execute("COMMIT")
        with one_core():
            t0 = now()
            for p in payloads:
                token = crypto.sign(p, key, "BW-KPA#floor")
                db.execute("BEGIN")
                db.execute("INSERT INTO cert (number, jws) VALUES (?, ?)", (p["number"], token))
                db.execute("COMMIT")
            both = now() - t0
            t0 = now()
            for p in payloads:
                crypto.sign(p, key, "BW-KPA#floor")
            sign_only = now() - t0
            raw = [crypto.canonical(p) for p in payloads]
            t0 = now()
            for b in raw:
                key.sign(b)
            raw_sign = now() - t0
            t0 = now()
            for i in range(n):
                db.execute("BEGIN")
                db.execute("INSERT INTO cert (number, jws) VALUES (?, ?)", (f"XX {i:07d}", token))
                db.execute("COMMIT")
            insert_only = now() - t0
        db.close()
    return {"floor": n / both, "sign": n / sign_only, "insert": n / insert_only, "raw_sign": n / raw_sign}


def in_process_issue(env: dict[str, str], n: int, profile: bool) -> float:
    """services.issue directly (validation, numbering, signing, persisting, audit) on one core."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpcs.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from kpcs.certificates import services
    from kpcs.registry import services as registry

    actor = registry.actor_for_user(get_user_model().objects.get(username="bw.officer@demo.kpcs"), "bench")
    for _ in range(20):  # warm caches (keys, connections)
        services.issue(actor, REQUEST)
    profiler = cProfile.Profile() if profile else None
    with one_core():
        t0 = now()
        if profiler:
            profiler.enable()
        for _ in range(n):
            services.issue(actor, REQUEST)
        if profiler:
            profiler.disable()
        elapsed = now() - t0
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        print(out.getvalue())
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="certificates issued over HTTP")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument("--floor", type=int, default=5000, help="iterations of the floor")
    parser.add_argument("--in-process", type=int, default=1000, help="in-process services.issue calls (0: skip)")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process issue")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp data dir")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir")
    args = parser.parse_args()

    print(f"{os.cpu_count()} cores; {args.workers} workers; {args.concurrency} client processes; "
          f"{args.requests} requests", flush=True)
    with demo_node(args.database_url, args.keep) as (root, env):
        token = kpcs(env, "token", "create", "bw.officer@demo.kpcs").strip()
        server = Server(env, args.workers, root / "serve.log")
        rss_peak: dict[int, int] = {}
        pss_peak = [0]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.25):
                for pid, kib in server.rss().items():
                    rss_peak[pid] = max(rss_peak.get(pid, 0), kib)
                pss_peak[0] = max(pss_peak[0], sum(server.pss().values()))

        sampler = threading.Thread(target=sample, daemon=True)
        try:
            http_load(server.port, token, min(200, args.requests), args.concurrency)  # warm-up
            sampler.start()
            elapsed, latencies, errors = http_load(server.port, token, args.requests, args.concurrency)
            sampling.set()
            sampler.join(timeout=5)
            for pid, kib in server.rss().items():
                rss_peak[pid] = max(rss_peak.get(pid, 0), kib)
            pss_peak[0] = max(pss_peak[0], sum(server.pss().values()))
        finally:
            server.stop()
        ok = len(latencies) - sum(errors.values())
        http_rate = ok / elapsed
        floor_rates = floor(args.floor)
        in_proc = in_process_issue(env, args.in_process, args.profile) if args.in_process else 0.0

    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    master = min(rss_peak) if rss_peak else 0
    rows = [
        ("HTTP issue (POST /certificates), cert/s", f"{http_rate:,.0f}"),
        ("  errors (non-201)", str(errors or 0)),
        ("  latency p50 / p99, ms", f"{q[49] * 1000:.1f} / {q[98] * 1000:.1f}"),
        ("floor: sign + INSERT + commit, 1 core, /s", f"{floor_rates['floor']:,.0f}"),
        ("  Ed25519 sign (kpcs.crypto.sign) alone, /s", f"{floor_rates['sign']:,.0f}"),
        ("  raw Ed25519 sign of the canonical bytes, /s", f"{floor_rates['raw_sign']:,.0f}"),
        ("  sqlite INSERT + commit alone, /s", f"{floor_rates['insert']:,.0f}"),
        ("services.issue in-process, 1 core, /s", f"{in_proc:,.0f}" if in_proc else "skipped"),
        ("ratio HTTP issue / floor", f"{http_rate / floor_rates['floor']:.3f}"),
        ("target HTTP issue >= 500/s", "met" if http_rate >= 500 else "NOT met"),
        ("server RSS peak: master, MB", f"{rss_peak.get(master, 0) / 1024:.0f}"),
        ("server RSS peak: largest worker, MB",
         f"{max((v for k, v in rss_peak.items() if k != master), default=0) / 1024:.0f}"),
        ("server RSS peak: sum over processes, MB", f"{sum(rss_peak.values()) / 1024:.0f}"),
        ("server PSS peak: sum (shared pages once), MB", f"{pss_peak[0] / 1024:.0f}"),
    ]
    table(rows, f"bench_issue ({'SQLite' if not args.database_url else args.database_url.split(':')[0]})")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
