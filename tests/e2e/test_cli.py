"""The `kpcs` command as a user meets it: real subprocesses on a node of their own.

One node (data directory + SQLite file, independent of the pytest database) is initialised for the module;
each test runs commands against it the way the README describes. No test here needs `django_db`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import KPCS, certificate_request, free_port, kpcs, node_env, words

pytestmark = pytest.mark.slow  # its node is a SQLite file of its own, whatever the run's engine: run once

PASSWORD = "a-long-enough-password"
KEY_LINE = re.compile(r"(\S+#\S+)\s+(active|retired|revoked|pending)\b")


@dataclass
class Node:
    root: Path
    env: dict[str, str]
    database: Path
    first_init: Any
    second_init: Any
    demo: Any

    def run(self, *args: str, input: str | None = None, timeout: float = 60) -> Any:
        return kpcs(self.env, *args, input=input, timeout=timeout)

    def ok(self, *args: str, input: str | None = None) -> Any:
        proc = self.run(*args, input=input)
        assert proc.returncode == 0, f"kpcs {' '.join(args)}: {proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc

    def refused(self, *args: str, input: str | None = None) -> str:
        """Run a command that must fail cleanly; return its message (stdout+stderr, whitespace collapsed)."""
        proc = self.run(*args, input=input)
        assert proc.returncode != 0, f"kpcs {' '.join(args)} should have failed: {proc.stdout}"
        assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
        return words(proc.stdout + proc.stderr)

    def run_all(self, *commands: tuple[str, ...]) -> list[Any]:
        """Several independent commands at once (separate processes that write nothing)."""
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            return list(pool.map(lambda args: self.run(*args), commands))

    def refusals(self, *commands: tuple[str, ...]) -> list[str]:
        """Several independent refusals at once; each must fail cleanly. Returns their messages."""
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            return list(pool.map(lambda args: self.refused(*args), commands))

    def anchor(self) -> str:
        return str(self.ok("trust-list", "anchor").stdout.strip())

    def keys(self, authority: str) -> dict[str, str]:
        return dict(KEY_LINE.findall(self.ok("keys", "list", "--authority", authority).stdout))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Node:
    root = tmp_path_factory.mktemp("kpcs-cli")
    database = root / "kpcs.sqlite3"
    env = node_env(root / "data", f"sqlite:///{database}")
    first = kpcs(env, "init", timeout=120)
    second = kpcs(env, "init", timeout=120)
    # Operators (licences) have no CLI of their own yet; the demo registers <CODE>-EXP-0001 for us.
    demo = kpcs(env, "demo", timeout=180, check=True)
    return Node(root, env, database, first, second, demo)


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_help_names_the_commands(node: Node) -> None:
    out = node.ok("--help").stdout
    for command in ("init", "demo", "serve", "user", "token", "keys", "certificate", "audit", "trust-list"):
        assert command in out


def test_init_creates_the_database_and_is_idempotent(node: Node) -> None:
    assert node.first_init.returncode == 0, node.first_init.stderr
    assert node.database.exists()
    first = words(node.first_init.stdout)
    assert "database ready" in first and "participants +0" not in first
    assert node.second_init.returncode == 0, node.second_init.stderr
    assert "participants +0, authorities +0" in words(node.second_init.stdout)
    assert node.first_init.stderr.count("Traceback") == node.second_init.stderr.count("Traceback") == 0
    # ... and once more now that the demo data is loaded: nothing changes, nothing breaks.
    assert "participants +0, authorities +0" in words(node.ok("init").stdout)


def test_serve_refuses_an_uninitialised_database(node: Node, tmp_path: Path) -> None:
    env = node_env(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    proc = kpcs(env, "serve", "--port", str(free_port()), timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "kpcs init" in words(proc.stderr)


def test_user_create_roles_and_tokens(node: Node) -> None:
    email = "alice@cli.kpcs"
    created = node.ok("user", "create", email, "--role", "exporting_officer", "--participant", "BW",
                      input=PASSWORD + "\n")
    assert f"{email}: exporting_officer for BW through BW-KPA" in words(created.stdout)

    # An existing user gets a second role without being asked for a password (stdin is empty).
    added = node.ok("user", "create", email, "--role", "importing_officer", "--participant", "bw", input="")
    assert f"{email}: importing_officer for BW through BW-KPA" in words(added.stdout)

    # Refusals are one clear line, never a traceback.
    bad_role, unknown_participant, no_participant, no_user = node.refusals(
        ("user", "create", email, "--role", "chief", "--participant", "BW"),
        ("user", "create", email, "--role", "exporting_officer", "--participant", "XX"),
        ("user", "create", email, "--role", "statistics_officer"),
        ("token", "create", "nobody@cli.kpcs"))
    assert "role must be one of" in bad_role
    assert "XX" in unknown_participant
    assert "needs --participant" in no_participant
    assert "no user" in no_user
    assert "role must be one of" in node.refused("user", "create", "new@cli.kpcs", "--role", "superuser",
                                                 input=PASSWORD + "\n")
    assert "too short" in node.refused("user", "create", "short@cli.kpcs", "--role", "kp_analyst",
                                       input="short\n")

    # A token is printed once, alone on its line, so that `TOKEN=$(kpcs token create …)` works.
    proc = node.ok("token", "create", email, "--name", "ci")
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpcs_") and lines[0] == proc.stdout.strip()
    assert len(lines[0]) > 30 and " " not in lines[0]
    assert node.ok("token", "create", email).stdout.strip() != lines[0]


def test_keys_create_rotate_revoke_list(node: Node) -> None:
    authority = "NA-KPA"  # the demo gave it one key
    before = node.keys(authority)
    assert list(before.values()) == ["active"]

    created = node.ok("keys", "create", "--authority", authority).stdout
    new_kid = re.search(r"created (\S+#\S+)", created).group(1)  # type: ignore[union-attr]
    assert new_kid.startswith(f"{authority}#")
    assert node.keys(authority) == {**before, new_kid: "active"}

    rotated = node.ok("keys", "rotate", "--authority", authority).stdout
    newest = re.search(r"new key (\S+#\S+)", rotated).group(1)  # type: ignore[union-attr]
    after = node.keys(authority)
    assert after[newest] == "active"
    assert {kid: after[kid] for kid in (*before, new_kid)} == {**dict.fromkeys(before, "retired"),
                                                                  new_kid: "retired"}

    revoked = node.ok("keys", "revoke", newest, "--reason", "laptop lost").stdout
    assert f"revoked {newest}" in words(revoked)
    again, unknown, bad_time, nothing_named, bad_authority = node.refusals(
        ("keys", "revoke", newest, "--reason", "again"),
        ("keys", "revoke", "NA-KPA#doesnotexist", "--reason", "x"),
        ("keys", "revoke", new_kid, "--reason", "x", "--at", "yesterday-ish"),
        ("keys", "create"),
        ("keys", "create", "--authority", "XX-NOPE"))
    assert "already revoked" in again
    assert "no key" in unknown
    assert "ISO" in bad_time
    assert "--authority" in nothing_named
    assert "no authority" in bad_authority

    listed = node.ok("keys", "list").stdout  # every authority, and the node's own key
    assert "node#" in listed
    statuses = dict(KEY_LINE.findall(listed))
    assert statuses[newest] == "revoked"
    assert statuses[new_kid] == "retired"  # the refused revocation changed nothing


TOKEN_ROW = re.compile(r"(kpcs_\S+)\s+(\S+)\s+(\S+ \S+)\s+(-|\S+ \S+)\s+(\S+ \S+)\s+(active|expired|revoked)")


def _token_rows(node: Node, email: str) -> dict[str, dict[str, str]]:
    """`kpcs token list` rows by prefix (names without spaces): name, created, last_used, expires, status."""
    listed = node.ok("token", "list", email).stdout
    rows = {}
    for line in listed.splitlines():
        found = TOKEN_ROW.search(line)
        if found:
            prefix, *values = found.groups()
            rows[prefix] = dict(zip(("name", "created", "last_used", "expires", "status"), values, strict=True))
    return rows


def _audit(node: Node, action: str, object_id: str | None = None) -> list[tuple[str, str]]:
    with sqlite3.connect(node.database) as db:
        rows = db.execute("SELECT actor, object_id FROM audit_auditentry WHERE action = ? ORDER BY seq",
                          (action,)).fetchall()
    return [(a, o) for a, o in rows if object_id is None or o == object_id]


def test_tokens_expire_list_and_revoke(node: Node) -> None:
    email = "machine@cli.kpcs"
    node.ok("user", "create", email, "--role", "importing_officer", "--participant", "EU", input=PASSWORD + "\n")
    ci = node.ok("token", "create", email, "--name", "ci", "--days", "30").stdout.strip()
    backup = node.ok("token", "create", email, "--name", "backup").stdout.strip()
    rows = _token_rows(node, email)
    assert set(rows) == {ci[:12], backup[:12]}
    assert rows[ci[:12]]["name"] == "ci" and rows[ci[:12]]["status"] == "active"
    assert rows[ci[:12]]["last_used"] == "-"
    assert ci not in node.ok("token", "list", email).stdout  # never the token itself
    for token, days in ((ci, 30), (backup, 90)):
        created, expires = (dt.datetime.fromisoformat(rows[token[:12]][k]) for k in ("created", "expires"))
        assert expires - created == dt.timedelta(days=days)

    too_long, never, too_short, unknown, nobody = node.refusals(
        ("token", "create", email, "--days", "366"), ("token", "create", email, "--days", "0"),
        ("token", "revoke", "kpcs_"), ("token", "revoke", "kpcs_nothing"), ("token", "list", "nobody@cli.kpcs"))
    assert "1 to 365 days" in too_long and "1 to 365 days" in never
    assert "at least its first 8 characters" in too_short
    assert "no token starts with" in unknown and "no user" in nobody

    revoked = node.ok("token", "revoke", ci[:12] + "…", "--reason", "pipeline retired").stdout
    assert f"revoked token {ci[:12]} (ci) of {email}" in words(revoked)
    rows = _token_rows(node, email)
    assert rows[ci[:12]]["status"] == "revoked" and rows[backup[:12]]["status"] == "active"
    assert "already revoked" in node.refused("token", "revoke", ci[:12])
    with sqlite3.connect(node.database) as db:
        token_id, revoked_at = db.execute("SELECT id, revoked_at FROM registry_apitoken WHERE prefix = ?",
                                          (ci[:12],)).fetchone()
    assert revoked_at is not None
    (actor, _), = _audit(node, "token.revoked", str(token_id))
    assert actor.startswith("cli:")

    # Two tokens named by the same characters: refused, with the count, and neither is revoked.
    third = node.ok("token", "create", email, "--name", "third").stdout.strip()
    with sqlite3.connect(node.database) as db:
        db.execute("UPDATE registry_apitoken SET prefix = 'kpcs_DUP' || id WHERE prefix IN (?, ?)",
                   (backup[:12], third[:12]))
    assert "2 tokens start with 'kpcs_DUP'" in node.refused("token", "revoke", "kpcs_DUP")
    assert [r["status"] for p, r in _token_rows(node, email).items() if p.startswith("kpcs_DUP")] == ["active"] * 2
    with sqlite3.connect(node.database) as db:  # put back what was changed behind the log's back
        for token in (backup, third):
            db.execute("UPDATE registry_apitoken SET prefix = ? WHERE token_hash = ?",
                       (token[:12], hashlib.sha256(token.encode()).hexdigest()))
    assert node.ok("audit", "verify").returncode == 0


def test_deactivate_and_reactivate_a_person(node: Node) -> None:
    email = "leaver@cli.kpcs"
    node.ok("user", "create", email, "--role", "statistics_officer", "--participant", "NA", input=PASSWORD + "\n")
    for name in ("a", "b"):
        node.ok("token", "create", email, "--name", name)
    done = node.ok("user", "deactivate", email, "--reason", "left the authority").stdout
    assert f"{email} deactivated: 0 session(s) ended, 2 token(s) revoked" in words(done)
    assert {r["status"] for r in _token_rows(node, email).values()} == {"revoked"}
    (actor, _), = _audit(node, "user.deactivated", email)
    assert actor.startswith("cli:") and len(_audit(node, "token.revoked")) >= 2
    with sqlite3.connect(node.database) as db:
        assert db.execute("SELECT is_active FROM auth_user WHERE username = ?", (email,)).fetchone() == (0,)

    again, no_token, no_link, nobody = node.refusals(
        ("user", "deactivate", email), ("token", "create", email), ("user", "reset-password", email),
        ("user", "deactivate", "nobody@cli.kpcs"))
    assert "already deactivated" in again and "deactivated" in no_token and "deactivated" in no_link
    assert "no user" in nobody

    assert "earlier API tokens stay revoked" in words(node.ok("user", "reactivate", email).stdout)
    assert {r["status"] for r in _token_rows(node, email).values()} == {"revoked"}
    assert "is active" in node.refused("user", "reactivate", email)
    assert len(_audit(node, "user.reactivated", email)) == 1
    assert node.ok("audit", "verify").returncode == 0


def test_reset_password_prints_a_one_time_link_and_create_keeps_passwords(node: Node) -> None:
    email = "forgetful@cli.kpcs"
    node.ok("user", "create", email, "--role", "kp_analyst", input=PASSWORD + "\n")
    with sqlite3.connect(node.database) as db:
        (before,) = db.execute("SELECT password FROM auth_user WHERE username = ?", (email,)).fetchone()
    # Adding a role to an existing account reads no password and changes none.
    node.ok("user", "create", email, "--role", "admin", input="another-long-password\n")
    with sqlite3.connect(node.database) as db:
        (after,) = db.execute("SELECT password FROM auth_user WHERE username = ?", (email,)).fetchone()
    assert after == before

    proc = node.ok("user", "reset-password", email, "--base-url", "https://kp.example.org/")
    (link,) = proc.stdout.split()
    assert re.fullmatch(r"https://kp\.example\.org/password-reset/[\w-]+/[\w-]+/", link)
    assert "one-time link" in words(proc.stderr)
    env_link = kpcs({**node.env, "KPCS_BASE_URL": "https://node.example"}, "user", "reset-password", email,
                    check=True).stdout.strip()
    assert env_link.startswith("https://node.example/password-reset/")
    assert [a for a, _ in _audit(node, "user.password_reset_requested", email)] != []
    assert "no user" in node.refused("user", "reset-password", "nobody@cli.kpcs")


def test_the_demo_makes_no_superuser_and_refuses_a_node_with_real_accounts(node: Node) -> None:
    with sqlite3.connect(node.database) as db:
        assert db.execute("SELECT count(*) FROM auth_user WHERE is_superuser OR is_staff").fetchone() == (0,)
    assert "superuser" not in words(node.demo.stdout).replace("not a Django superuser", "")
    node.ok("user", "create", "real.person@cli.kpcs", "--role", "kp_analyst", input=PASSWORD + "\n")
    refused = node.refused("demo")
    assert "accounts the demo did not make" in refused and "@cli.kpcs" in refused


def _flip(token: str, part: int) -> str:
    """Change one character in the middle of a JWS part (0 header, 1 payload, 2 signature)."""
    parts = token.split(".")
    i = len(parts[part]) // 2
    parts[part] = parts[part][:i] + ("B" if parts[part][i] == "A" else "A") + parts[part][i + 1:]
    return ".".join(parts)


def _with_payload(token: str, change: dict[str, Any]) -> str:
    """Same header and signature, a payload that still decodes but says something else."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(change)
    encoded = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return ".".join((head, encoded.decode().rstrip("="), sig))


