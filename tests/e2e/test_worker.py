"""`kpcs serve` runs one `kpcs worker` beside the server and stops it with the server, gracefully (SIGTERM to the
master only: gunicorn's on_exit stops the worker) or not (SIGKILL of the master: the worker notices its parent
is gone and exits)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
from pathlib import Path

import pytest

from tests.e2e.support import Server, kpcs, node_env, scratch_database

pytestmark = pytest.mark.slow


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return ""


def worker_of(server: Server) -> int:
    [pid] = [p for p in server.pids() if " worker --parent " in cmdline(p)]
    return pid


def gone(pid: int, timeout: float = 20) -> bool:
    """Whether `pid` exits within `timeout` seconds: a pidfd becomes readable when its process ends (no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _w, _x = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_the_worker_starts_and_stops_with_the_server(tmp_path: Path, stop: signal.Signals) -> None:
    with scratch_database(tmp_path) as url:
        env = node_env(tmp_path / "data", url)
        kpcs(env, "init", timeout=120, check=True)
        server = Server(env, tmp_path / "server.log", workers=1)
        server.start()
        try:
            worker = worker_of(server)
            assert server.proc is not None
            os.kill(server.proc.pid, stop)  # the master only, not its process group
            assert gone(worker), f"the worker outlived the server:\n{server.log.read_text()}"
        finally:
            server.stop()
    assert "kpcs worker: running jobs" in server.log.read_text()
