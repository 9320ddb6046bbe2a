"""Findings of the anomaly analysis and their follow-up by the Working Group on Statistics."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from kpcs.monitoring import rules

STATUSES = ("open", "clarification_requested", "answered", "closed", "escalated")


class Finding(models.Model):
    """An anomaly found in the statistics; re-running the analysis updates it instead of duplicating it."""

    fingerprint = models.CharField(_("fingerprint"), max_length=300, unique=True)
    rule = models.CharField(_("rule"), max_length=32, choices=[(r, r) for r in rules.RULES])
    participant = models.CharField(_("participant"), max_length=2)
    period = models.CharField(_("period"), max_length=7)
    subject = models.CharField(_("subject"), max_length=100, blank=True, default="")
    severity = models.CharField(_("severity"), max_length=8, choices=[(s, s) for s in rules.SEVERITIES])
    summary = models.TextField(_("summary"))
    evidence = models.JSONField(_("evidence"))
    status = models.CharField(_("status"), max_length=32, choices=[(s, s) for s in STATUSES], default="open")
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))

    class Meta:
        ordering = ["-last_seen", "rule", "participant"]
        verbose_name = _("finding")
        indexes = [models.Index(fields=["participant", "period"], name="finding_participant_idx")]


class FindingEvent(models.Model):
    """One step of a finding's workflow: who moved it, from what to what, when and why."""

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="events", verbose_name=_("finding"))
    from_status = models.CharField(_("from"), max_length=32, blank=True, default="")
    to_status = models.CharField(_("to"), max_length=32)
    by = models.CharField(_("by"), max_length=200)
    at = models.DateTimeField(_("at"))
    note = models.TextField(_("note"), blank=True, default="")

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("finding event")


class Questionnaire(models.Model):
    """A Data Anomaly Questionnaire sent to the participant (STAT-09); every question must be answered."""

    finding = models.OneToOneField(Finding, on_delete=models.PROTECT, related_name="questionnaire",
                                   verbose_name=_("finding"))
    questions = models.JSONField(_("questions"))
    sent_at = models.DateTimeField(_("sent at"))
    due_on = models.DateField(_("due on"))
    answers = models.JSONField(_("answers"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.CharField(_("answered by"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("questionnaire")
