"""Custody event intake over HTTP against `kpcs serve` as it runs (issue 9: "measures event intake per second
over HTTP").

    .venv/bin/python bench/bench_custody_http.py [--seconds 10] [--clients 4] [--database-url postgresql://…]

On a fresh demo node, starts `kpcs serve` (gunicorn, cores + 1 sync workers, access log on, the rate limiter on
with a limit the load does not reach) and, as Botswana's custody officer with an API token, measures:

* **production** — `POST /api/v1/custody/events` of a production at the demo's mine (one lot; each request makes
  a parcel, so requests never contend for stock), for `--seconds` from `--clients` connections. The load comes
  from `wrk` with a Lua script when it is installed (a C client that leaves the cores to the server), otherwise
  from Python client processes;
* **production then sale** — each Python client process records a production and sells the parcel it made to
  the demo's dealer (the parcel's id read from the answer), so half the events consume a parcel through the
  conditional UPDATE: events/s over both;
* **baseline** in the same run: the same load on the cheapest request of the same server with the same token
  (`GET /api/v1/trust-list/anchor`), so the ratio is what recording an event costs over serving a request at all;
  and `services.record_event` of the same production in-process on one core (no HTTP).

Every request must answer 201 (200 for the baseline); errors are counted and printed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import time
from pathlib import Path
from typing import Any

from common import HOST, Server, demo_node, kpcs, now, one_core, run_wrk, table

OFFICER = "bw.custody@demo.kpcs"
WARRANTY = "The seller hereby guarantees that these diamonds are conflict free."


def production(site: int) -> dict[str, Any]:
    return {"type": "production", "site": site,
            "produced": [{"carats": "12.34", "value_usd": "1234.00", "hs_code": "7102.31", "stones": 5}]}


def chain_client(port: int, token: str, site: int, seller: int, buyer: int, seconds: float, start: float,
                 out: Any) -> None:
    """Production, then the sale of the parcel it made, until the deadline: (events, errors, latencies)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    events = errors = 0
    latencies: list[float] = []
    body = json.dumps(production(site))
    while time.time() < start:
        time.sleep(0.001)
    deadline = start + seconds
    while time.time() < deadline:
        try:
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/custody/events", body=body, headers=headers)
            resp = conn.getresponse()
            made = resp.read()
            latencies.append(time.perf_counter() - t0)
            if resp.status != 201:
                errors += 1
                continue
            events += 1
            parcel = json.loads(made)["outputs"][0]["id"]
            sale = json.dumps({"type": "transfer", "parcels": [parcel], "seller": seller, "buyer": buyer,
                               "invoice": f"B-{parcel}", "warranty": WARRANTY})
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/custody/events", body=sale, headers=headers)
            resp = conn.getresponse()
            resp.read()
            latencies.append(time.perf_counter() - t0)
            events += resp.status == 201
            errors += resp.status != 201
        except (OSError, http.client.HTTPException):
            conn.close()
            errors += 1
    out.put((events, errors, latencies))


def python_load(port: int, token: str, seconds: float, clients: int, method: str, path: str,
                body: str | None) -> tuple[float, int, float, float]:
    """Python client processes sending one request again and again; (requests/s, errors, p50, p99)."""
    queue: Any = mp.Queue()
    start = time.time() + 0.5
    procs = [mp.Process(target=_repeat, args=(port, token, method, path, body, seconds, start, queue))
             for _ in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return _summary(results, seconds)


def _repeat(port: int, token: str, method: str, path: str, body: str | None, seconds: float, start: float,
            out: Any) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    count = errors = 0
    latencies: list[float] = []
    while time.time() < start:
        time.sleep(0.001)
    deadline = start + seconds
    while time.time() < deadline:
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            ok = resp.status in (200, 201)
        except (OSError, http.client.HTTPException):
            conn.close()
            ok = False
        latencies.append(time.perf_counter() - t0)
        count += ok
        errors += not ok
    out.put((count, errors, latencies))


def _summary(results: list[tuple[int, int, list[float]]], seconds: float) -> tuple[float, int, float, float]:
    total = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2]) or [0.0]
    return total / seconds, errors, lat[int(0.5 * (len(lat) - 1))], lat[int(0.99 * (len(lat) - 1))]