def test_issue_show_and_verify_offline(node: Node, tmp_path: Path) -> None:
    email = "issuer@cli.kpcs"
    node.ok("user", "create", email, "--role", "exporting_officer", "--participant", "BW", input=PASSWORD + "\n")
    request = write_json(tmp_path / "request.json", certificate_request())

    issued = json.loads(node.ok("certificate", "issue", "--file", str(request), "--user", email).stdout)
    number = issued["number"]
    assert re.fullmatch(r"BW \d{7}", number)
    assert issued["status"] == "issued" and issued["totals"] == {"carats": "1650.40", "value_usd": "1887600.00",
                                                                  "parcels": 4}

    shown = json.loads(node.ok("certificate", "show", number.replace(" ", "")).stdout)
    assert shown["number"] == number and shown["jws"] == issued["jws"]

    trust_list = tmp_path / "trust-list.json"
    assert "wrote trust list" in node.ok("trust-list", "export", str(trust_list)).stdout
    assert json.loads(trust_list.read_text())["trust_list"]["type"] == "kpcs-trust-list"
    anchor = ("--anchor", node.anchor())

    jws = tmp_path / "cert.jws"
    jws.write_text(issued["jws"] + "\n")
    shown_file = tmp_path / "shown.json"  # the JSON printed by `certificate show` holds "jws": accepted too
    shown_file.write_text(json.dumps(shown))
    forgeries = {"flipped payload character": _flip(issued["jws"], 1),
                 "flipped signature character": _flip(issued["jws"], 2),
                 "re-encoded payload with other carats": _with_payload(
                     issued["jws"], {"totals": {"carats": "16.40", "value_usd": "1887600.00", "parcels": 4}})}
    for i, forged in enumerate(forgeries.values()):
        (tmp_path / f"forged{i}.jws").write_text(forged)
    # A trust list altered after export is refused as a whole (exit 2, not a verdict on the certificate).
    doc = json.loads(trust_list.read_text())
    doc["trust_list"]["keys"][0]["revoked_at"] = None
    doc["trust_list"]["keys"][0]["valid_until"] = "2999-01-01T00:00:00Z"
    write_json(tmp_path / "altered.json", doc)
    genuine, from_json, *verdicts, altered = node.run_all(
        ("certificate", "verify", str(jws), "--trust-list", str(trust_list), *anchor),
        ("certificate", "verify", str(shown_file), "--trust-list", str(trust_list), *anchor),
        *(("certificate", "verify", str(tmp_path / f"forged{i}.jws"), "--trust-list", str(trust_list), *anchor)
          for i in range(len(forgeries))),
        ("certificate", "verify", str(jws), "--trust-list", str(tmp_path / "altered.json"), *anchor))
    for proc in (genuine, from_json):
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "NOT GENUINE" not in proc.stdout and "GENUINE" in proc.stdout and number in proc.stdout
        assert f"verification code {issued['verification_code']}" in words(proc.stdout)
    for label, proc in zip(forgeries, verdicts, strict=True):
        assert proc.returncode == 1, f"{label}: {proc.stdout}{proc.stderr}"
        assert "NOT GENUINE" in proc.stdout, label
        assert "Traceback" not in proc.stderr
    assert altered.returncode == 2 and "trust list refused" in words(altered.stderr)

    # Refusals name the rule and write nothing.
    bad = write_json(tmp_path / "bad.json", certificate_request() | {"lines": [
        {"hs_code": "7103.10", "carats": "1.00", "value_usd": "1.00", "parcels": 1}]})
    (tmp_path / "broken.json").write_text("{not json")
    out_of_scope, ghost, broken, missing = node.refusals(
        ("certificate", "issue", "--file", str(bad), "--user", email),
        ("certificate", "issue", "--file", str(request), "--user", "ghost@cli.kpcs"),
        ("certificate", "issue", "--file", str(tmp_path / "broken.json"), "--user", email),
        ("certificate", "show", "BW 9999999"))
    assert "DEF-05" in out_of_scope
    assert "no user" in ghost
    assert "cannot read" in broken
    assert "not found" in missing
    next_one = json.loads(node.ok("certificate", "issue", "--file", str(request), "--user", email).stdout)
    assert int(next_one["number"].split()[1]) == int(number.split()[1]) + 1  # refusals used no number


