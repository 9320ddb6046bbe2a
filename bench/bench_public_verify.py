"""Public verification over HTTP, with verification codes, against `kpcs serve` as it runs (BRIEF §6).

    .venv/bin/python bench/bench_public_verify.py [--certificates 300] [--seconds 10] [--clients 4]

On a fresh demo node, issues `--certificates` certificates (in-process, through the issuing service), starts
`kpcs serve` (gunicorn, cores + 1 workers, the rate limiter on but with a limit no client reaches), and for
`--seconds` fires `GET /api/v1/certificates/{number}/verification?code=…` for random certificates from
`--clients` connections. The load comes from `wrk` when it is installed (Debian's package: a C client that
leaves the two cores to the server), otherwise from as many Python client processes (`--python-clients`
forces them; they take a good share of the same cores, so the figure is lower). In the same run, as the
baseline, the same clients ask the cheapest public request of the same server (`GET /api/v1/trust-list/anchor`:
routing, middleware, rate limiter, one cached lookup, JSON), so the ratio says what verifying costs on top of
serving a request at all. Then, on one core in-process: a raw Ed25519 verify and `services.public_verification`.
Target: >= 2,000 verifications/s over HTTP on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from common import HOST, REQUEST, Server, demo_node, now, one_core, pss_kib, run_wrk, table


def client(port: int, paths: list[str], seconds: float, start: float, out: Any) -> None:
    """One client process: requests until the deadline; returns (count, errors, latencies sample)."""
    rng = random.Random(os.getpid())
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    count = errors = 0
    latencies: list[float] = []
    while time.time() < start:
        time.sleep(0.001)
    deadline = start + seconds
    while True:
        t0 = time.perf_counter()
        if time.time() >= deadline:
            break
        try:
            conn.request("GET", rng.choice(paths))
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
            if resp.will_close:
                conn.close()
        except (OSError, http.client.HTTPException):
            conn.close()
            ok = False
        count += ok
        errors += not ok
        if count % 16 == 0:
            latencies.append(time.perf_counter() - t0)
    out.put((count, errors, latencies))


def fire(port: int, paths: list[str], seconds: float, clients: int) -> tuple[float, int, float, float]:
    """Python client processes; returns (requests/s, errors, p50 and p99 latency in seconds)."""
    queue: Any = mp.Queue()
    start = time.time() + 0.5
    procs = [mp.Process(target=client, args=(port, paths, seconds, start, queue)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    total = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    latencies = sorted(x for r in results for x in r[2]) or [0.0]
    return total / seconds, errors, *(latencies[min(len(latencies) - 1, int(q * len(latencies)))] for q in (.5, .99))


def fire_wrk(port: int, paths: list[str], seconds: float, clients: int) -> tuple[float, int, float, float]:
    """The same load from wrk: one thread, `clients` connections, a random path per request (a Lua script)."""
    listed = ",".join(f'"{p}"' for p in paths)
    lua = (f"paths = {{{listed}}}\n"
           "request = function() return wrk.format('GET', paths[math.random(#paths)]) end\n")
    return run_wrk(f"http://{HOST}:{port}/", lua, seconds, clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1, help="as kpcs serve")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--python-clients", action="store_true", help="Python client processes even if wrk is here")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_clients
    load = fire_wrk if use_wrk else fire

    with demo_node(args.database_url) as (root, env):
        env = {**env, "KPCS_RATE_PUBLIC": str(10**9), "KPCS_RATE_TOKEN": str(10**9)}
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kpcs.settings")
        import django

        django.setup()
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from django.contrib.auth import get_user_model
        from django.db import connection

        from kpcs import crypto
        from kpcs.certificates import rules, services
        from kpcs.registry import services as registry

        officer = registry.actor_for_user(get_user_model().objects.get(username="bw.officer@demo.kpcs"))
        held = []
        for _ in range(args.certificates):
            cert = services.issue(officer, REQUEST)
            held.append((cert.number, rules.verification_code(crypto.signature_bytes(cert.jws))))
        connection.close()
        paths = [f"/api/v1/certificates/{quote(n)}/verification?code={c}" for n, c in held]
        print(f"{len(held)} certificates issued; serving with {args.workers} workers; {args.clients} "
              f"{'wrk connections' if use_wrk else 'Python client processes'} for {args.seconds:.0f} s per "
              "measurement", flush=True)

        server = Server(env, args.workers, Path(root) / "server.log")
        try:
            fire(server.port, paths[:20], 1.0, args.clients)  # warm-up: every worker loads its caches
            base_rate, base_errors, *_ = load(server.port, ["/api/v1/trust-list/anchor"], args.seconds,
                                                    args.clients)
            rate, errors, p50, p99 = load(server.port, paths, args.seconds, args.clients)
            pss = sum(pss_kib(pid) for pid in server.pids()) // 1024
            rss = sum(server.rss().values()) // 1024
        finally:
            server.stop()

        cert = services.get(registry.SYSTEM, held[0][0])
        head, body, sig = cert.jws.split(".")
        signing_input, signature = f"{head}.{body}".encode(), crypto.signature_bytes(cert.jws)
        private = Ed25519PrivateKey.generate()
        public_key, signed = private.public_key(), private.sign(signing_input)
        n = 3000
        with one_core():
            t0 = now()
            for _ in range(n):
                public_key.verify(signed, signing_input)
            raw = n / (now() - t0)
            t0 = now()
            for i in range(n // 3):
                number, code = held[i % len(held)]
                services.public_verification(number, code)
            in_process = (n // 3) / (now() - t0)
        assert signature  # the certificate's own signature was read the way the server reads it

    table([
        ("baseline: GET /trust-list/anchor, /s", f"{base_rate:,.0f}"),
        ("baseline errors", f"{base_errors}"),
        ("public verification over HTTP, /s", f"{rate:,.0f}"),
        ("  errors (non-200)", f"{errors}"),
        ("  latency p50 / p99", f"{p50 * 1000:.1f} ms / {p99 * 1000:.1f} ms"),
        ("load from", "wrk (1 thread)" if use_wrk else "Python client processes"),
        ("  ratio to the baseline", f"{rate / base_rate:.2f}"),
        ("  target >= 2,000/s", "met" if rate >= 2000 else "NOT met"),
        ("server memory, RSS sum / PSS sum", f"{rss} MB / {pss} MB"),
        ("in-process, one core: raw Ed25519 verify, /s", f"{raw:,.0f}"),
        ("in-process, one core: services.public_verification, /s", f"{in_process:,.0f}"),
        ("  ratio to raw verify", f"{in_process / raw:.2f}"),
        ("load average (1 min) at the end", f"{os.getloadavg()[0]:.2f}"),
    ], "bench_public_verify")


if __name__ == "__main__":
    main()
