"""The audit API: entries with their payloads, the verification with the state replay, signed checkpoints."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.db import connection

from kpcs.audit import rules
from kpcs.audit import services as audit
from kpcs.certificates import services as certificates
from kpcs.registry import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(api_as: Any, make_user: Any, issued: Any, eu_officer: Any) -> Any:
    certificates.confirm(eu_officer, issued.number, {"parcels": 4, "carats": "1650.40", "seals_intact": True})
    make_user("admin@test.kpcs", "admin")
    return api_as("admin@test.kpcs")


def test_entries_carry_their_payload_and_no_commercial_details(admin: Any) -> None:
    page = admin.get("/audit", object_type="certificate").json()
    assert [i["action"] for i in page["items"]] == ["certificate.confirmed", "certificate.issued"]
    for item in page["items"]:
        assert hashlib.sha256(rules.canonical(item["payload"])).hexdigest() == item["payload_hash"]
        assert item["payload"]["state"]["status"] in ("issued", "confirmed")
    text = admin.get("/audit", limit=500).content.decode()
    for secret in ("1250.40", "1875600", "1650.40", "Y BV", "Hoveniersstraat", "correct-horse"):
        assert secret not in text


def test_verification_reports_the_state_replay(admin: Any, issued: Any) -> None:
    body = admin.get("/audit/verification").json()
    assert body["valid"] and body["state_valid"] and body["first_broken_seq"] is None
    assert body["objects"] > 0 and body["difference_count"] == 0 and body["differences"] == []
    with connection.cursor() as cursor:
        cursor.execute("UPDATE certificates_certificate SET status = 'issued' WHERE number = %s", [issued.number])
    body = admin.get("/audit/verification").json()
    assert not body["valid"] and not body["state_valid"] and body["first_broken_seq"] is None
    assert body["differences"] == [f"certificate {issued.number}: status is issued in the database, "
                                   "confirmed in the log"]


def test_a_broken_chain_is_not_replayed(admin: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET actor = 'mallory' WHERE seq = 2")
    body = admin.get("/audit/verification").json()
    assert (body["valid"], body["first_broken_seq"], body["state_valid"]) == (False, 2, False)


def test_the_checkpoint_is_signed_by_the_node_key(admin: Any) -> None:
    resp = admin.get("/audit/checkpoint")
    assert resp.status_code == 200, resp.content
    cp = resp.json()
    last = audit.AuditEntry.objects.order_by("-seq").first()
    assert last is not None and (cp["size"], cp["head_hash"]) == (last.seq, last.entry_hash)
    assert cp["type"] == "kpcs-audit-checkpoint" and cp["node_kid"].startswith("node#")
    read = audit.read_checkpoint(cp["jws"], selectors.node_key)
    assert (read.size, read.head_hash, read.at) == (cp["size"], cp["head_hash"], cp["at"])
    assert audit.verify(read).valid