def wrk_load(port: int, token: str, seconds: float, clients: int, method: str, path: str,
             body: str | None) -> tuple[float, int, float, float]:
    """The same load from wrk: one thread, `clients` connections (a Lua script sets method, headers, body)."""
    lua = (f"wrk.method = {json.dumps(method)}\n"
           f"wrk.headers['Authorization'] = {json.dumps('Bearer ' + token)}\n"
           "wrk.headers['Content-Type'] = 'application/json'\n"
           + (f"wrk.body = {json.dumps(body)}\n" if body else ""))
    return run_wrk(f"http://{HOST}:{port}{path}", lua, seconds, clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1, help="as kpcs serve")
    parser.add_argument("--in-process", type=int, default=500, help="in-process record_event calls (0: skip)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--python-clients", action="store_true", help="Python client processes even if wrk is here")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_clients
    load = wrk_load if use_wrk else python_load

    with demo_node(args.database_url) as (root, env):
        env = {**env, "KPCS_RATE_PUBLIC": str(10**9), "KPCS_RATE_TOKEN": str(10**9)}
        token = kpcs(env, "token", "create", OFFICER).strip()
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpcs.settings")
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.db import connection

        from kpcs.custody import services
        from kpcs.custody.models import CustodyEvent, Site
        from kpcs.registry import services as registry
        from kpcs.registry.models import Operator

        mine = Site.objects.get(participant_id="BW", kind="industrial_mine")
        seller = mine.holder_id
        buyer = Operator.objects.get(participant_id="BW", licence="BW-DEA-0001").pk
        before = CustodyEvent.objects.count()
        connection.close()
        body = json.dumps(production(mine.pk))
        print(f"serving with {args.workers} workers; {args.clients} "
              f"{'wrk connections' if use_wrk else 'Python client processes'} for {args.seconds:.0f} s per "
              "measurement", flush=True)
        server = Server(env, args.workers, Path(root) / "server.log")
        try:
            python_load(server.port, token, 1.0, args.clients, "POST", "/api/v1/custody/events", body)  # warm-up
            base = load(server.port, token, args.seconds, args.clients, "GET", "/api/v1/trust-list/anchor", None)
            produced = load(server.port, token, args.seconds, args.clients, "POST", "/api/v1/custody/events", body)
            queue: Any = mp.Queue()
            start = time.time() + 0.5
            procs = [mp.Process(target=chain_client, args=(server.port, token, mine.pk, seller, buyer,
                                                           args.seconds, start, queue)) for _ in range(args.clients)]
            for p in procs:
                p.start()
            chained = _summary([queue.get() for _ in procs], args.seconds)
            for p in procs:
                p.join()
        finally:
            server.stop()
        recorded = CustodyEvent.objects.count() - before

        in_process = 0.0
        if args.in_process:
            officer = registry.actor_for_user(get_user_model().objects.get(username=OFFICER), "bench")
            request = production(mine.pk)
            with one_core():
                t0 = now()
                for _ in range(args.in_process):
                    services.record_event(officer, request)
                in_process = args.in_process / (now() - t0)

    rows = [
        (f"{connection.vendor}; load from", "wrk (1 thread)" if use_wrk else "Python client processes"),
        ("baseline: GET /trust-list/anchor, /s", f"{base[0]:,.0f}"),
        ("production over HTTP, events/s", f"{produced[0]:,.0f}"),
        ("  errors", f"{produced[1]}"),
        ("  latency p50 / p99", f"{produced[2] * 1000:.1f} ms / {produced[3] * 1000:.1f} ms"),
        ("  ratio to the baseline", f"{produced[0] / base[0]:.3f}"),
        ("production then sale (Python clients), events/s", f"{chained[0]:,.0f}"),
        ("  errors", f"{chained[1]}"),
        ("  latency p50 / p99", f"{chained[2] * 1000:.1f} ms / {chained[3] * 1000:.1f} ms"),
        ("events recorded in all (warm-up included)", f"{recorded:,}"),
    ]
    if in_process:
        rows.append(("in-process record_event (production), one core, /s", f"{in_process:,.0f}"))
    rows.append(("load average (1 min) at the end", f"{os.getloadavg()[0]:.2f}"))
    table(rows, "bench_custody_http")


if __name__ == "__main__":
    main()
