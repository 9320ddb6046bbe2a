"""BRIEF §7: killed with SIGKILL under load, the node loses nothing it acknowledged.

A real `kpcs serve` (gunicorn, 2 workers) on its own data directory and database — a SQLite file, or a
PostgreSQL database created for this test when the run is configured for PostgreSQL — takes certificate
issues from several client threads. While requests are in flight the whole process group is SIGKILLed,
twice. After a restart: every number acknowledged with 201 exists and verifies (online and offline against
the exported trust list), no number was handed out twice, Botswana's serials have no gap, numbering carries
on after the last one, and the audit chain verifies.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    Http,
    Server,
    certificate_request,
    configured_engine,
    kpcs,
    node_env,
    path_of,
    scratch_database,
)

# Durability and gap-free numbering rest on the engine (SQLite WAL + synchronous=FULL + IMMEDIATE transactions;
# PostgreSQL row locks and WAL): this one runs on every engine.
pytestmark = [pytest.mark.slow, pytest.mark.every_engine]

CLIENTS = 8  # client threads, against 2 workers: there is always a queue of requests in flight
MAX_REQUESTS_PER_CLIENT = 400
ROUNDS = 2  # kill, restart, load again, kill again
LOAD_DEADLINE_S = 15.0


class Load:
    """Client threads issuing certificates until the server dies under them."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.lock = threading.Lock()
        self.acked: list[str] = []
        self.unexpected: list[tuple[int, Any]] = []
        self.in_flight = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]

    def _client(self) -> None:
        client = Http(self.port, self.token, timeout=20)
        try:
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if self.stop.is_set():
                    return
                with self.lock:
                    self.in_flight += 1
                try:
                    status, body = client.post("/api/v1/certificates", certificate_request())
                except (OSError, http.client.HTTPException, ValueError):
                    return  # the server died under this request: it was never acknowledged
                finally:
                    with self.lock:
                        self.in_flight -= 1
                with self.lock:
                    if status == 201:
                        self.acked.append(body["number"])
                    else:
                        self.unexpected.append((status, body))
                        return
        finally:
            client.close()

    def run_until_killed(self, server: Server, kill_after: int) -> int:
        """Start the clients; once `kill_after` numbers are acknowledged and requests are in flight,
        SIGKILL the server's process group. Returns how many requests were in flight at the kill."""
        for t in self.threads:
            t.start()
        deadline = time.monotonic() + LOAD_DEADLINE_S
        in_flight = 0
        while time.monotonic() < deadline:
            with self.lock:
                ready = len(self.acked) >= kill_after and self.in_flight > 0
                in_flight = self.in_flight
                failed = bool(self.unexpected)
            if ready:
                server.kill()
                break
            if failed or not any(t.is_alive() for t in self.threads):
                break
            time.sleep(0.002)  # poll interval of a bounded wait
        else:
            server.kill()
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "client threads did not finish after the kill"
        return in_flight


def _all_pages(client: Http, path: str, limit: int = 500, max_pages: int = 50) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    sep = "&" if "?" in path else "?"
    for page in range(max_pages):
        status, body = client.get(f"{path}{sep}limit={limit}&offset={page * limit}")
        assert status == 200, body
        items += body["items"]
        if len(items) >= body["count"] or not body["items"]:
            return items
    raise AssertionError(f"{path}: more than {max_pages} pages")


