"""Use cases of the audit log. `record` must run inside the transaction of the change it records."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, transaction
from django.utils.translation import gettext as _

from kpcs import clock, crypto
from kpcs.audit import replay, rules
from kpcs.audit.models import AuditEntry, ChainHead
from kpcs.errors import Conflict

record_hash = rules.record_hash
iso = rules.iso


def record(*, actor: str, action: str, object_type: str, object_id: str, payload: Any = None,
           participant: str = "") -> AuditEntry:
    """Append an entry keeping `payload` as canonical JSON; its hash is computed from exactly those bytes.

    An entry about a tracked object (see `replay`) must carry `payload["state"]`: the object's whole tracked
    state after the change, from the owning app's selectors (None once it is deleted).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must run inside the transaction of the change")
    head = _locked_head()
    entry = _chained(head.seq + 1, head.hash, actor=actor, action=action, object_type=object_type,
                     object_id=object_id, payload=payload, participant=participant)
    entry.save(force_insert=True)
    ChainHead.objects.filter(pk=1).update(seq=entry.seq, hash=entry.entry_hash)
    return entry


def record_many(entries: Sequence[Mapping[str, Any]]) -> list[AuditEntry]:
    """Append several entries at once, each a dict of `record`'s arguments, in order: one lock of the chain head,
    the entries chained exactly as `record` chains them (a verifier cannot tell them apart), one INSERT of them
    all, one update of the head. For a use case that makes many changes in one transaction (a first scan's
    findings); must run inside that transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record_many must run inside the transaction of the changes")
    if not entries:
        return []
    head = _locked_head()
    seq, prev = head.seq, head.hash
    rows = []
    for e in entries:
        unknown = set(e) - _RECORD_ARGS
        if unknown:
            raise TypeError(f"audit.record_many: unknown argument(s) {', '.join(sorted(unknown))}")
        seq += 1
        entry = _chained(seq, prev, **e)
        rows.append(entry)
        prev = entry.entry_hash
    AuditEntry.objects.bulk_create(rows, batch_size=500)
    ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
    return rows


_RECORD_ARGS = frozenset({"actor", "action", "object_type", "object_id", "payload", "participant"})


def _locked_head() -> ChainHead:
    """The chain head, locked until the transaction ends (created on the first entry)."""
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = ChainHead.objects.create(pk=1, seq=0, hash=rules.GENESIS)
    return head


def _chained(seq: int, prev_hash: str, *, actor: str, action: str, object_type: str, object_id: Any,
             payload: Any = None, participant: str = "") -> AuditEntry:
    """The entry `seq` after `prev_hash`, its payload kept as canonical JSON and hashed from exactly those bytes
    (not saved)."""
    body = rules.canonical(payload)
    entry = AuditEntry(
        seq=seq, at=clock.now(), actor=actor, participant=participant, action=action,
        object_type=object_type, object_id=str(object_id), payload=body.decode(),
        payload_hash=hashlib.sha256(body).hexdigest(), prev_hash=prev_hash, entry_hash="",
    )
    fields = entry.chain_fields()
    del fields["entry_hash"]
    entry.entry_hash = rules.entry_hash(prev_hash, fields)
    return entry


_FIELDS = ("seq", "at", "actor", "participant", "action", "object_type", "object_id", "payload_hash", "prev_hash",
           "entry_hash", "payload")


def _rows(after: int = 0, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Entries in seq order as chain fields plus `payload` (text), a batch at a time."""
    last = after
    while True:
        rows = list(AuditEntry.objects.filter(seq__gt=last).order_by("seq").values_list(*_FIELDS)[:batch])
        if not rows:
            return
        for row in rows:
            e = dict(zip(_FIELDS, row, strict=True))
            e["at"] = e["at"].isoformat().replace("+00:00", "Z")  # as AuditEntry.chain_fields spells it
            yield e
        last = rows[-1][0]


def _head() -> tuple[int, str]:
    head = ChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    return head or (0, rules.GENESIS)


def _head_problem(walk: rules.ChainWalk, head: tuple[int, str]) -> tuple[int, str] | None:
    """The head row is read before the walk (entries may be appended meanwhile): the walk must reach it."""
    seq, hash_ = head
    if walk.count < seq:
        return walk.count + 1, f"chain head says {seq} entries but {walk.count} were found"
    if seq and walk.hashes.get(seq) != hash_:
        return seq, "the chain head's hash is not this entry's"
    return None


def recorded(action: str) -> bool:
    """Whether the log holds any entry of this action (e.g. that the demo was loaded into this node)."""
    return AuditEntry.objects.filter(action=action).exists()


