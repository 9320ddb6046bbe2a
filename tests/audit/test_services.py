"""The audit log against the database: kept payloads, the state replay, baselines, checkpoints."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from kpcs import clock
from kpcs.audit import replay, rules
from kpcs.audit import services as audit
from kpcs.audit.models import AuditEntry
from kpcs.certificates import services as certificates
from kpcs.registry.models import ApiToken, ParticipantStatus, SigningKey
from tests.conftest import certificate_request

pytestmark = pytest.mark.django_db


def sql(statement: str, *params: Any) -> int:
    """Change rows behind the log's back, as someone holding the database could."""
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        return int(cursor.rowcount)


def differences() -> list[str]:
    result = audit.verify()
    assert result.broken is None, result.broken
    return result.differences


@pytest.fixture
def lifecycle(issued: Any, bw_officer: Any, eu_officer: Any, token_for: Any) -> dict[str, Any]:
    """Certificates in every state, a token, a rotated and a revoked key: every tracked type has entries."""
    confirmed = issued
    certificates.confirm(eu_officer, confirmed.number, {"parcels": 3, "carats": "1650.00", "seals_intact": True})
    rejected = certificates.issue(bw_officer, certificate_request())
    certificates.reject(eu_officer, rejected.number, {
        "reason": "parcel 2 missing, buyer Y BV informed", "discrepancy": {"kind": "content_mismatch",
                                                                          "found": {"parcels": 3}}})
    cancelled = certificates.issue(bw_officer, certificate_request())
    certificates.cancel(bw_officer, cancelled.number, {"reason": "buyer Y BV withdrew"})
    open_ = certificates.issue(bw_officer, certificate_request())
    token_for("bw@test.kpcs")
    return {"confirmed": confirmed.number, "rejected": rejected.number, "cancelled": cancelled.number,
            "open": open_.number}


# --- payloads -----------------------------------------------------------------------------------------

def test_each_entry_keeps_its_canonical_payload(lifecycle: dict[str, Any]) -> None:
    entries = list(AuditEntry.objects.all())
    assert entries and all(e.payload is not None for e in entries)
    for e in entries:
        assert hashlib.sha256(e.payload.encode()).hexdigest() == e.payload_hash
        assert rules.canonical(json.loads(e.payload)).decode() == e.payload
    assert audit.verify_chain()[1] is None


def test_a_payload_changed_by_sql_breaks_the_chain(lifecycle: dict[str, Any]) -> None:
    seq = AuditEntry.objects.get(action="certificate.cancelled").seq
    sql("UPDATE audit_auditentry SET payload = REPLACE(payload, 'cancelled', 'confirmed') WHERE seq = %s", seq)
    assert audit.verify_chain()[1] == (seq, "the payload does not match its payload_hash")
    sql("UPDATE audit_auditentry SET payload = NULL WHERE seq = %s", seq)
    broken = audit.verify_chain()[1]
    assert broken is not None and broken[0] == seq and "payload is missing" in broken[1]


def test_certificate_entries_carry_no_commercial_details(lifecycle: dict[str, Any]) -> None:
    """The admin role reads the log but not values, carats, parties or reasons (only hashes binding them)."""
    texts = list(AuditEntry.objects.filter(object_type="certificate").values_list("payload", flat=True))
    assert len(texts) == 7  # four issued, then confirmed, rejected, cancelled
    for raw in texts:
        # Hashes and key ids are random hex/base64: blank them so a digest that happens to contain "1650" is no leak.
        text = re.sub(r'"(payload_hash|record_hash|kid)":"[^"]*"', r'"\1":"-"', raw)
        for secret in ("1250.40", "1875600", "1650", "Y BV", "Hoveniersstraat", "BW-EXP-1", "buyer", "parcel",
                       "carats", "value", "importer", "exporter\""):
            assert secret not in text, (secret, text)
    issued = json.loads(AuditEntry.objects.get(action="certificate.issued", object_id=lifecycle["open"]).payload)
    cert = certificates.Certificate.objects.get(number=lifecycle["open"])
    assert issued == {"exporting_participant": "BW", "importing_participant": "EU", "authority": "BW-KPA",
                      "state": {"status": "issued", "kid": cert.kid, "serial": cert.serial,
                                "payload_hash": cert.payload_hash, "signer_revoked": False}}
    confirmed = json.loads(AuditEntry.objects.get(action="certificate.confirmed").payload)
    assert set(confirmed) == {"received_on", "seals_intact", "authority", "with_differences", "record_hash", "state"}
    c = cert.__class__.objects.get(number=lifecycle["confirmed"]).confirmation
    assert confirmed["record_hash"] == rules.record_hash(
        certificates.selectors.confirmation_record(c))
    rejected = json.loads(AuditEntry.objects.get(action="certificate.rejected").payload)
    assert set(rejected) == {"kind", "authority", "record_hash", "state"} and rejected["kind"] == "content_mismatch"


