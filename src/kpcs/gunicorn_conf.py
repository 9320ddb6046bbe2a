"""gunicorn settings for `kpcs serve`: one background worker (`kpcs worker`: statistics scans, the hourly
expiry of unused certificates) starts with the server and stops with it."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

_worker: subprocess.Popen[bytes] | None = None


def on_starting(server: Any) -> None:
    global _worker
    if os.environ.get("KPCS_SERVE_WORKER", "1") != "1":
        return
    # --parent: the worker also stops by itself if the server dies without running on_exit (SIGKILL)
    _worker = subprocess.Popen([sys.executable, "-c", "from kpcs.cli import main; main()", "worker",
                                "--parent", str(os.getpid())])


def on_exit(server: Any) -> None:
    if _worker is not None and _worker.poll() is None:
        _worker.terminate()
        try:
            _worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _worker.kill()
            _worker.wait()