def _at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_revoked_key_fails_from_its_revocation_time(node: Node, tmp_path: Path) -> None:
    officer = "za.officer@demo.kpcs"
    request = write_json(tmp_path / "za.json", certificate_request("ZA-EXP-0001", "EU", "ZA"))
    first = json.loads(node.ok("certificate", "issue", "--file", str(request), "--user", officer).stdout)
    # Revoked just after it signed `first`: what it signed before stays genuine.
    after_signing = _at(first["issued_at"]) + dt.timedelta(microseconds=1)
    node.ok("keys", "revoke", first["kid"], "--reason", "compromised", "--at", after_signing.isoformat())

    new_kid = re.search(r"created (\S+)", node.ok("keys", "create", "--authority", "ZA-KPA").stdout)
    second = json.loads(node.ok("certificate", "issue", "--file", str(request), "--user", officer).stdout)
    assert new_kid and second["kid"] == new_kid.group(1) != first["kid"]
    # Revoked from a millisecond before it signed `second`: that signature no longer counts.
    before_signing = _at(second["issued_at"]) - dt.timedelta(milliseconds=1)
    node.ok("keys", "revoke", second["kid"], "--reason", "compromised", "--at", before_signing.isoformat())

    # The thief of the first key back-dates a new certificate into the key's good days: the next serial.
    payload = json.loads(base64.urlsafe_b64decode(first["jws"].split(".")[1] + "=="))
    payload["number"] = f"ZA {int(first['number'].split()[1]) + 1:07d}"
    (tmp_path / "backdated.jws").write_text(_sign_with_node_key_file(node, first["kid"], payload))

    trust_list = tmp_path / "trust-list.json"
    node.ok("trust-list", "export", str(trust_list))
    (tmp_path / "first.jws").write_text(first["jws"])
    (tmp_path / "second.jws").write_text(second["jws"])
    anchor = ("--anchor", node.anchor())
    still_genuine, not_genuine, backdated = node.run_all(
        ("certificate", "verify", str(tmp_path / "first.jws"), "--trust-list", str(trust_list), *anchor),
        ("certificate", "verify", str(tmp_path / "second.jws"), "--trust-list", str(trust_list), *anchor),
        ("certificate", "verify", str(tmp_path / "backdated.jws"), "--trust-list", str(trust_list), *anchor))
    assert still_genuine.returncode == 0 and "GENUINE" in still_genuine.stdout, still_genuine.stdout
    assert not_genuine.returncode == 1 and "NOT GENUINE" in not_genuine.stdout
    assert "revoked" in words(not_genuine.stdout)
    assert backdated.returncode == 1 and "NOT GENUINE" in backdated.stdout, backdated.stdout
    assert "whatever signing time it claims" in words(backdated.stdout)


