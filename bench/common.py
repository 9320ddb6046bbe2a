"""Shared plumbing for the benchmarks: a throw-away node, `kpcs serve` in its own process group, RSS."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout root: share the e2e helpers
from tests.e2e.support import free_port, group_pids, rss_kib  # noqa: E402

KPCS = str(Path(sys.executable).with_name("kpcs"))
HOST = "127.0.0.1"

REQUEST: dict[str, Any] = {  # the README's shipment from Botswana to the European Union
    "importing_participant": "EU",
    "exporter": {"licence": "BW-EXP-0001"},
    "importer": {"name": "Y BV", "address": "Hoveniersstraat 22, Antwerp"},
    "origin": "BW",
    "lines": [{"hs_code": "7102.31", "carats": "1250.40", "value_usd": "1875600.00", "parcels": 3},
              {"hs_code": "7102.21", "carats": "400.00", "value_usd": "12000.00", "parcels": 1}],
}


def kpcs(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    proc = subprocess.run([KPCS, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"kpcs {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@contextlib.contextmanager
def demo_node(database_url: str | None = None, keep: bool = False) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh data directory (and SQLite file unless a database URL is given) with `kpcs demo` loaded."""
    root = Path(tempfile.mkdtemp(prefix="kpcs-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPCS_", "DJANGO_"))}
    env.update(KPCS_DATA_DIR=str(root), KPCS_DATABASE_URL=database_url or f"sqlite:///{root / 'kpcs.sqlite3'}",
               KPCS_SECRET_KEY="bench-secret-key-not-for-production")
    try:
        kpcs(env, "init")
        kpcs(env, "demo")
        yield root, env
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split between the processes that share them (0 if unknown)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.port = free_port()
        with log.open("ab") as fh:
            self.proc = subprocess.Popen([KPCS, "serve", "--host", HOST, "--port", str(self.port),
                                          "--workers", str(workers)], env=env, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.log = log
        for _ in range(300):
            if self.proc.poll() is not None:
                raise SystemExit(f"kpcs serve exited:\n{log.read_text()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/api/v1/participants")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=0.1)
        self.stop()
        raise SystemExit(f"kpcs serve did not answer:\n{log.read_text()}")

    def pids(self) -> list[int]:
        return group_pids(self.proc.pid)

    def rss(self) -> dict[int, int]:
        return {pid: rss_kib(pid) for pid in self.pids()}

    def pss(self) -> dict[int, int]:
        return {pid: pss_kib(pid) for pid in self.pids()}

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


def post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One request on a kept-alive connection; reopened transparently when the server closes it."""
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.will_close:
        conn.close()
    return resp.status, data


def table(rows: list[tuple[str, str]], title: str) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print("-" * (width + 22))
    for name, value in rows:
        print(f"{name:<{width}}  {value:>18}")
    print("-" * (width + 22))


def one_core() -> contextlib.AbstractContextManager[None]:
    """Pin the current process to one CPU for the duration (a 'one core' measurement)."""
    @contextlib.contextmanager
    def pinned() -> Iterator[None]:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(before)})
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)
    return pinned()


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def now() -> float:
    return time.perf_counter()


WRK_PERCENTILES = ("done = function(summary, latency, requests)\n"
                   "  io.write(string.format('P50 %d\\nP99 %d\\n', latency:percentile(50), "
                   "latency:percentile(99)))\nend\n")


def run_wrk(url: str, lua: str, seconds: float, clients: int) -> tuple[float, int, float, float]:
    """wrk with one thread and `clients` connections on `url` for `seconds`, the Lua script `lua` (requests, headers,
    body) followed by one printing the p50 and p99. Returns (successful requests per second, errors: non-2xx/3xx
    answers and socket errors, p50 s, p99 s)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + WRK_PERCENTILES)
    try:
        proc = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "-s", script.name, url],
                              capture_output=True, text=True, check=True)
    finally:
        os.unlink(script.name)
    text = proc.stdout
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, failed.groups())) if failed else 0)
    p50, p99 = (int(re.search(rf"{k} (\d+)", text).group(1)) / 1e6 for k in ("P50", "P99"))  # type: ignore[union-attr]
    return (total - errors) / seconds, errors, p50, p99