def test_acknowledged_certificates_survive_sigkill(tmp_path: Path) -> None:
    from kpcs.certificates import rules
    from kpcs.registry import rules as registry_rules

    rng = random.Random()
    seed = rng.randrange(1_000_000)
    rng.seed(seed)
    print(f"engine {configured_engine()}, seed {seed}")

    with scratch_database(tmp_path) as database_url:
        env = node_env(tmp_path, database_url)
        kpcs(env, "init", check=True, timeout=120)
        kpcs(env, "demo", check=True, timeout=180)
        bw_token = kpcs(env, "token", "create", "bw.officer@demo.kpcs", check=True).stdout.strip()
        analyst_token = kpcs(env, "token", "create", "analyst@demo.kpcs", check=True).stdout.strip()
        server = Server(env, tmp_path / "serve.log", workers=2)
        acked: list[str] = []
        try:
            for round_no in range(ROUNDS):
                server.start()
                load = Load(server.port, bw_token)
                kill_after = rng.randrange(15, 60)
                in_flight = load.run_until_killed(server, kill_after)
                assert not load.unexpected, f"round {round_no}: answers other than 201: {load.unexpected[:3]}"
                assert len(load.acked) >= kill_after, (
                    f"round {round_no}: only {len(load.acked)} certificates acknowledged in {LOAD_DEADLINE_S}s")
                assert in_flight > 0, f"round {round_no}: the kill did not land while requests were in flight"
                print(f"round {round_no}: {len(load.acked)} acknowledged, killed with {in_flight} in flight")
                acked += load.acked

            assert len(acked) == len(set(acked)), "a number was acknowledged twice"

            server.start()
            officer = Http(server.port, bw_token)
            public = Http(server.port)
            analyst = Http(server.port, analyst_token)

            # Every acknowledged certificate is there and genuine, by the node's own public check.
            for number in acked:
                status, held = officer.get(path_of(number))  # the officer holds it, with its printed code
                assert status == 200, (number, held)
                status, body = public.get(path_of(number) + "/verification?code=" + held["verification_code"])
                assert status == 200, (number, body)
                assert body["number"] == number
                assert body["genuine"] is True, (number, body["reasons"])

            # Numbering carries on after the crash, from the last number actually used.
            status, body = officer.post("/api/v1/certificates", certificate_request())
            assert status == 201, body
            after_restart = body["number"]

            # Gap-free, never reused: BW's serials are exactly 1..n, and each was issued once in the audit log.
            issued = [c for c in _all_pages(officer, "/api/v1/certificates?side=export&participant=BW")
                      if c["number"].startswith("BW ")]
            numbers = [c["number"] for c in issued]
            assert len(numbers) == len(set(numbers))
            serials = sorted(int(n.split()[1]) for n in numbers)
            assert serials == list(range(1, len(serials) + 1)), "BW serials have a gap"
            assert set(acked) <= set(numbers)
            assert after_restart == rules.format_number("BW", serials[-1])

            audit = _all_pages(analyst, "/api/v1/audit?object_type=certificate")
            audited = [e["object_id"] for e in audit
                       if e["action"] == "certificate.issued" and e["object_id"].startswith("BW ")]
            assert sorted(audited) == sorted(numbers), "audit log and certificates disagree"

            # Offline: each stored certificate (acknowledged or caught in flight) verifies against the trust list.
            status, trust_doc = public.get("/api/v1/trust-list")
            assert status == 200
            status, anchor = public.get("/api/v1/trust-list/anchor")
            assert status == 200
            keys = registry_rules.check_trust_list(trust_doc, anchor["anchor"]).keys
            for cert in issued:
                result = rules.verify_signed(cert["jws"], keys.get)
                assert result.genuine, (cert["number"], result.reasons)
                assert result.payload["number"] == cert["number"]
            for client in (officer, public, analyst):
                client.close()
        finally:
            server.stop()

        # And with the command line, as an importing authority would, from exported files.
        kpcs(env, "trust-list", "export", str(tmp_path / "trust-list.json"), check=True)
        jws_file = tmp_path / "last.jws"
        jws_file.write_text(next(c["jws"] for c in issued if c["number"] == acked[-1]))
        verified = kpcs(env, "certificate", "verify", str(jws_file), "--trust-list",
                        str(tmp_path / "trust-list.json"), "--anchor", anchor["anchor"])
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "GENUINE" in verified.stdout

        chain = kpcs(env, "audit", "verify")
        assert chain.returncode == 0, chain.stdout + chain.stderr
        assert "audit chain intact" in chain.stdout
        # The trust list on disk is the same document the server handed out (same keys).
        exported = json.loads((tmp_path / "trust-list.json").read_text())
        assert {k["kid"] for k in exported["trust_list"]["keys"]} == set(keys)
