"""The audit log's rules: pure functions over plain values (BRIEF §3).

Hash chain: entry_hash = sha256(prev_hash ‖ canonical JSON of the entry without entry_hash), and
payload_hash = sha256 of the canonical JSON payload the entry keeps. Changing any field or payload of any
entry, or removing or reordering entries, breaks every later link; a signed checkpoint (size, head hash) makes
a truncated or re-chained log fail too.

State replay: an entry about a tracked object keeps the object's whole tracked state after the change
(`payload["state"]`, None once deleted). Folding the log (the last state per object) must give the rows as
they are; a row changed behind the log's back is named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import rfc8785

GENESIS = "0" * 64
BASELINE = "audit.baseline"
CHECKPOINT_TYPE = "kpcs-audit-checkpoint"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NOT_HASHED = ("entry_hash", "payload")  # the payload is covered through payload_hash


def canonical(payload: Any) -> bytes:
    """RFC 8785 canonical JSON: the bytes an entry keeps and hashes."""
    return rfc8785.dumps(payload)


def payload_hash(payload: Any) -> str:
    return hashlib.sha256(canonical(payload)).hexdigest()


def record_hash(record: Mapping[str, Any]) -> str:
    """Binds an entry to a row it must not disclose (figures found, reasons): sha256 of the canonical record."""
    return payload_hash(dict(record))


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(dict(fields))).hexdigest()


def iso(value: dt.datetime | dt.date | None) -> str | None:
    """One spelling of a time in states and checkpoints, whatever zone it was given in: UTC, 'Z'."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat()


# --- the chain -----------------------------------------------------------------------------------------

class ChainWalk:
    """Checks entries one at a time in seq order: sequence, links, entry hashes and kept payloads.

    Entries written before payloads were kept (payload None) are legacy entries: their payload_hash cannot be
    checked, so they may only come before the first entry that keeps its payload. `remember` names seqs whose
    entry_hash the caller wants afterwards (a checkpoint's size).
    """

    def __init__(self, remember: Iterable[int] = ()) -> None:
        self.prev = GENESIS
        self.count = 0
        self.broken: tuple[int, str] | None = None
        self.keeps_payloads = False
        self.remember = set(remember)
        self.hashes: dict[int, str] = {}

    def feed(self, e: Mapping[str, Any]) -> bool:
        """Check one entry (chain fields plus `payload`, the canonical text or None); False once broken."""
        if self.broken:
            return False
        seq = e["seq"]
        if seq != self.count + 1:
            self.broken = (seq, f"sequence gap: expected {self.count + 1}")
        elif e["prev_hash"] != self.prev:
            self.broken = (seq, "prev_hash does not match the previous entry")
        elif entry_hash(self.prev, {k: v for k, v in e.items() if k not in _NOT_HASHED}) != e["entry_hash"]:
            self.broken = (seq, "entry_hash does not match the entry's contents")
        else:
            payload = e.get("payload")
            if payload is None:
                if self.keeps_payloads:
                    self.broken = (seq, "the payload is missing (only entries older than the first kept payload "
                                        "may lack one)")
            else:
                self.keeps_payloads = True
                if hashlib.sha256(payload.encode()).hexdigest() != e["payload_hash"]:
                    self.broken = (seq, "the payload does not match its payload_hash")
        if self.broken:
            return False
        self.prev = e["entry_hash"]
        self.count = seq
        if seq in self.remember:
            self.hashes[seq] = e["entry_hash"]
        return True


def first_broken(entries: Iterable[Mapping[str, Any]]) -> tuple[int, str] | None:
    """Walk entries in seq order; return (seq, reason) of the first that does not verify."""
    walk = ChainWalk()
    for e in entries:
        if not walk.feed(e):
            break
    return walk.broken


# --- checkpoints ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    size: int
    head_hash: str
    at: str
    node_kid: str


def checkpoint_body(size: int, head_hash: str, at: dt.datetime, node_kid: str) -> dict[str, Any]:
    """What the node signs: the log had `size` entries, the last one hashing to `head_hash`, at `at`."""
    return {"type": CHECKPOINT_TYPE, "size": size, "head_hash": head_hash, "at": iso(at), "node_kid": node_kid}


def parse_checkpoint(body: Mapping[str, Any], signer: str) -> Checkpoint:
    """A signed body read back; ValueError says what is wrong with it."""
    if body.get("type") != CHECKPOINT_TYPE:
        raise ValueError(f"not an audit checkpoint (type {body.get('type')!r})")
    size, head, at, kid = body.get("size"), body.get("head_hash"), body.get("at"), body.get("node_kid")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("the checkpoint's size is not a count of entries")
    if not isinstance(head, str) or not _HEX64.fullmatch(head):
        raise ValueError("the checkpoint's head_hash is not a SHA-256")
    if size == 0 and head != GENESIS:
        raise ValueError("an empty log's checkpoint must name the genesis hash")
    if not isinstance(at, str) or parse_time(at) is None:
        raise ValueError("the checkpoint's time is not an ISO date-time")
    if kid != signer:
        raise ValueError(f"the checkpoint names node key {kid!r} but is signed by {signer!r}")
    return Checkpoint(size, head, at, signer)


