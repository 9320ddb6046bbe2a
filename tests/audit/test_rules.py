"""The audit log's rules without a database: the hash chain, kept payloads, checkpoints, the state replay."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest

from kpcs.audit import rules


def _chain(n: int, payloads: bool = False, legacy: int = 0) -> list[dict[str, Any]]:
    """n entries; with `payloads` each keeps its payload, except the first `legacy` ones."""
    entries, prev = [], rules.GENESIS
    for seq in range(1, n + 1):
        payload = {"n": seq, "state": {"status": "issued"}}
        fields = {"seq": seq, "at": "2025-01-01T00:00:00Z", "actor": "a", "participant": "BW",
                  "action": "certificate.issued", "object_type": "certificate", "object_id": f"BW {seq:07d}",
                  "payload_hash": rules.payload_hash(payload), "prev_hash": prev}
        h = rules.entry_hash(prev, fields)
        kept = rules.canonical(payload).decode() if payloads and seq > legacy else None
        entries.append({**fields, "entry_hash": h, "payload": kept})
        prev = h
    return entries


def test_an_untouched_chain_verifies() -> None:
    assert rules.first_broken(_chain(5)) is None
    assert rules.first_broken(_chain(5, payloads=True)) is None


def test_changing_any_field_names_that_entry() -> None:
    for field in ("actor", "action", "object_id", "payload_hash", "at"):
        chain = _chain(5)
        chain[2][field] = chain[2][field] + "x"
        assert rules.first_broken(chain) == (3, "entry_hash does not match the entry's contents")


def test_removing_or_reordering_entries_is_detected() -> None:
    chain = _chain(5)
    del chain[1]
    assert rules.first_broken(chain)[0] == 3
    chain = _chain(5)
    chain[3], chain[4] = chain[4], chain[3]
    assert rules.first_broken(chain) is not None


def test_a_kept_payload_must_hash_to_its_payload_hash() -> None:
    chain = _chain(4, payloads=True)
    assert hashlib.sha256(chain[1]["payload"].encode()).hexdigest() == chain[1]["payload_hash"]
    chain[1]["payload"] = chain[1]["payload"].replace("issued", "cancelled")
    assert rules.first_broken(chain) == (2, "the payload does not match its payload_hash")


def test_legacy_entries_without_payload_only_before_the_first_kept_one() -> None:
    assert rules.first_broken(_chain(5, payloads=True, legacy=2)) is None
    chain = _chain(5, payloads=True)
    chain[3]["payload"] = None  # dropping a payload to hide what it said
    broken = rules.first_broken(chain)
    assert broken is not None and broken[0] == 4 and "payload is missing" in broken[1]


def test_the_walk_remembers_the_hashes_asked_for() -> None:
    chain = _chain(5, payloads=True)
    walk = rules.ChainWalk(remember=[3])
    assert all(walk.feed(e) for e in chain)
    assert walk.count == 5 and walk.hashes == {3: chain[2]["entry_hash"]}


def test_canonical_payload_is_rfc8785() -> None:
    assert rules.canonical({"b": 1, "a": "é", "c": [True, None]}) == '{"a":"é","b":1,"c":[true,null]}'.encode()
    assert rules.record_hash({"reason": "x"}) == hashlib.sha256(b'{"reason":"x"}').hexdigest()


def test_times_are_spelled_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    assert rules.iso(dt.datetime(2025, 6, 1, 14, 0, tzinfo=paris)) == "2025-06-01T12:00:00Z"
    assert rules.iso(dt.date(2025, 6, 1)) == "2025-06-01"
    assert rules.iso(None) is None


# --- checkpoints ---------------------------------------------------------------------------------------

AT = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def _checkpoint(size: int = 3, head: str = "a" * 64) -> rules.Checkpoint:
    return rules.parse_checkpoint(rules.checkpoint_body(size, head, AT, "node#k"), "node#k")


def test_a_chain_that_extends_its_checkpoint_passes() -> None:
    cp = _checkpoint(3, "a" * 64)
    assert rules.checkpoint_problem(cp, 3, "a" * 64) is None
    assert rules.checkpoint_problem(cp, 7, "a" * 64) is None
    assert rules.checkpoint_problem(_checkpoint(0, rules.GENESIS), 0, None) is None


def test_a_truncated_chain_fails_its_checkpoint() -> None:
    problem = rules.checkpoint_problem(_checkpoint(3), 2, None)
    assert problem is not None and "has 2 entries but the checkpoint of 2025-06-01T12:00:00Z counted 3" in problem


def test_a_rewritten_chain_fails_its_checkpoint_even_at_the_same_size() -> None:
    problem = rules.checkpoint_problem(_checkpoint(3, "a" * 64), 3, "b" * 64)
    assert problem is not None and "entry 3 is not the one the checkpoint" in problem


@pytest.mark.parametrize("change,message", [
    ({"type": "kpcs-trust-list"}, "not an audit checkpoint"),
    ({"size": -1}, "size"),
    ({"size": True}, "size"),
    ({"head_hash": "xyz"}, "head_hash"),
    ({"size": 0}, "genesis"),
    ({"at": "yesterday"}, "time"),
    ({"node_kid": "node#other"}, "signed by"),
])
def test_a_malformed_checkpoint_is_refused(change: dict[str, Any], message: str) -> None:
    body = {**rules.checkpoint_body(3, "a" * 64, AT, "node#k"), **change}
    with pytest.raises(ValueError, match=message):
        rules.parse_checkpoint(body, "node#k")


def test_a_node_key_vouches_only_while_valid() -> None:
    start, end = AT - dt.timedelta(days=1), AT + dt.timedelta(days=1)
    assert rules.key_valid_at(start, None, None, AT)
    assert not rules.key_valid_at(end, None, None, AT)
    assert not rules.key_valid_at(start, AT, None, AT)
    assert not rules.key_valid_at(start, None, AT - dt.timedelta(seconds=1), AT)


# --- state replay --------------------------------------------------------------------------------------

def _fold(*entries: tuple[str, str, str, Any], legacy: int = 0) -> rules.Replay:
    fold = rules.Replay(frozenset({"certificate", "signing_key"}))
    for _ in range(legacy):
        fold.apply(0, "x", "certificate", "?", None, legacy=True)
    for seq, (action, object_type, object_id, payload) in enumerate(entries, start=legacy + 1):
        if fold.wants(action, object_type):
            fold.apply(seq, action, object_type, object_id, payload)
    return fold


def _differences(fold: rules.Replay, object_type: str, current: dict[str, Any]) -> list[tuple[str, str]]:
    return [(oid, kind) for oid, kind, _ in rules.compare(fold.objects[object_type], current.items())]


def test_the_last_state_of_each_object_wins() -> None:
    fold = _fold(("certificate.issued", "certificate", "BW 1", {"state": {"status": "issued"}}),
                 ("certificate.issued", "certificate", "BW 2", {"state": {"status": "issued"}}),
                 ("certificate.confirmed", "certificate", "BW 1", {"state": {"status": "confirmed"}}),
                 ("operator.registered", "operator", "7", {"name": "not tracked"}))
    assert _differences(fold, "certificate", {"BW 1": {"status": "confirmed"}, "BW 2": {"status": "issued"}}) == []
    assert not fold.problems


def test_every_difference_is_named() -> None:
    fold = _fold(("certificate.issued", "certificate", "BW 1", {"state": {"status": "issued"}}),
                 ("certificate.issued", "certificate", "BW 2", {"state": {"status": "issued"}}),
                 ("certificate.issued", "certificate", "BW 3", {"state": {"status": "issued"}}),
                 ("x.deleted", "certificate", "BW 3", {"state": None}))
    found = _differences(fold, "certificate", {"BW 1": {"status": "confirmed"}, "BW 3": {"status": "issued"},
                                               "BW 4": {"status": "issued"}})
    assert sorted(found) == [("BW 1", "changed"), ("BW 2", "not_in_database"), ("BW 3", "not_in_log"),
                             ("BW 4", "not_in_log")]


def test_an_entry_about_a_tracked_object_must_keep_its_state() -> None:
    fold = _fold(("key.retired", "signing_key", "BW-KPA#1", {"valid_until": "2025-01-01"}))
    assert fold.problems == ["entry 1 (key.retired, signing_key BW-KPA#1) does not keep the signing_key's state"]


def test_a_baseline_replaces_what_came_before_for_the_types_it_lists() -> None:
    baseline = {"types": ["certificate", "signing_key"],
                "states": {"certificate": {"BW 1": {"status": "confirmed"}}, "signing_key": {}}}
    fold = _fold(("audit.baseline", "audit", "baseline", baseline),
                 ("certificate.issued", "certificate", "BW 2", {"state": {"status": "issued"}}), legacy=3)
    assert fold.unanchored() is None and fold.baseline_seq == 4
    assert _differences(fold, "certificate", {"BW 1": {"status": "confirmed"}, "BW 2": {"status": "issued"}}) == []


def test_legacy_entries_without_a_baseline_leave_the_replay_unanchored() -> None:
    fold = _fold(("certificate.issued", "certificate", "BW 2", {"state": {"status": "issued"}}), legacy=2)
    message = fold.unanchored()
    assert message is not None and "2 entries from before payloads were kept" in message and "kpcs init" in message


def test_digests_do_not_depend_on_key_order() -> None:
    assert rules.state_digest({"a": 1, "b": [1, "x"]}) == rules.state_digest({"b": [1, "x"], "a": 1})
    assert rules.state_digest({"a": 1}) != rules.state_digest({"a": True})


def test_a_difference_names_each_field() -> None:
    line = rules.describe("certificate", "BW 0000003", "changed",
                          {"status": "confirmed", "kid": "k", "signer_revoked": True},
                          {"status": "issued", "kid": "k", "signer_revoked": False})
    assert line == ("certificate BW 0000003: signer_revoked is true in the database, false in the log; "
                    "status is confirmed in the database, issued in the log")
    assert rules.describe("participant_status", "17", "not_in_log", {}, None) == (
        "participant_status 17 is in the database but not in the log")
    assert rules.describe("api_token", "4", "not_in_database", None, {}) == (
        "api_token 4 is in the log but not in the database")
