"""Helpers for end-to-end tests that drive the `kpcs` command and a real `kpcs serve` as a user would.

Every node made here has its own KPCS_DATA_DIR and its own database (a SQLite file, or a PostgreSQL database
created for the occasion), independent of the database pytest-django sets up for the other tests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

KPCS = str(Path(sys.executable).with_name("kpcs"))
HOST = "127.0.0.1"


def kpcs(env: Mapping[str, str], *args: str, input: str | None = None, timeout: float = 60,
         check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `kpcs ARGS…` with the given environment; stdin is never a terminal here."""
    proc = subprocess.run([KPCS, *args], env=dict(env), input=input if input is not None else "",
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kpcs {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def words(text: str) -> str:
    """Rich wraps long lines at the terminal width; compare messages with whitespace collapsed."""
    return " ".join(text.split())


def node_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPCS_", "DJANGO_")) and k != "COLUMNS"}
    # pytest-xdist workers inherit a COLUMNS of 80; piped CLI output is then wrapped and tables break apart.
    env.update(COLUMNS="200", KPCS_DATA_DIR=str(data_dir), KPCS_DATABASE_URL=database_url,
               KPCS_SECRET_KEY="e2e-secret-key-not-for-production",
               KPCS_RATE_PUBLIC="0", KPCS_RATE_TOKEN="0")  # load from one address; limits have their own test
    return env


def configured_engine() -> str:
    """'postgresql' or 'sqlite', from the database the test run is configured for."""
    scheme = urlsplit(os.environ.get("KPCS_DATABASE_URL", "")).scheme
    return "postgresql" if scheme.startswith("postgres") else "sqlite"


@contextlib.contextmanager
def scratch_database(data_dir: Path) -> Iterator[str]:
    """A fresh, empty database on the configured engine; dropped afterwards (PostgreSQL)."""
    if configured_engine() == "sqlite":
        yield f"sqlite:///{data_dir / 'kpcs.sqlite3'}"
        return
    import psycopg

    parts = urlsplit(os.environ["KPCS_DATABASE_URL"])
    name = f"kpcs_crash_{secrets.token_hex(4)}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def group_pids(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is `pgid`, from /proc/<pid>/stat."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, pgrp, …
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 if it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def path_of(number: str) -> str:
    return "/api/v1/certificates/" + quote(number)


class Http:
    """A small JSON client over one http.client connection (reconnects when the server closes it)."""

    def __init__(self, port: int, token: str | None = None, timeout: float = 10) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except BaseException:
            self.conn.close()
            raise
        if resp.will_close:
            self.conn.close()
        return resp.status, json.loads(raw) if raw else None

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self.request("POST", path, body)

    def close(self) -> None:
        self.conn.close()


class Server:
    """`kpcs serve` in its own process group, so that the master and its workers can be killed together."""

    def __init__(self, env: Mapping[str, str], log: Path, workers: int = 2) -> None:
        self.env = dict(env)
        self.log = log
        self.workers = workers
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgid = 0

    def start(self, tries: int = 150, interval: float = 0.1) -> None:
        """Start and wait (bounded) until GET /api/v1/participants answers 200."""
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [KPCS, "serve", "--host", HOST, "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.pgid = self.proc.pid
        for _ in range(tries):
            if self.proc.poll() is not None:
                raise AssertionError(f"kpcs serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
            client = Http(self.port, timeout=2)
            try:
                status, _ = client.get("/api/v1/participants")
                if status == 200:
                    return
            except OSError:
                pass
            finally:
                client.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=interval)  # the poll interval; returns early if the server died
        self.stop()
        raise AssertionError(f"kpcs serve did not answer within {tries} tries:\n{self.log.read_text()}")

    def pids(self) -> list[int]:
        """The live processes of the server's group (master and workers), read from /proc."""
        return group_pids(self.pgid) if self.pgid else []

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handlers, no flush, no graceful anything."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:  # orphaned workers die a moment later; bounded
            time.sleep(0.02)
        self.proc = None

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the group), then SIGKILL if it lingers."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


def certificate_request(licence: str = "BW-EXP-0001", importing: str = "EU", origin: str = "BW") -> dict[str, Any]:
    """The README's shipment from Botswana to the European Union."""
    return {
        "importing_participant": importing,
        "exporter": {"licence": licence},
        "importer": {"name": "Y BV", "address": "Hoveniersstraat 22, Antwerp"},
        "origin": origin,
        "lines": [{"hs_code": "7102.31", "carats": "1250.40", "value_usd": "1875600.00", "parcels": 3},
                  {"hs_code": "7102.21", "carats": "400.00", "value_usd": "12000.00", "parcels": 1}],
    }
