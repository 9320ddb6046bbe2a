"""Hash chain of the audit log: pure functions over plain values (BRIEF §3).

entry_hash = sha256(prev_hash ‖ canonical JSON of the entry without entry_hash). Changing any
field of any entry, or removing or reordering entries, breaks every later link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import rfc8785

GENESIS = "0" * 64


def payload_hash(payload: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(payload)).hexdigest()


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + rfc8785.dumps(dict(fields))).hexdigest()


def first_broken(entries: Iterable[Mapping[str, Any]]) -> tuple[int, str] | None:
    """Walk entries in seq order; return (seq, reason) of the first that does not verify."""
    prev = GENESIS
    expected_seq = 1
    for e in entries:
        seq = e["seq"]
        if seq != expected_seq:
            return seq, f"sequence gap: expected {expected_seq}"
        if e["prev_hash"] != prev:
            return seq, "prev_hash does not match the previous entry"
        fields = {k: v for k, v in e.items() if k != "entry_hash"}
        if entry_hash(prev, fields) != e["entry_hash"]:
            return seq, "entry_hash does not match the entry's contents"
        prev = e["entry_hash"]
        expected_seq += 1
    return None