def _sign_with_node_key_file(node: Node, kid: str, payload: dict[str, Any]) -> str:
    """Sign as a thief holding the private key file would."""
    from cryptography.hazmat.primitives import serialization

    from kpcs import crypto

    pem = (node.root / "data" / "keys" / f"{kid.replace('#', '_')}.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    return crypto.sign(payload, key, kid)  # type: ignore[arg-type]


def test_offline_verification_trusts_only_the_anchor(node: Node, tmp_path: Path) -> None:
    """A list forged with the node's kid, a list without an anchor, a stale list under --strict: all refused."""
    from kpcs import crypto

    officer = "bw.officer@demo.kpcs"
    request = write_json(tmp_path / "bw.json", certificate_request("BW-EXP-0001", "EU", "BW"))
    issued = json.loads(node.ok("certificate", "issue", "--file", str(request), "--user", officer).stdout)
    (tmp_path / "cert.jws").write_text(issued["jws"])
    genuine_list = tmp_path / "trust-list.json"
    node.ok("trust-list", "export", str(genuine_list))
    anchor_file = tmp_path / "anchor.jwk"
    printed = node.ok("trust-list", "anchor", "--output", str(anchor_file)).stdout.strip()
    assert crypto.jwk_thumbprint(json.loads(anchor_file.read_text())) == printed

    # The forger's own key, labelled with the node's kid, signs a list naming the forger's BW key.
    forger = crypto.generate_private_key()
    body = json.loads(genuine_list.read_text())["trust_list"]
    node_kid = body["node_keys"][-1]["kid"]
    for entry in body["node_keys"]:
        entry["jwk"] = {**crypto.public_jwk(forger, entry["kid"]), "alg": "Ed25519", "use": "sig"}
    bw_key = next(k for k in body["keys"] if k["kid"] == issued["kid"])
    bw_key["jwk"] = {**crypto.public_jwk(forger, bw_key["kid"]), "alg": "Ed25519", "use": "sig"}
    write_json(tmp_path / "forged-list.json", {"trust_list": body, "signature": crypto.sign(body, forger, node_kid)})
    fake = json.loads(base64.urlsafe_b64decode(issued["jws"].split(".")[1] + "=="))
    fake["totals"]["carats"] = "1.00"
    (tmp_path / "fake.jws").write_text(crypto.sign(fake, forger, issued["kid"]))

    stale_list = tmp_path / "stale.json"
    kpcs({**node.env, "KPCS_TRUST_LIST_HOURS": "0"}, "trust-list", "export", str(stale_list), check=True)
    verify = ("certificate", "verify", str(tmp_path / "cert.jws"), "--trust-list")
    forged, unanchored, by_file, stale, strict = node.run_all(
        ("certificate", "verify", str(tmp_path / "fake.jws"), "--trust-list", str(tmp_path / "forged-list.json"),
         "--anchor", printed),
        (*verify, str(genuine_list)),
        (*verify, str(genuine_list), "--anchor-file", str(anchor_file)),
        (*verify, str(stale_list), "--anchor", printed),
        (*verify, str(stale_list), "--anchor", printed, "--strict"))
    assert forged.returncode == 2 and "did not endorse" in words(forged.stderr), forged.stdout + forged.stderr
    assert "GENUINE" not in forged.stdout
    assert unanchored.returncode == 2 and "--anchor" in words(unanchored.stderr)
    assert by_file.returncode == 0 and "GENUINE" in by_file.stdout, by_file.stdout + by_file.stderr
    assert stale.returncode == 0 and "passed its next update" in words(stale.stderr)
    assert strict.returncode == 2 and "passed its next update" in words(strict.stderr)
    for proc in (forged, unanchored, by_file, stale, strict):
        assert "Traceback" not in proc.stderr


def test_audit_verify_names_the_tampered_entry(node: Node, tmp_path: Path) -> None:
    intact = node.ok("audit", "verify")
    assert re.search(r"audit chain intact: \d+ entries", words(intact.stdout))

    # Tamper with a copy of the database file, exactly as someone with file access would.
    copy = tmp_path / "tampered.sqlite3"
    with sqlite3.connect(node.database) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as db:
        assert db.execute("UPDATE audit_auditentry SET actor='mallory' WHERE seq=3").rowcount == 1
    env = {**node.env, "KPCS_DATABASE_URL": f"sqlite:///{copy}"}
    proc = kpcs(env, "audit", "verify", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "broken at entry 3" in words(proc.stderr)

    # Removing the last entry is caught too (the chain head remembers how many there were).
    with sqlite3.connect(node.database) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as db:
        db.execute("DELETE FROM audit_auditentry WHERE seq=(SELECT max(seq) FROM audit_auditentry)")
    proc = kpcs(env, "audit", "verify", timeout=60)
    assert proc.returncode == 1 and "broken at entry" in words(proc.stderr)

    assert node.ok("audit", "verify").returncode == 0  # the real node was never touched


def test_audit_checkpoint_catches_a_truncated_log_and_verify_names_rows_changed_behind_it(node: Node,
                                                                                           tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    assert "signed by node#" in words(node.ok("audit", "checkpoint", "--output", str(checkpoint)).stdout)
    size = json.loads(checkpoint.read_text())["size"]
    intact = words(node.ok("audit", "verify", "--checkpoint", str(checkpoint)).stdout)
    assert f"({size} entries, signed by node#" in intact and "current state matches the log" in intact

    copy = tmp_path / "tampered.sqlite3"
    env = {**node.env, "KPCS_DATABASE_URL": f"sqlite:///{copy}"}
    # Remove the last two entries and point the chain head at the new last one: the chain alone looks intact.
    with sqlite3.connect(node.database) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as db:
        db.execute("DELETE FROM audit_auditentry WHERE seq > ?", (size - 2,))
        db.execute("UPDATE audit_chainhead SET seq = ?, hash = (SELECT entry_hash FROM audit_auditentry "
                   "WHERE seq = ?)", (size - 2, size - 2))
    proc = kpcs(env, "audit", "verify", "--checkpoint", str(checkpoint), timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert f"the log has {size - 2} entries but the checkpoint" in words(proc.stderr)

    # Lift a suspension behind the log's back.
    with sqlite3.connect(node.database) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as db:
        pk, status = db.execute("SELECT id, status FROM registry_participantstatus WHERE participant_id = 'VE'"
                                ).fetchone()
        db.execute("UPDATE registry_participantstatus SET status = 'active' WHERE id = ?", (pk,))
    proc = kpcs(env, "audit", "verify", timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert f"participant_status {pk}: status is active in the database, {status} in the log" in words(proc.stdout)

    # A checkpoint signed by anyone but this node is refused (exit 2).
    forged = tmp_path / "forged.json"
    doc = json.loads(checkpoint.read_text())
    head, body, signature = doc["jws"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    smaller = json.dumps({**claims, "size": size - 2}, sort_keys=True, separators=(",", ":")).encode()
    doc["jws"] = f"{head}.{base64.urlsafe_b64encode(smaller).rstrip(b'=').decode()}.{signature}"
    forged.write_text(json.dumps({**doc, "size": size - 2}))
    proc = kpcs(node.env, "audit", "verify", "--checkpoint", str(forged), timeout=60)
    assert proc.returncode == 2 and "checkpoint refused" in words(proc.stderr), proc.stdout + proc.stderr
    assert node.ok("audit", "verify").returncode == 0  # the real node was never touched


def test_commands_on_a_missing_or_unreachable_database_say_so_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "KPCS_DATA_DIR": str(tmp_path), "KPCS_DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}"}
    fresh = subprocess.run([KPCS, "audit", "verify"], env=env, capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 1 and "kpcs init" in fresh.stderr and "Traceback" not in fresh.stderr
    env["KPCS_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    down = subprocess.run([KPCS, "audit", "verify"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 1 and "database error" in down.stderr and "Traceback" not in down.stderr