def verify_chain() -> tuple[int, tuple[int, str] | None]:
    """Return (entries checked, first broken (seq, reason) or None): links, hashes and kept payloads."""
    head = _head()
    walk = rules.ChainWalk(remember=[head[0]])
    for e in _rows():
        if not walk.feed(e):
            break
    return walk.count, walk.broken or _head_problem(walk, head)


# --- verification: chain, checkpoint, state replay -----------------------------------------------------

@dataclass
class Verification:
    entries: int = 0
    broken: tuple[int, str] | None = None
    checkpoint: rules.Checkpoint | None = None
    checkpoint_problem: str | None = None
    state_checked: bool = False  # not when the chain is broken: replaying a broken log proves nothing
    objects: int = 0  # tracked objects compared with the log
    differences: list[str] = field(default_factory=list)  # the first `limit`
    difference_count: int = 0

    @property
    def valid(self) -> bool:
        return self.broken is None and self.checkpoint_problem is None and self.difference_count == 0

    @property
    def state_valid(self) -> bool:
        return self.state_checked and self.difference_count == 0


def verify(checkpoint: rules.Checkpoint | None = None, limit: int = 100) -> Verification:
    """Walk the chain once, checking links, payloads, the checkpoint it must extend, and fold the tracked
    states; then compare the fold with the current rows and name every difference (the first `limit`)."""
    result = Verification(checkpoint=checkpoint)
    head = _head()
    walk = rules.ChainWalk(remember=[head[0]] + ([checkpoint.size] if checkpoint else []))
    sources = replay.sources()
    fold = rules.Replay(frozenset(sources))
    last = 0
    for e in _rows():
        if not walk.feed(e):
            break
        _apply(fold, e)
        last = e["seq"]
    result.entries = walk.count
    result.broken = walk.broken or _head_problem(walk, head)
    if result.broken:
        return result
    if checkpoint is not None:
        result.checkpoint_problem = rules.checkpoint_problem(checkpoint, walk.count, walk.hashes.get(checkpoint.size))
    result.state_checked = True
    unanchored = fold.unanchored()
    if unanchored:
        result.differences, result.difference_count = [unanchored], 1
        return result
    pending: list[tuple[str, str, replay.State | None]] = []
    for object_type, source in sources.items():
        current = _Counted(source.current_states())
        for object_id, _kind, state in rules.compare(fold.objects[object_type], current):
            pending.append((object_type, object_id, state))
        result.objects += current.count
    pending, last = _settle(pending, last, sources)
    problems = fold.problems + [_describe(t, oid, state, last) for t, oid, state in pending]
    result.difference_count = len(problems)
    result.differences = problems[:limit]
    return result


class _Counted:
    def __init__(self, items: Iterable[tuple[str, replay.State]]) -> None:
        self.items, self.count = items, 0

    def __iter__(self) -> Iterator[tuple[str, replay.State]]:
        for item in self.items:
            self.count += 1
            yield item


def _apply(fold: rules.Replay, e: Mapping[str, Any]) -> None:
    if e["payload"] is None:
        fold.apply(e["seq"], e["action"], e["object_type"], e["object_id"], None, legacy=True)
    elif fold.wants(e["action"], e["object_type"]):
        fold.apply(e["seq"], e["action"], e["object_type"], e["object_id"], json.loads(e["payload"]))


def _settle(pending: list[tuple[str, str, replay.State | None]], last: int, sources: dict[str, replay.Source],
            rounds: int = 3) -> tuple[list[tuple[str, str, replay.State | None]], int]:
    """Drop differences made by changes committed while we read: each such change has an entry after `last`,
    so fold those entries and look at the object again (a few rounds, as changes may keep coming)."""
    for _round in range(rounds):
        if not pending:
            break
        newer = rules.Replay(frozenset(sources))
        for e in _rows(after=last):
            _apply(newer, e)
            last = e["seq"]
        still = []
        for object_type, object_id, state in pending:
            digest = newer.objects[object_type].get(object_id)
            if digest is None:
                still.append((object_type, object_id, state))
                continue
            now = sources[object_type].state_of(object_id)
            if digest != (rules.DELETED if now is None else rules.state_digest(now)):
                still.append((object_type, object_id, now))
        pending = still
    return pending, last


def _logged_state(object_type: str, object_id: str, upto: int) -> tuple[bool, Any]:
    """(whether the log has the object, its last state there): only read for a difference."""
    latest = None
    for seq, text in (AuditEntry.objects.filter(object_type=object_type, object_id=object_id, seq__lte=upto,
                                                payload__isnull=False)
                      .order_by("-seq").values_list("seq", "payload").iterator(chunk_size=50)):
        payload = json.loads(text or "null")
        if isinstance(payload, dict) and "state" in payload:
            latest = (seq, payload["state"])
            break
    baseline = (AuditEntry.objects.filter(action=rules.BASELINE, seq__lte=upto).order_by("-seq")
                .values_list("seq", "payload").first())
    if baseline and (latest is None or baseline[0] > latest[0]):
        states = json.loads(baseline[1] or "{}").get("states", {}).get(object_type, {})
        return object_id in states, states.get(object_id)
    return (latest is not None, latest[1]) if latest else (False, None)


