"""The audit hash chain, without a database."""

from __future__ import annotations

from typing import Any

from kpcs.audit import rules


def _chain(n: int) -> list[dict[str, Any]]:
    entries, prev = [], rules.GENESIS
    for seq in range(1, n + 1):
        fields = {"seq": seq, "at": "2025-01-01T00:00:00Z", "actor": "a", "participant": "BW",
                  "action": "certificate.issued", "object_type": "certificate", "object_id": f"BW {seq:07d}",
                  "payload_hash": rules.payload_hash({"n": seq}), "prev_hash": prev}
        h = rules.entry_hash(prev, fields)
        entries.append({**fields, "entry_hash": h})
        prev = h
    return entries


def test_an_untouched_chain_verifies() -> None:
    assert rules.first_broken(_chain(5)) is None


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
