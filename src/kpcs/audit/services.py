"""Use cases of the audit log. `record` must run inside the transaction of the change it records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection

from kpcs import clock
from kpcs.audit import rules
from kpcs.audit.models import AuditEntry, ChainHead


def record(*, actor: str, action: str, object_type: str, object_id: str, payload: Any = None,
           participant: str = "", payload_hash: str | None = None) -> AuditEntry:
    """Append an entry; `payload_hash` may be given when the caller already hashed the canonical payload."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must run inside the transaction of the change")
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = ChainHead.objects.create(pk=1, seq=0, hash=rules.GENESIS)
    entry = AuditEntry(
        seq=head.seq + 1, at=clock.now(), actor=actor, participant=participant, action=action,
        object_type=object_type, object_id=str(object_id),
        payload_hash=payload_hash or rules.payload_hash(payload),
        prev_hash=head.hash, entry_hash="",
    )
    fields = entry.chain_fields()
    del fields["entry_hash"]
    entry.entry_hash = rules.entry_hash(head.hash, fields)
    entry.save(force_insert=True)
    ChainHead.objects.filter(pk=1).update(seq=entry.seq, hash=entry.entry_hash)
    return entry


def _entries(batch: int = 5000) -> Iterator[dict[str, object]]:
    last = 0
    while True:
        rows = list(AuditEntry.objects.filter(seq__gt=last).order_by("seq")[:batch])
        if not rows:
            return
        for row in rows:
            yield row.chain_fields()
        last = rows[-1].seq


def verify_chain() -> tuple[int, tuple[int, str] | None]:
    """Return (entries checked, first broken (seq, reason) or None)."""
    count = 0

    def counted() -> Iterator[dict[str, object]]:
        nonlocal count
        for e in _entries():
            count += 1
            yield e

    broken = rules.first_broken(counted())
    if broken is None:
        head = ChainHead.objects.filter(pk=1).first()
        if head is not None and head.seq != count:
            broken = (count + 1, f"chain head says {head.seq} entries but {count} were found")
    return count, broken

