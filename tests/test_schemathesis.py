"""BRIEF §7, bad input: schemathesis over the whole OpenAPI document, as every role of the demo and anonymously,
with every check it has (`--checks all`): no 5xx, no undeclared status, no response outside its schema, no
schema-violating request accepted, no conforming request refused as invalid input.

It drives a real `kpcs serve` (gunicorn, the whole middleware stack, the HTTP server's own limits) on a node of
its own loaded by `kpcs demo`, on a scratch database of the configured engine, with the repository's
`schemathesis.toml` (its narrowed check is explained there and in docs/decisions.md), bounded to MAX_EXAMPLES
generated cases per operation and phase so that CI stays quick. `schemathesis run URL --checks all` against
`kpcs serve` runs the same configuration without the bound (README, "Fuzzing the API").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Server, kpcs, node_env, scratch_database

# Run once, on PostgreSQL: the stricter engine also turns an undeclared length or range into a database error
# (a 500) where SQLite would store anything.
pytestmark = [pytest.mark.slow, pytest.mark.once_on_postgresql]

ROOT = Path(__file__).resolve().parent.parent
MAX_EXAMPLES = int(os.environ.get("KPCS_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("KPCS_FUZZ_SEED", "20261201"))
# Every kind of caller of the demo: an officer of one participant (exporting, importing, statistics), an EU
# officer (the regional organisation's authority), the KP analyst, the Working Group on Statistics, the
# secretariat, the KP Chair, a delegate, and nobody.
ROLES = ("bw.officer@demo.kpcs", "eu.officer@demo.kpcs", "analyst@demo.kpcs", "wgs@demo.kpcs", "admin@demo.kpcs",
         "chair@demo.kpcs", "bw.delegate@demo.kpcs", None)
# Generation phases; the stateful phase chains operations through links the document does not declare.
PHASES = ["examples", "coverage", "fuzzing"]


@pytest.fixture
def demo_node(tmp_path: Path) -> Iterator[tuple[Server, dict[str | None, str | None]]]:
    """`kpcs demo` on a node of its own, served by `kpcs serve`; a token for every role."""
    with scratch_database(tmp_path) as database_url:
        env = node_env(tmp_path, database_url)
        kpcs(env, "demo", check=True, timeout=600)
        tokens: dict[str | None, str | None] = {
            who: kpcs(env, "token", "create", who, check=True).stdout.strip() if who else None for who in ROLES}
        server = Server(env, tmp_path / "serve.log", workers=2)
        server.start()
        try:
            yield server, tokens
        finally:
            server.stop()


def _fuzz(base_url: str, token: str | None) -> list[str]:
    """Run the schemathesis engine as the CLI does; return one line per failure (with a curl to replay it)."""
    import schemathesis
    from schemathesis.engine import Status, events, from_schema

    config = schemathesis.Config.from_path(ROOT / "schemathesis.toml")
    config.update(seed=SEED, max_failures=None)
    project = config.projects.override
    project.update(headers={"Authorization": f"Bearer {token}"} if token else {}, workers=1)
    project.phases.update(phases=PHASES)
    project.generation.update(max_examples=MAX_EXAMPLES, database="none")
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", config=config)
    found: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: error: {event.value!r}")
        elif isinstance(event, events.FatalError):
            found.append(f"fatal error: {event.exception!r}")
        elif isinstance(event, events.ScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        found.append(f"{failure.operation}: {check.name}: {failure.title}\n  {failure.message}\n"
                                     f"  {check.failure_info.code_sample}")
    return sorted(set(found))


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        demo_node: tuple[Server, dict[str | None, str | None]]) -> None:
    server, tokens = demo_node
    base_url = f"http://127.0.0.1:{server.port}"
    failures = [f"[{who or 'anonymous'}] {line}" for who, token in tokens.items() for line in _fuzz(base_url, token)]
    log = server.log.read_text(errors="replace")
    if "Traceback" in log or "unhandled error" in log:
        failures.append("the server logged an unexpected error:\n" + log[-3000:])
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures)
