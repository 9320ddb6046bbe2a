"""`kpcs audit verify` and `kpcs audit checkpoint` in process, on the test database: the attacks of the issue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from typer.testing import CliRunner

from kpcs import clock, crypto
from kpcs.audit.models import AuditEntry, ChainHead
from kpcs.cli import app
from kpcs.registry import services as registry
from kpcs.registry.models import ParticipantStatus, SigningKey
from tests.conftest import certificate_request

pytestmark = pytest.mark.django_db


def kpcs(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    result.text = " ".join((result.stdout + result.stderr).split())
    return result


def sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))


@pytest.fixture
def node(issued: Any, bw_officer: Any, eu_officer: Any) -> Any:
    from kpcs.certificates import services as certificates

    certificates.confirm(eu_officer, issued.number, {"parcels": 4, "carats": "1650.40", "seals_intact": True})
    certificates.issue(bw_officer, certificate_request())
    return bw_officer


@pytest.fixture
def checkpoint(node: Any, tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.json"
    result = kpcs("audit", "checkpoint", "--output", str(path))
    assert result.exit_code == 0, result.text
    assert "signed by node#" in result.text
    return path


def truncate(keep: int) -> None:
    """Delete the entries after `keep` and point the chain head at the new last one, as an attacker would."""
    AuditEntry.objects.filter(seq__gt=keep).delete()
    last = AuditEntry.objects.get(seq=keep)
    ChainHead.objects.filter(pk=1).update(seq=last.seq, hash=last.entry_hash)


def test_an_intact_log_extends_its_checkpoint(checkpoint: Path, node: Any) -> None:
    doc = json.loads(checkpoint.read_text())
    assert doc["type"] == "kpcs-audit-checkpoint" and doc["size"] == AuditEntry.objects.count()
    assert crypto.unverified_parts(doc["jws"])[1] == {k: doc[k] for k in
                                                      ("type", "size", "head_hash", "at", "node_kid")}
    from kpcs.certificates import services as certificates

    certificates.issue(node, certificate_request())  # the log grows after the checkpoint: still extends it
    result = kpcs("audit", "verify", "--checkpoint", str(checkpoint))
    assert result.exit_code == 0, result.text
    assert f"extends the checkpoint of {doc['at']} ({doc['size']} entries" in result.text
    assert "current state matches the log" in result.text


def test_a_truncated_chain_with_a_rewritten_head_fails_its_checkpoint(checkpoint: Path) -> None:
    size = json.loads(checkpoint.read_text())["size"]
    truncate(size - 3)
    sql("UPDATE certificates_certificate SET status = 'issued'")  # and hide what the removed entries said
    from kpcs.audit import services

    assert services.verify_chain()[1] is None  # without the checkpoint the chain alone looks intact
    result = kpcs("audit", "verify", "--checkpoint", str(checkpoint))
    assert result.exit_code == 1, result.text
    assert f"the log has {size - 3} entries but the checkpoint" in result.text and f"counted {size}" in result.text


def test_a_chain_rewritten_to_the_same_size_fails_its_checkpoint(checkpoint: Path, make_operator: Any) -> None:
    size = json.loads(checkpoint.read_text())["size"]
    truncate(size - 2)
    make_operator("ZA", "exporter", "ZA-EXP-9")  # two genuine new entries refill the log to its size
    make_operator("ZA", "importer", "ZA-IMP-9")
    assert AuditEntry.objects.count() == size
    result = kpcs("audit", "verify", "--checkpoint", str(checkpoint))
    assert result.exit_code == 1, result.text
    assert f"entry {size} is not the one the checkpoint" in result.text


@pytest.mark.parametrize("forgery", ["altered", "unknown_key", "authority_key", "not_a_checkpoint"])
def test_a_forged_checkpoint_is_refused(checkpoint: Path, forgery: str) -> None:
    doc = json.loads(checkpoint.read_text())
    body = {k: doc[k] for k in ("type", "size", "head_hash", "at", "node_kid")}
    if forgery == "altered":
        head, _, signature = doc["jws"].split(".")
        smaller = crypto.sign({**body, "size": 1}, crypto.generate_private_key(), doc["node_kid"]).split(".")[1]
        doc["jws"] = f"{head}.{smaller}.{signature}"
        expected = "does not verify with node key"
    elif forgery == "unknown_key":
        doc["jws"] = crypto.sign({**body, "node_kid": "node#forged"}, crypto.generate_private_key(), "node#forged")
        expected = "signed by 'node#forged', which is not a node key of this node"
    elif forgery == "authority_key":
        kid, key = registry.signing_key("BW-KPA", clock.now())
        doc["jws"] = crypto.sign({**body, "node_kid": kid}, key, kid)
        expected = f"signed by '{kid}', which is not a node key"
    else:
        kid, key = registry.signing_key(None, clock.now())
        doc["jws"] = crypto.sign({"type": "kpcs-trust-list"}, key, kid)
        expected = "not an audit checkpoint"
    checkpoint.write_text(json.dumps(doc))
    result = kpcs("audit", "verify", "--checkpoint", str(checkpoint))
    assert result.exit_code == 2, result.text
    assert "checkpoint refused" in result.text and expected in result.text


def test_a_checkpoint_from_a_revoked_node_key_is_refused(checkpoint: Path) -> None:
    doc = json.loads(checkpoint.read_text())
    registry.revoke_key(doc["node_kid"], "compromised", clock.now().replace(year=2001), actor=registry.SYSTEM)
    result = kpcs("audit", "verify", "--checkpoint", str(checkpoint))
    assert result.exit_code == 2 and "was not valid at" in result.text, result.text


def test_a_document_that_says_otherwise_than_its_signature_is_refused(checkpoint: Path) -> None:
    doc = json.loads(checkpoint.read_text())
    checkpoint.write_text(json.dumps({**doc, "size": doc["size"] + 5}))
    result = kpcs("audit", "verify", "--checkpoint", str(checkpoint))
    assert result.exit_code == 2 and "size" in result.text and "differs from what is signed" in result.text


def test_an_unreadable_checkpoint_is_refused(node: Any, tmp_path: Path) -> None:
    result = kpcs("audit", "verify", "--checkpoint", str(tmp_path / "missing.json"))
    assert result.exit_code == 2 and "cannot read the checkpoint" in result.text
    (tmp_path / "junk.json").write_text("{not json")
    result = kpcs("audit", "verify", "--checkpoint", str(tmp_path / "junk.json"))
    assert result.exit_code == 2 and "not JSON" in result.text


def test_a_status_changed_by_sql_is_named(node: Any) -> None:
    status = ParticipantStatus.objects.get(participant_id="VE")
    sql("UPDATE registry_participantstatus SET status = 'active' WHERE id = %s", status.pk)
    result = kpcs("audit", "verify")
    assert result.exit_code == 1, result.text
    assert "audit chain intact" in result.text
    assert (f"participant_status {status.pk}: status is active in the database, {status.status} in the log"
            in result.text)


def test_a_certificate_key_and_token_changed_by_sql_are_named(node: Any, token_for: Any) -> None:
    token_for("bw@test.kpcs")
    sql("UPDATE certificates_certificate SET status = 'confirmed' WHERE number = 'BW 0000002'")
    sql("UPDATE registry_apitoken SET revoked_at = NULL, expires_at = '2099-01-01 00:00:00+00:00'")
    kid = SigningKey.objects.get(authority_id="ZA-KPA").kid
    sql("UPDATE registry_signingkey SET last_serial = 99 WHERE kid = %s", kid)
    result = kpcs("audit", "verify")
    assert result.exit_code == 1, result.text
    assert "differs from the log in 3 place(s)" in result.text
    assert "certificate BW 0000002: status is confirmed in the database, issued in the log" in result.text
    assert f"signing_key {kid}: last_serial is 99 in the database, empty in the log" in result.text
    assert "expires_at is 2099-01-01T00:00:00Z in the database" in result.text


def test_an_empty_log_has_a_checkpoint_too(db: Any, tmp_path: Path) -> None:
    from kpcs.audit import rules, services

    key = crypto.generate_private_key()
    cp = services.checkpoint("node#k", key)
    assert (cp["size"], cp["head_hash"]) == (0, rules.GENESIS)


def test_init_anchors_a_legacy_log_with_a_baseline(node: Any) -> None:
    AuditEntry.objects.update(payload=None)  # a log written before entries kept their payloads
    before = kpcs("audit", "verify")
    assert before.exit_code == 1 and "no baseline: run `kpcs init`" in before.text, before.text
    result = kpcs("init")
    assert result.exit_code == 0, result.text
    assert "recorded the baseline the state replay starts from" in result.text
    assert AuditEntry.objects.filter(action="audit.baseline").count() == 1
    after = kpcs("audit", "verify")
    assert after.exit_code == 0 and "current state matches the log" in after.text, after.text
    assert "baseline" not in kpcs("init").text  # once


def test_verify_accepts_entries_written_by_record_many_and_names_a_tampered_one(node: Any) -> None:
    from django.db import transaction

    from kpcs.audit import services as audit

    with transaction.atomic():
        written = audit.record_many([{"actor": "scan", "action": "finding.found", "object_type": "finding",
                                      "object_id": str(n), "payload": {"n": n}} for n in range(3)])
    result = kpcs("audit", "verify")
    assert result.exit_code == 0, result.text
    sql("UPDATE audit_auditentry SET actor = 'someone else' WHERE seq = %s", written[1].seq)
    result = kpcs("audit", "verify")
    assert result.exit_code == 1, result.text
    assert str(written[1].seq) in result.text
