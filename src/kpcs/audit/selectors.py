"""Read-only queries the audit log publishes to other apps: the history of one object, for its own page.

The owning app decides who may see the object (and so its history) before asking; the log itself keeps no
commercial details (`payload["state"]` and record hashes only), so what is returned is who did what and when.
"""

from __future__ import annotations

import json
from typing import Any

from kpcs.audit.models import AuditEntry


def history(object_type: str, object_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """The entries about one object, oldest first: seq, at, actor, action, participant and the parsed payload."""
    rows = (AuditEntry.objects.filter(object_type=object_type, object_id=object_id).order_by("seq")
            .values_list("seq", "at", "actor", "action", "participant", "payload")[:limit])
    return [{"seq": seq, "at": at, "actor": actor, "action": action, "participant": participant,
             "payload": json.loads(payload) if payload else None}
            for seq, at, actor, action, participant, payload in rows]
