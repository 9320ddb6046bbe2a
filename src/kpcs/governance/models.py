"""The scheme's governance: chairs, meetings, decisions and the positions taken on them, applications."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kpcs.governance import rules
from kpcs.registry.models import Participant


class Chair(models.Model):
    """The Chair and Vice-Chair of a calendar year (GOV-02)."""

    year = models.PositiveIntegerField(_("year"), primary_key=True)
    chair = models.ForeignKey(Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              verbose_name=_("Chair"))
    vice_chair = models.ForeignKey(Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("Vice-Chair"))

    class Meta:
        ordering = ["year"]
        verbose_name = _("chair")


class Meeting(models.Model):
    """A Plenary or Intersessional meeting (GOV-01)."""

    kind = models.CharField(_("kind"), max_length=32, choices=[(k, k) for k in rules.MEETING_KINDS])
    year = models.PositiveIntegerField(_("year"))
    host = models.ForeignKey(Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("host"))
    place = models.CharField(_("place"), max_length=200, blank=True, default="")
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))

    class Meta:
        ordering = ["starts_on", "pk"]
        verbose_name = _("meeting")

    def __str__(self) -> str:
        return f"{self.kind} {self.year} {self.place}".strip()


class Decision(models.Model):
    """A proposal put to the participants, and what became of it (GOV-03)."""

    type = models.CharField(_("type"), max_length=32, choices=[(t, t) for t in rules.DECISION_TYPES])
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="decisions", verbose_name=_("participant"))
    text = models.TextField(_("text"))
    effective_on = models.DateField(_("effective on"))
    until = models.DateField(_("until"), null=True, blank=True, help_text=_("end of the status or measure, if known"))
    procedure = models.CharField(_("procedure"), max_length=16, choices=[(p, p) for p in rules.PROCEDURES])
    deadline = models.DateField(_("deadline"), null=True, blank=True, help_text=_("written procedure"))
    meeting = models.ForeignKey(Meeting, on_delete=models.PROTECT, null=True, blank=True, related_name="decisions",
                                verbose_name=_("meeting"))
    measure = models.JSONField(_("measure"), null=True, blank=True,
                               help_text=_("for a measure: {kind, scope, zones}"))
    lifts = models.PositiveBigIntegerField(_("lifts measure"), null=True, blank=True,
                                           help_text=_("the measure this decision lifts from its effective date"))
    policy = models.JSONField(_("policy"), null=True, blank=True,
                              help_text=_("for an administrative decision: {validity_days, confirmation_days} of "
                                          "its participant from the effective date (CERT-09, IMP-02)"))
    status = models.CharField(_("status"), max_length=16, default="proposed",
                              choices=[(s, s) for s in rules.DECISION_STATUSES])
    proposed_by = models.CharField(_("proposed by"), max_length=200)
    proposed_at = models.DateTimeField(_("proposed at"))
    decided_by = models.CharField(_("decided by"), max_length=200, blank=True, default="")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True, default="")

    class Meta:
        ordering = ["-proposed_at", "-pk"]
        verbose_name = _("decision")


class Position(models.Model):
    """A position taken on a decision; later ones supersede earlier ones of the same participant, all kept."""

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="positions")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("participant"))
    observer = models.CharField(_("observer"), max_length=200, blank=True, default="")
    position = models.CharField(_("position"), max_length=16, choices=[(p, p) for p in rules.POSITIONS])
    stated = models.CharField(_("position as stated"), max_length=16, choices=[(p, p) for p in rules.POSITIONS])
    comment = models.TextField(_("comment"), blank=True, default="")
    by = models.CharField(_("by"), max_length=200)
    at = models.DateTimeField(_("at"))

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("position")


class Application(models.Model):
    """An application to participate (GOV-05): circulated, recommended, decided."""

    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="application")
    applied_on = models.DateField(_("applied on"))
    circulated = models.ForeignKey(Decision, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("circulation notice"))
    recommendation = models.CharField(_("committee recommendation"), max_length=16, blank=True, default="",
                                      choices=[(r, r) for r in rules.RECOMMENDATIONS])
    recommended_on = models.DateField(_("recommended on"), null=True, blank=True)
    recommendation_note = models.TextField(_("recommendation note"), blank=True, default="")

    class Meta:
        verbose_name = _("application")


class WorkingGroup(models.Model):
    """A working group or committee of the scheme, working between Plenaries (issue 8, item 2)."""

    code = models.CharField(_("code"), max_length=32, primary_key=True)
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        ordering = ["code"]
        verbose_name = _("working group")

    def __str__(self) -> str:
        return self.name


class WorkingGroupMember(models.Model):
    """A participant or an observer organisation in a working group, from a day (to a day, exclusive)."""

    group = models.ForeignKey(WorkingGroup, on_delete=models.PROTECT, related_name="members",
                              verbose_name=_("working group"))
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("participant"))
    observer = models.ForeignKey("registry.Observer", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("observer"))
    role = models.CharField(_("role"), max_length=16, default="member",
                            choices=[("chair", _("chair")), ("vice_chair", _("vice-chair")), ("member", _("member"))])
    valid_from = models.DateField(_("member from"))
    valid_to = models.DateField(_("member until"), null=True, blank=True,
                                help_text=_("first day no longer a member; empty = open"))

    class Meta:
        ordering = ["group", "valid_from", "pk"]
        verbose_name = _("working group member")
        constraints = [
            models.CheckConstraint(condition=Q(participant__isnull=False, observer__isnull=True)
                                   | Q(participant__isnull=True, observer__isnull=False),
                                   name="governance_member_participant_or_observer"),
            models.CheckConstraint(condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                                   name="governance_member_valid_range"),
        ]