def parse_time(value: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def key_valid_at(valid_from: dt.datetime, valid_until: dt.datetime | None, revoked_at: dt.datetime | None,
                 at: dt.datetime) -> bool:
    """A node key vouches only for what it signed while valid (as for certificates' keys)."""
    return valid_from <= at and (valid_until is None or at < valid_until) and (revoked_at is None or at < revoked_at)


def checkpoint_problem(cp: Checkpoint, size: int, hash_at_size: str | None) -> str | None:
    """Does a chain of `size` verified entries, whose entry `cp.size` hashes to `hash_at_size`, extend `cp`?"""
    if size < cp.size:
        return (f"the log has {size} entries but the checkpoint of {cp.at} counted {cp.size}: "
                f"entries after {size} were removed")
    if cp.size and hash_at_size != cp.head_hash:
        return (f"entry {cp.size} is not the one the checkpoint of {cp.at} signed: the log was rewritten "
                f"up to it")
    return None


# --- state replay --------------------------------------------------------------------------------------

def state_digest(state: Any) -> bytes:
    """A short fingerprint of a state, the same for equal states (str/int/bool/None/lists/dicts)."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).digest()[:16]


DELETED = b""  # the log says the object was deleted


@dataclass
class Replay:
    """The log folded: per tracked object, the fingerprint of its last state (memory stays small)."""

    tracked: frozenset[str]
    objects: dict[str, dict[str, bytes]] = field(default_factory=dict)
    legacy: int = 0
    baseline_seq: int | None = None
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.objects = {t: {} for t in self.tracked}

    def wants(self, action: str, object_type: str) -> bool:
        """Whether apply() needs this entry's payload (so others are never parsed)."""
        return action == BASELINE or object_type in self.tracked

    def apply(self, seq: int, action: str, object_type: str, object_id: str, payload: Any,
              legacy: bool = False) -> None:
        if legacy:
            self.legacy += 1
            return
        if action == BASELINE:
            states = payload.get("states", {}) if isinstance(payload, Mapping) else {}
            for t in payload.get("types", []) if isinstance(payload, Mapping) else []:
                if t in self.tracked:
                    self.objects[t] = {oid: state_digest(s) for oid, s in states.get(t, {}).items()}
            self.baseline_seq = seq
            return
        if object_type not in self.tracked:
            return
        if not isinstance(payload, Mapping) or "state" not in payload:
            self.problems.append(f"entry {seq} ({action}, {object_type} {object_id}) does not keep the "
                                 f"{object_type}'s state")
            return
        state = payload["state"]
        self.objects[object_type][object_id] = DELETED if state is None else state_digest(state)

    def unanchored(self) -> str | None:
        """Legacy entries without a baseline: the log cannot say what the state was before it kept payloads."""
        if self.legacy and self.baseline_seq is None:
            return (f"the log has {self.legacy} entries from before payloads were kept and no baseline: "
                    "run `kpcs init` to record one")
        return None


def compare(logged: dict[str, bytes], current: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, str, Any]]:
    """(object_id, kind, state in the database) for each difference between the log's states and the rows:
    kind is 'changed', 'not_in_log' (a row the log never saw, or saw deleted) or 'not_in_database' (state
    None). Consumes `logged`."""
    for object_id, state in current:
        seen = logged.pop(object_id, None)
        if seen is None or seen == DELETED:
            yield object_id, "not_in_log", state
        elif seen != state_digest(state):
            yield object_id, "changed", state
    for object_id, seen in logged.items():
        if seen != DELETED:
            yield object_id, "not_in_database", None


def _show(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def describe(object_type: str, object_id: str, kind: str, in_database: Mapping[str, Any] | None,
             in_log: Mapping[str, Any] | None) -> str:
    """One line naming the object and, for a changed one, each field that differs."""
    who = f"{object_type} {object_id}"
    if kind == "not_in_log":
        return f"{who} is in the database but not in the log"
    if kind == "not_in_database":
        return f"{who} is in the log but not in the database"
    db, log = dict(in_database or {}), dict(in_log or {})
    fields = [f"{k} is {_show(db.get(k))} in the database, {_show(log.get(k))} in the log"
              for k in sorted(set(db) | set(log)) if db.get(k) != log.get(k)]
    return f"{who}: " + ("; ".join(fields) if fields else "differs from the log")
