"""The append-only, hash-chained event log of every state change on this node."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEntry(models.Model):
    """One state change: who did what to which object, chained to the entry before it."""

    seq = models.BigIntegerField(_("sequence"), unique=True)
    at = models.DateTimeField(_("at"))
    actor = models.CharField(_("actor"), max_length=200)
    participant = models.CharField(_("participant scope"), max_length=2, blank=True, default="")
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=128)
    payload = models.TextField(
        _("payload"), null=True, blank=True,
        help_text=_("canonical JSON (RFC 8785) of what changed; payload_hash is the SHA-256 of exactly these bytes. "
                    "Empty only for entries written before payloads were kept (legacy entries)"))
    payload_hash = models.CharField(_("payload hash"), max_length=64)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    entry_hash = models.CharField(_("entry hash"), max_length=64)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.seq} {self.action} {self.object_type} {self.object_id}"

    def chain_fields(self) -> dict[str, object]:
        """The fields the entry hash covers (the payload through payload_hash)."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "participant": self.participant,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "payload_hash": self.payload_hash,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


class ChainHead(models.Model):
    """Single row holding the chain's tip; locking it serialises appends on every database."""

    seq = models.BigIntegerField(_("last sequence"), default=0)
    hash = models.CharField(_("last hash"), max_length=64)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"audit chain head at {self.seq}"
