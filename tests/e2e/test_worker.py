"""`kpcs serve` runs one `kpcs worker` beside the server and stops it with the server, gracefully (SIGTERM to the
master only: gunicorn's on_exit stops the worker) or not (SIGKILL of the master: the worker notices its parent
is gone and exits)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
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


def gone(pid: int, proc: subprocess.Popen[bytes], tries: int = 200) -> bool:
    """Bounded wait (the server process's own wait is the clock) until `pid` has exited."""
    for _ in range(tries):
        if not cmdline(pid):
            return True
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.1)
    return not cmdline(pid)


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
            assert gone(worker, server.proc), f"the worker outlived the server:\n{server.log.read_text()}"
        finally:
            server.stop()
    assert "kpcs worker: running jobs" in server.log.read_text()
