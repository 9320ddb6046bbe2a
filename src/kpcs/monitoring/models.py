"""Findings of the anomaly analysis and their follow-up by the Working Group on Statistics; peer reviews (review
visits and missions, their teams, reports and recommendations) of the Working Group on Monitoring."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from kpcs.monitoring import rules
from kpcs.registry.models import Participant

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
    review = models.ForeignKey("Review", on_delete=models.PROTECT, null=True, blank=True, related_name="findings",
                               verbose_name=_("review mission"),
                               help_text=_("the review mission this finding was escalated into (MON-11)"))

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


# --- peer review (MON-02..MON-08) ----------------------------------------------------------------------

REVIEW_KIND_LABELS = {"visit": _("review visit"), "mission": _("review mission")}
REVIEW_STATUS_LABELS = {"planned": _("planned"), "visited": _("visited"), "report_submitted": _("report submitted"),
                        "report_published": _("report published"), "closed": _("closed")}
CONSTITUENCY_LABELS = {"government": _("government"), "industry": _("industry"),
                       "civil_society": _("civil society")}
RECOMMENDATION_STATUS_LABELS = {"open": _("open"), "in_progress": _("in progress"),
                                "implemented": _("implemented"), "closed": _("closed")}
assert tuple(REVIEW_KIND_LABELS) == rules.REVIEW_KINDS and tuple(REVIEW_STATUS_LABELS) == rules.REVIEW_STATUSES
assert tuple(CONSTITUENCY_LABELS) == rules.CONSTITUENCIES
assert tuple(RECOMMENDATION_STATUS_LABELS) == rules.RECOMMENDATION_STATUSES


class Review(models.Model):
    """A peer review of one participant: a review visit on its invitation (MON-06) or a review mission by
    decision (MON-02, MON-03), with a mandate, dates, a team, a report (private full text and a public summary,
    MON-04) and recommendations. Its cycle: planned → visited → report_submitted → report_published → closed."""

    kind = models.CharField(_("kind"), max_length=16, choices=list(REVIEW_KIND_LABELS.items()))
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="reviews",
                                    verbose_name=_("participant reviewed"))
    decision_reference = models.CharField(_("decision"), max_length=200, blank=True, default="",
                                          help_text=_("the decision that sent a review mission (a free reference "
                                                      "until decisions are recorded on this node)"))
    mandate = models.TextField(_("mandate"))
    starts_on = models.DateField(_("visit starts on"))
    ends_on = models.DateField(_("visit ends on"))
    status = models.CharField(_("status"), max_length=32, choices=list(REVIEW_STATUS_LABELS.items()),
                              default="planned")
    report_submitted_on = models.DateField(_("report submitted on"), null=True, blank=True)
    report_published_on = models.DateField(_("report published on"), null=True, blank=True)
    report_text = models.TextField(_("full report (restricted)"), blank=True, default="")
    public_summary = models.TextField(_("public summary"), blank=True, default="")
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    created_by = models.CharField(_("created by"), max_length=200)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        ordering = ["-starts_on", "-pk"]
        verbose_name = _("review")
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="review_dates_ordered"),
            models.CheckConstraint(condition=Q(kind__in=rules.REVIEW_KINDS), name="review_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=rules.REVIEW_STATUSES), name="review_status_valid"),
            models.CheckConstraint(condition=Q(status="planned") | Q(status="visited")
                                   | Q(report_submitted_on__isnull=False), name="review_report_dated"),
            models.CheckConstraint(condition=~Q(status="report_published") | Q(report_published_on__isnull=False),
                                   name="review_publication_dated"),
        ]
        indexes = [models.Index(fields=["participant", "status"], name="review_participant_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.participant_id} {self.starts_on}"


class ReviewTeamMember(models.Model):
    """One member of a review team, tagged by constituency (government, industry, civil society); each team has
    exactly one leader (at most one by constraint, at least one before the visit by the service)."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="team", verbose_name=_("review"))
    name = models.CharField(_("name"), max_length=200)
    constituency = models.CharField(_("constituency"), max_length=16, choices=list(CONSTITUENCY_LABELS.items()))
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                    verbose_name=_("participant"))
    organisation = models.CharField(_("organisation"), max_length=200, blank=True, default="")
    is_leader = models.BooleanField(_("team leader"), default=False)

    class Meta:
        ordering = ["-is_leader", "pk"]
        verbose_name = _("review team member")
        constraints = [
            models.UniqueConstraint(fields=["review"], condition=Q(is_leader=True), name="review_one_leader"),
            models.CheckConstraint(condition=Q(participant__isnull=False) | ~Q(organisation=""),
                                   name="review_member_affiliated"),
            models.CheckConstraint(condition=Q(constituency__in=rules.CONSTITUENCIES),
                                   name="review_member_constituency_valid"),
        ]