def _describe(object_type: str, object_id: str, state: replay.State | None, upto: int) -> str:
    known, logged = _logged_state(object_type, object_id, upto)
    if state is None:
        kind = "not_in_database"
    elif not known or logged is None:
        kind = "not_in_log"
    else:
        kind = "changed"
    return rules.describe(object_type, object_id, kind, state, logged)


# --- baseline ------------------------------------------------------------------------------------------

def ensure_baseline(actor: str) -> AuditEntry | None:
    """On a log begun before payloads were kept, record once the current state of every tracked object,
    from which the state replay starts (the log cannot vouch for what happened before it)."""
    with transaction.atomic():
        if not AuditEntry.objects.filter(payload__isnull=True).exists():
            return None
        if AuditEntry.objects.filter(action=rules.BASELINE).exists():
            return None
        sources = replay.sources()
        states = {t: dict(source.current_states()) for t, source in sources.items()}
        return record(actor=actor, action=rules.BASELINE, object_type="audit", object_id="baseline",
                      payload={"types": sorted(states), "states": states,
                               "counts": {t: len(s) for t, s in states.items()}})


# --- checkpoints ---------------------------------------------------------------------------------------

class CheckpointRefused(Exception):
    """The checkpoint cannot be trusted: not signed by a node key of this node, forged, or malformed."""


def checkpoint(kid: str, private_key: Ed25519PrivateKey, now: dt.datetime | None = None) -> dict[str, Any]:
    """A checkpoint of the log as it stands, signed by the node key: keep it off the node, and a later
    `kpcs audit verify --checkpoint` shows the log still extends it (nothing removed or rewritten)."""
    last = AuditEntry.objects.order_by("-seq").values_list("seq", "entry_hash").first() or (0, rules.GENESIS)
    if _head() != last:
        raise Conflict(_("the chain head does not match the last entry; run `kpcs audit verify`"),
                       code="audit_chain_broken")
    body = rules.checkpoint_body(last[0], last[1], now or clock.now(), kid)
    return {**body, "jws": crypto.sign(body, private_key, kid)}


def read_checkpoint(document: str, node_key: Callable[[str], Mapping[str, Any] | None]) -> rules.Checkpoint:
    """Check a checkpoint (its JSON document, or the bare JWS) against this node's node keys.

    `node_key(kid)` gives {"jwk", "valid_from", "valid_until", "revoked_at"} of a node key, None otherwise.
    """
    token = document.strip()
    claimed: dict[str, Any] = {}
    if token.startswith("{"):
        try:
            parsed = json.loads(token)
        except ValueError as exc:
            raise CheckpointRefused(f"the checkpoint is not JSON: {exc}") from None
        claimed = parsed if isinstance(parsed, dict) else {}
        token = claimed.get("jws", "")
        if not isinstance(token, str) or not token:
            raise CheckpointRefused("the checkpoint document holds no signed checkpoint (jws)")
    try:
        header, _payload = crypto.unverified_parts(token)
    except crypto.BadSignature as exc:
        raise CheckpointRefused(f"not a signed checkpoint: {exc}") from None
    kid = header.get("kid")
    key = node_key(kid) if isinstance(kid, str) else None
    if key is None or not isinstance(kid, str):
        raise CheckpointRefused(f"the checkpoint is signed by {kid!r}, which is not a node key of this node")
    try:
        body = crypto.verify(token, key["jwk"])
    except crypto.BadSignature as exc:
        raise CheckpointRefused(f"the checkpoint's signature does not verify with node key {kid} ({exc}): "
                                "it is forged or was altered") from None
    try:
        cp = rules.parse_checkpoint(body, kid)
    except ValueError as exc:
        raise CheckpointRefused(str(exc)) from None
    shown = [k for k, v in body.items() if k in claimed and claimed[k] != v]
    if shown:  # a reader of the file must not be told otherwise than what was signed
        raise CheckpointRefused(f"the document's {', '.join(shown)} differs from what is signed")
    at = rules.parse_time(cp.at)
    assert at is not None  # parse_checkpoint checked it
    if not rules.key_valid_at(key["valid_from"], key["valid_until"], key["revoked_at"], at):
        raise CheckpointRefused(f"node key {kid} was not valid at {cp.at}, when the checkpoint says it was signed")
    return cp
