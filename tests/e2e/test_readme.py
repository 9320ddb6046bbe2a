"""The README's "Try it" block, run as written against a demo node served by `kpcs serve`, on any day."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import Server, kpcs, node_env, scratch_database

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def try_it_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Try it"):]
    section = section[:section.index("\n## ", 1)]
    lines = [line[4:] for line in section.splitlines() if line.startswith("    ") or not line.strip()]
    return "\n".join(lines).strip() + "\n"


def test_the_try_it_block_runs_as_written(tmp_path: Path) -> None:
    block = try_it_block()
    assert "kpcs certificate verify" in block and not re.search(r"20\d\d-\d\d-\d\d", block)  # no typed dates
    with scratch_database(tmp_path) as url:
        env = node_env(tmp_path / "data", url)
        demo = kpcs(env, "demo", timeout=300, check=True)
        assert "http://127.0.0.1:8000/login/" in demo.stdout  # the banner names where serve will answer
        server = Server(env, tmp_path / "server.log", workers=2)
        again = kpcs({**env, "KPCS_PORT": str(server.port)}, "demo", timeout=300, check=True)
        assert f"http://127.0.0.1:{server.port}/login/" in again.stdout  # as scripts/run.sh passes it on
        (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])  # `source .venv/bin/activate`
        server.start()
        try:
            run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=tmp_path, text=True,
                                 capture_output=True, timeout=180,
                                 env={**env, "KPCS_URL": f"http://127.0.0.1:{server.port}",
                                      "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                                      "VIRTUAL_ENV_DISABLE_PROMPT": "1"})
        finally:
            server.stop()
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert '"genuine": true' in out and '"usable": true' in out
    assert "verification_code_required" in out
    assert '"status": "confirmed"' in out
    assert "GENUINE" in out and "NOT GENUINE" not in out
    assert "audit chain intact" in out or "intact" in out
    # the scan started over the API was run by the worker `kpcs serve` started beside the server
    assert re.search(r'"status": ?"succeeded"', out) and re.search(r'"phase": ?"done"', out), out