def test_no_password_or_token_is_ever_logged(kp: Any, make_user: Any, token_for: Any) -> None:
    make_user("alice@test.kpcs", "kp_analyst")
    kp.create_user("alice@test.kpcs", None, "admin", actor=kp.SYSTEM)
    alice = get_user_model().objects.get(username="alice@test.kpcs")
    link = kp.password_reset_link("alice@test.kpcs", base_url="https://node.example", actor=kp.SYSTEM)
    kp.reset_password(alice.pk, link.rstrip("/").rsplit("/", 1)[-1], "a-new-secret-password")
    token = token_for("alice@test.kpcs")
    text = " ".join(AuditEntry.objects.values_list("payload", flat=True))
    assert "a-new-secret-password" not in text and "correct-horse" not in text and token not in text
    assert get_user_model().objects.get(username="alice@test.kpcs").password.split("$")[-1] not in text


# --- the state replay ---------------------------------------------------------------------------------

def test_every_tracked_type_is_registered() -> None:
    assert set(replay.sources()) == {"certificate", "signing_key", "participant_status", "api_token", "user"}


def test_the_log_replays_to_the_current_state(lifecycle: dict[str, Any]) -> None:
    result = audit.verify()
    assert result.valid, result.differences
    assert result.objects >= 4 + 8 + ParticipantStatus.objects.count()


def test_a_status_changed_by_sql_is_named(lifecycle: dict[str, Any]) -> None:
    ve = ParticipantStatus.objects.get(participant_id="VE")
    assert sql("UPDATE registry_participantstatus SET status = 'active' WHERE id = %s", ve.pk) == 1
    assert differences() == [f"participant_status {ve.pk}: status is active in the database, "
                             f"{ve.status} in the log"]


def test_a_status_added_by_sql_is_named(lifecycle: dict[str, Any]) -> None:
    sql("INSERT INTO registry_participantstatus (participant_id, status, scope, valid_from, cause) "
        "VALUES ('ZA', 'suspended', '', '2025-01-01', '')")
    pk = ParticipantStatus.objects.get(participant_id="ZA").pk
    assert differences() == [f"participant_status {pk} is in the database but not in the log"]


def test_a_certificate_changed_by_sql_is_named(lifecycle: dict[str, Any]) -> None:
    number = lifecycle["open"]
    sql("UPDATE certificates_certificate SET status = 'confirmed' WHERE number = %s", number)
    assert differences() == [f"certificate {number}: status is confirmed in the database, issued in the log"]


def test_a_key_changed_by_sql_is_named(lifecycle: dict[str, Any]) -> None:
    kid = SigningKey.objects.get(authority_id="BW-KPA").kid
    sql("UPDATE registry_signingkey SET revoked_at = NULL, valid_until = %s WHERE kid = %s",
        dt.datetime(2030, 1, 1, tzinfo=dt.UTC), kid)
    assert differences() == [f"signing_key {kid}: valid_until is 2030-01-01T00:00:00Z in the database, "
                             "empty in the log"]


def test_a_token_changed_or_added_by_sql_is_named(lifecycle: dict[str, Any]) -> None:
    token = ApiToken.objects.get()
    sql("UPDATE registry_apitoken SET expires_at = %s WHERE id = %s", dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
        token.pk)
    [line] = differences()
    assert line.startswith(f"api_token {token.pk}: expires_at is 2099-01-01T00:00:00Z in the database, ")
    ApiToken.objects.create(user=token.user, token_hash="f" * 64, prefix="kpcs_forged", created_at=clock.now(),
                            expires_at=clock.now())
    assert sorted(differences())[1] == f"api_token {token.pk + 1} is in the database but not in the log"


def test_a_user_given_rights_by_sql_is_named(lifecycle: dict[str, Any]) -> None:
    sql("UPDATE auth_user SET is_superuser = %s WHERE username = %s", True, "bw@test.kpcs")
    assert differences() == ["user bw@test.kpcs: is_superuser is true in the database, false in the log"]


def test_a_row_deleted_by_sql_is_named(lifecycle: dict[str, Any]) -> None:
    token = ApiToken.objects.get()
    sql("DELETE FROM registry_apitoken WHERE id = %s", token.pk)
    assert differences() == [f"api_token {token.pk} is in the log but not in the database"]


def test_changes_made_while_verifying_are_not_reported(lifecycle: dict[str, Any], bw_officer: Any,
                                                        monkeypatch: Any) -> None:
    """Entries and rows change together: a change committed between reading the log and the rows is settled
    by reading the entries that came after."""
    source = replay.sources()["certificate"]

    def racing() -> Any:
        certificates.cancel(bw_officer, lifecycle["open"], {"reason": "withdrawn"})
        yield from source.current_states()

    monkeypatch.setitem(replay._sources, "certificate", replay.Source("certificate", racing, source.state_of))
    result = audit.verify()
    assert result.valid, result.differences


