"""Audit API: read the hash-chained log and check it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from kpcs.api import AUTH, ErrorOut, Page, actor_of, page_bounds, paginate, permission
from kpcs.audit import services
from kpcs.audit.models import AuditEntry
from kpcs.registry import services as registry

router = Router(tags=["audit"])
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}


class EntryOut(Schema):
    seq: int
    at: dt.datetime
    actor: str
    participant: str
    action: str
    object_type: str
    object_id: str
    payload_hash: str
    prev_hash: str
    entry_hash: str


class EntryPage(Page):
    items: list[EntryOut]


class ChainOut(Schema):
    entries: int
    valid: bool
    first_broken_seq: int | None
    reason: str | None


@router.get("", response={200: EntryPage, **ERRORS}, auth=AUTH, openapi_extra=permission("audit.read"),
            summary="Audit entries, newest first")
def list_entries(request: HttpRequest, object_type: str | None = None, object_id: str | None = None,
                 limit: int = 100, offset: int = 0) -> dict[str, Any]:
    registry.require(actor_of(request), "audit.read")
    limit, offset = page_bounds(limit, offset)
    qs = AuditEntry.objects.order_by("-seq")
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    return paginate(qs[offset:offset + limit], qs.count(), limit, offset, lambda e: e.chain_fields())


@router.get("/verification", response={200: ChainOut, **ERRORS}, auth=AUTH, openapi_extra=permission("audit.read"),
            summary="Walk the whole hash chain and name the first broken entry")
def verify(request: HttpRequest) -> dict[str, Any]:
    registry.require(actor_of(request), "audit.read")
    count, broken = services.verify_chain()
    return {"entries": count, "valid": broken is None, "first_broken_seq": broken[0] if broken else None,
            "reason": broken[1] if broken else None}
