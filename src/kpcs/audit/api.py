"""Audit API: read the hash-chained log and check it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from kpcs import clock
from kpcs.api import AUTH, Limit, Offset, Page, actor_of, errors, page_bounds, paginate, permission
from kpcs.audit import services
from kpcs.audit.models import AuditEntry
from kpcs.registry import services as registry

router = Router(tags=["audit"])
ERRORS = errors(400, 401, 403)


class EntryOut(Schema):
    seq: int
    at: dt.datetime
    actor: str
    participant: str
    action: str
    object_type: str
    object_id: str
    payload: Any = None  # the canonical payload, parsed; None for an entry from before payloads were kept
    payload_hash: str
    prev_hash: str
    entry_hash: str


class EntryPage(Page):
    items: list[EntryOut]


class AuditVerificationOut(Schema):
    entries: int
    valid: bool  # the chain is intact and the current state matches the log
    first_broken_seq: int | None
    reason: str | None
    state_valid: bool
    objects: int  # tracked objects (certificates, keys, statuses, tokens, users) compared with the log
    difference_count: int
    differences: list[str]  # the first 100, each naming the object and what differs


class CheckpointOut(Schema):
    type: str
    size: int
    head_hash: str
    at: str
    node_kid: str
    jws: str  # the same fields signed by the node key; `kpcs audit verify --checkpoint` reads it


def _entry(e: AuditEntry) -> dict[str, Any]:
    return {**e.chain_fields(), "payload": None if e.payload is None else json.loads(e.payload)}


@router.get("", response={200: EntryPage, **ERRORS}, auth=AUTH, openapi_extra=permission("audit.read"),
            summary="Audit entries, newest first")
def list_entries(request: HttpRequest, object_type: Annotated[str, Field(max_length=64)] | None = None,
                 object_id: Annotated[str, Field(max_length=128)] | None = None, limit: Limit = 100,
                 offset: Offset = 0) -> dict[str, Any]:
    registry.require(actor_of(request), "audit.read")
    limit, offset = page_bounds(limit, offset)
    qs = AuditEntry.objects.order_by("-seq")
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, _entry)


@router.get("/verification", response={200: AuditVerificationOut, **ERRORS}, auth=AUTH,
            openapi_extra=permission("audit.read"),
            summary="Walk the whole hash chain, name the first broken entry, and replay the log against the "
                    "current state, naming every object changed behind its back")
def verify(request: HttpRequest) -> dict[str, Any]:
    registry.require(actor_of(request), "audit.read")
    result = services.verify()
    return {"entries": result.entries, "valid": result.valid,
            "first_broken_seq": result.broken[0] if result.broken else None,
            "reason": result.broken[1] if result.broken else None, "state_valid": result.state_valid,
            "objects": result.objects, "difference_count": result.difference_count,
            "differences": result.differences}


@router.get("/checkpoint", response={200: CheckpointOut, **errors(401, 403, 409)}, auth=AUTH,
            openapi_extra=permission("audit.read"),
            summary="A checkpoint of the log signed by the node key: its size, head hash and time")
def checkpoint(request: HttpRequest) -> dict[str, Any]:
    registry.require(actor_of(request), "audit.read")
    kid, key = registry.signing_key(None, clock.now())
    return services.checkpoint(kid, key)