def test_differences_are_capped_but_counted(lifecycle: dict[str, Any]) -> None:
    sql("UPDATE certificates_certificate SET signer_revoked = %s", True)
    result = audit.verify(limit=2)
    assert result.difference_count == 4 and len(result.differences) == 2 and not result.valid


# --- legacy logs and their baseline --------------------------------------------------------------------

def test_a_legacy_log_is_anchored_by_a_baseline(lifecycle: dict[str, Any]) -> None:
    """Entries written before payloads were kept: replay starts from the baseline `kpcs init` records."""
    last = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    AuditEntry.objects.filter(seq__lte=last).update(payload=None)
    assert audit.verify_chain()[1] is None  # legacy entries stay valid
    [problem] = differences()
    assert "from before payloads were kept and no baseline" in problem
    with transaction.atomic():
        entry = audit.ensure_baseline("cli:operator")
    assert entry is not None and entry.action == "audit.baseline"
    assert audit.ensure_baseline("cli:operator") is None  # once
    assert audit.verify().valid
    number = lifecycle["confirmed"]
    sql("UPDATE certificates_certificate SET status = 'issued' WHERE number = %s", number)
    assert differences() == [f"certificate {number}: status is issued in the database, confirmed in the log"]


def test_a_log_that_kept_its_payloads_needs_no_baseline(lifecycle: dict[str, Any]) -> None:
    assert audit.ensure_baseline("cli:operator") is None
    assert not AuditEntry.objects.filter(action="audit.baseline").exists()


# --- record_many: several entries in one append ---------------------------------------------------------

def _batch() -> list[dict[str, Any]]:
    return [
        {"actor": "scan", "action": "finding.found", "object_type": "finding", "object_id": 7, "participant": "BW",
         "payload": {"rule": "price-outlier", "record_hash": "a" * 64, "évidence": [1, "2.50", None]}},
        {"actor": "scan", "action": "finding.found", "object_type": "finding", "object_id": "8",
         "payload": {"rule": "overdue", "status": "open"}},
        {"actor": "scan", "action": "monitoring.scanned", "object_type": "analysis", "object_id": "x"},
    ]


def _chain(entries: list[AuditEntry]) -> list[tuple[Any, ...]]:
    return [(e.seq, e.at, e.actor, e.participant, e.action, e.object_type, e.object_id, e.payload, e.payload_hash,
             e.prev_hash, e.entry_hash) for e in entries]


def test_record_many_chains_exactly_as_record(lifecycle: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The same inputs at the same time give the same entries, byte for byte, whichever way they were written."""
    fixed = dt.datetime(2026, 12, 2, 11, 30, 0, 123456, tzinfo=dt.UTC)
    monkeypatch.setattr(clock, "now", lambda: fixed)
    with transaction.atomic():
        one_by_one = [audit.record(**e) for e in _batch()]
        transaction.set_rollback(True)  # the same head again for record_many
    before = AuditEntry.objects.count()
    with transaction.atomic():
        many = audit.record_many(_batch())
    assert _chain(many) == _chain(one_by_one)
    stored = list(AuditEntry.objects.filter(seq__gt=before).order_by("seq"))
    assert _chain(stored) == _chain(one_by_one)  # as read back from the database
    assert AuditEntry.objects.count() == before + 3 and many[0].seq == before + 1
    assert many[1].prev_hash == many[0].entry_hash


def test_a_log_written_by_record_many_verifies(lifecycle: dict[str, Any]) -> None:
    with transaction.atomic():
        audit.record_many(_batch())
    with transaction.atomic():  # record after record_many: the head moved to the last of the batch
        audit.record(actor="scan", action="monitoring.scanned", object_type="analysis", object_id="y")
    checked, broken = audit.verify_chain()
    assert broken is None and checked == AuditEntry.objects.count()
    assert audit.verify().valid


def test_a_tampered_record_many_entry_breaks_the_chain(lifecycle: dict[str, Any]) -> None:
    with transaction.atomic():
        written = audit.record_many(_batch())
    sql("UPDATE audit_auditentry SET participant = 'ZA' WHERE seq = %s", written[0].seq)
    assert audit.verify_chain()[1] == (written[0].seq, "entry_hash does not match the entry's contents")
    sql("UPDATE audit_auditentry SET participant = 'BW' WHERE seq = %s", written[0].seq)
    assert audit.verify_chain()[1] is None
    sql("UPDATE audit_auditentry SET payload = REPLACE(payload, 'open', 'closed') WHERE seq = %s", written[1].seq)
    assert audit.verify_chain()[1] == (written[1].seq, "the payload does not match its payload_hash")


def test_record_many_of_nothing_writes_nothing_and_refuses_unknown_arguments(lifecycle: dict[str, Any]) -> None:
    head = audit._head()
    with transaction.atomic():
        assert audit.record_many([]) == []
        with pytest.raises(TypeError, match="objet_id"):
            audit.record_many([{"actor": "a", "action": "b", "object_type": "c", "objet_id": "d"}])
    assert audit._head() == head