class Recommendation(models.Model):
    """A recommendation of a review report, owned by a participant, due on a date, followed up until it is
    implemented or closed."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="recommendations",
                               verbose_name=_("review"))
    text = models.TextField(_("recommendation"))
    owner = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner"))
    due_on = models.DateField(_("due on"))
    status = models.CharField(_("status"), max_length=16, choices=list(RECOMMENDATION_STATUS_LABELS.items()),
                              default="open")
    created_by = models.CharField(_("created by"), max_length=200)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        ordering = ["due_on", "pk"]
        verbose_name = _("recommendation")
        constraints = [
            models.CheckConstraint(condition=Q(status__in=rules.RECOMMENDATION_STATUSES),
                                   name="recommendation_status_valid"),
        ]


class FollowUp(models.Model):
    """One follow-up note on a recommendation: who, when, what was said, and the status it moved to."""

    recommendation = models.ForeignKey(Recommendation, on_delete=models.PROTECT, related_name="follow_ups",
                                       verbose_name=_("recommendation"))
    from_status = models.CharField(_("from"), max_length=16)
    to_status = models.CharField(_("to"), max_length=16)
    note = models.TextField(_("note"))
    by = models.CharField(_("by"), max_length=200)
    at = models.DateTimeField(_("at"))

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("follow-up")


class ReviewComment(models.Model):
    """The reviewed participant's comment on a review report (MON-04): its delegate writes it once the report
    reaches the participant and until the report is posted, when the comments are posted with it on the
    restricted section. Never edited: a correction is a later comment."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="comments", verbose_name=_("review"))
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("participant commenting"))
    author = models.CharField(_("author"), max_length=200)
    text = models.TextField(_("comment"))
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("comment on a review report")
        verbose_name_plural = _("comments on review reports")
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="review_comment_not_blank")]

    def __str__(self) -> str:
        return f"{self.participant_id} on review {self.review_id} ({self.created_at:%Y-%m-%d})"


SCAN_STATUSES = (("queued", _("queued")), ("running", _("running")), ("succeeded", _("succeeded")),
                 ("failed", _("failed")))
SCAN_PHASES = (("", _("not started")), ("reading", _("reading the facts")), ("analysing", _("analysing")),
               ("writing", _("writing the findings")), ("done", _("done")))


class Scan(models.Model):
    """One run of the anomaly analysis asked for by the Working Group on Statistics (STAT-09, MON-09), run in the
    background by `kpcs worker`: who asked, when, its scope, how far it got and what it found. The API reports
    this record, not the task backend's, so the backend can change."""

    requested_by = models.CharField(_("requested by"), max_length=200)
    requested_at = models.DateTimeField(_("requested at"))
    period = models.CharField(_("period"), max_length=7, blank=True, default="")
    participant = models.CharField(_("participant"), max_length=2, blank=True, default="")
    as_of = models.DateField(_("deadlines judged on"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=SCAN_STATUSES, default="queued")
    phase = models.CharField(_("phase"), max_length=10, choices=SCAN_PHASES, blank=True, default="")
    fraction = models.FloatField(_("fraction done"), default=0.0)
    task_id = models.CharField(_("task id"), max_length=64, blank=True, default="")
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        _("last sign of life"), null=True, blank=True,
        help_text=_("written by the running scan every KPCS_SCAN_HEARTBEAT seconds: a running scan silent for "
                    "KPCS_SCAN_STALE seconds lost its worker and is marked failed"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    findings = models.IntegerField(_("findings in scope"), null=True, blank=True)
    created = models.IntegerField(_("findings created"), null=True, blank=True)
    revised = models.IntegerField(_("findings revised"), null=True, blank=True)
    error = models.JSONField(_("error"), null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("scan")
        constraints = [
            models.CheckConstraint(condition=Q(fraction__gte=0) & Q(fraction__lte=1), name="scan_fraction_range"),
        ]

    def __str__(self) -> str:
        return f"scan {self.pk} ({self.status})"
