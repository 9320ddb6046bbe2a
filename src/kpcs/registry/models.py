"""Who takes part in the scheme: participants, their authorities and keys, operators, people."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kpcs.registry import rules


class Participant(models.Model):
    """A state, regional economic integration organisation (the EU) or trading entity in the KPCS (DEF-12)."""

    code = models.CharField(_("code"), max_length=2, primary_key=True,
                            help_text=_("ISO 3166-1 alpha-2, or EU"))
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, choices=[(k, k) for k in rules.PARTICIPANT_KINDS])
    admitted_on = models.DateField(
        _("admitted on"), null=True, blank=True,
        help_text=_("first day as a participant; a non-participant before it; empty = not (yet) admitted"))
    admission_precision = models.CharField(
        _("precision of the admission date"), max_length=16, blank=True, default="",
        help_text=_("day, month, year, or unknown (see docs/decisions.md)"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("participant")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ParticipantStatus(models.Model):
    """A date-effective status of a participant (SPEC-07); never overwritten, only closed."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="statuses",
                                    verbose_name=_("participant"))
    status = models.CharField(_("status"), max_length=32, choices=[(s, s) for s in rules.STATUSES])
    scope = models.CharField(_("scope"), max_length=200, blank=True, default="")
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True,
                                help_text=_("first day the status no longer applies; empty = open"))
    cause = models.TextField(_("cause"), blank=True, default="")
    decision_id = models.PositiveBigIntegerField(_("decision"), null=True, blank=True,
                                                 help_text=_("the governance decision that recorded it"))
    source = models.CharField(_("source"), max_length=64, blank=True, default="", db_default="",
                              help_text=_("status-history.csv for the seed; empty when recorded by a decision"))
    closed_by = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                  verbose_name=_("closed by"))
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)

    class Meta:
        ordering = ["participant", "valid_from", "pk"]
        verbose_name = _("participant status")
        verbose_name_plural = _("participant statuses")
        constraints = [
            # valid_to == valid_from: superseded by a corrected record (kept, never applied)
            models.CheckConstraint(condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                                   name="registry_status_valid_range_v2"),
        ]


class ParticipantPolicy(models.Model):
    """A participant's certificate validity (CERT-09) and import confirmation deadline (IMP-02) from a day on.

    Date-effective like statuses (SPEC-07): a certificate is judged by the policy in force on its issue day.
    Never edited: a change is a new row (registry.services.record_policy), in force until the next one's day.
    """

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="policies",
                                    verbose_name=_("participant"))
    valid_from = models.DateField(_("valid from"))
    validity_days = models.PositiveIntegerField(
        _("certificate validity (days)"), help_text=_("longest allowed validity, CERT-09"))
    confirmation_days = models.PositiveIntegerField(
        _("import confirmation deadline (days)"), help_text=_("IMP-02"))
    decision_id = models.PositiveBigIntegerField(_("decision"), null=True, blank=True,
                                                 help_text=_("the governance decision that recorded it"))
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        ordering = ["participant", "valid_from"]
        verbose_name = _("participant policy")
        verbose_name_plural = _("participant policies")
        constraints = [
            models.UniqueConstraint(fields=["participant", "valid_from"], name="registry_policy_unique_day"),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} from {self.valid_from}: {self.validity_days}/{self.confirmation_days} days"

    def as_rule(self) -> rules.Policy:
        return rules.Policy(self.valid_from, self.validity_days, self.confirmation_days)


class Measure(models.Model):
    """A structured measure on a participant (SPEC-01, SPEC-03, SPEC-04), in force from its date."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="measures",
                                    verbose_name=_("participant"))
    kind = models.CharField(_("kind"), max_length=32, choices=[(k, k) for k in rules.MEASURE_KINDS])
    scope = models.CharField(_("scope"), max_length=200, blank=True, default="")
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True,
                                help_text=_("first day the measure no longer applies; empty = open"))
    zones = models.JSONField(_("zones"), default=list, blank=True,
                             help_text=_("compliant zones: [{name, valid_from, valid_to}]"))
    decision_id = models.PositiveBigIntegerField(_("decision"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        ordering = ["participant", "valid_from", "pk"]
        verbose_name = _("measure")
        constraints = [
            models.CheckConstraint(condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                                   name="registry_measure_valid_range"),
        ]

    def as_rule(self) -> rules.Measure:
        return rules.measure_from_dict({"kind": self.kind, "scope": self.scope, "zones": self.zones,
                                        "valid_from": self.valid_from.isoformat(),
                                        "valid_to": self.valid_to.isoformat() if self.valid_to else None})


class Authority(models.Model):
    """A body a participant designated to issue, validate or verify certificates (DEF-07, INT-02)."""

    id = models.CharField(_("id"), max_length=64, primary_key=True)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="authorities",
                                    verbose_name=_("participant"))
    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=100, blank=True, default="")
    member_state = models.CharField(_("member state"), max_length=2, blank=True, default="")
    roles = models.JSONField(_("roles"), default=list, help_text=_("subset of issue_export, validate_export, "
                                                                   "verify_import, statistics"))

    class Meta:
        ordering = ["participant", "id"]
        verbose_name = _("authority")
        verbose_name_plural = _("authorities")

    def __str__(self) -> str:
        return self.id


class SigningKey(models.Model):
    """An Ed25519 key of an authority (or of the node itself, for the trust list).

    The private half stays on this node under KPCS_DATA_DIR with owner-only permissions.
    """

    kid = models.CharField(_("key id"), max_length=128, primary_key=True)
    purpose = models.CharField(_("purpose"), max_length=16, choices=[("authority", "authority"), ("node", "node")])
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="keys", verbose_name=_("authority"))
    public_jwk = models.JSONField(_("public JWK"))
    private_path = models.CharField(_("private key file"), max_length=500)
    created_at = models.DateTimeField(_("created at"))
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revocation_reason = models.CharField(_("revocation reason"), max_length=200, blank=True, default="")
    last_serial = models.BigIntegerField(
        _("highest serial signed"), null=True, blank=True,
        help_text=_("set when the key is retired or revoked: a certificate it signed with a higher serial is not "
                    "genuine, whatever signing time it claims"))
    endorsement = models.TextField(
        _("endorsement by the previous node key"), blank=True, default="",
        help_text=_("for a node key made by rotation: a JWS by the key it replaces, naming this one, so a verifier "
                    "anchored on the old key follows the chain"))

    class Meta:
        ordering = ["authority", "valid_from"]
        verbose_name = _("signing key")

    def __str__(self) -> str:
        return self.kid


class Operator(models.Model):
    """A licensed operator (exporter, importer, miner, dealer…) registered by its participant (INT-06..08)."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="operators",
                                    verbose_name=_("participant"))
    name = models.CharField(_("name"), max_length=200)
    address = models.TextField(_("address"))
    kind = models.CharField(_("kind"), max_length=16, choices=[(k, k) for k in rules.OPERATOR_KINDS])
    licence = models.CharField(_("licence number"), max_length=64)
    valid_from = models.DateField(_("licence valid from"))
    valid_until = models.DateField(_("licence valid until"), null=True, blank=True)
    nationality = models.CharField(_("nationality or residence"), max_length=100, blank=True, default="")
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)

    class Meta:
        ordering = ["participant", "name"]
        verbose_name = _("operator")
        constraints = [
            models.UniqueConstraint(fields=["participant", "licence"], name="registry_operator_unique_licence"),
        ]


class Observer(models.Model):
    """An industry, civil-society or international observer of the scheme (DEF-13, GOV-04)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    constituency = models.CharField(_("constituency"), max_length=32,
                                    choices=[(c, c) for c in rules.OBSERVER_CONSTITUENCIES])

    class Meta:
        ordering = ["name"]
        verbose_name = _("observer")


class Membership(models.Model):
    """A role a user holds, scoped to a participant (and an authority) or across the scheme."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships",
                             verbose_name=_("user"))
    role = models.CharField(_("role"), max_length=32, choices=[(r, r) for r in rules.ROLES])
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, null=True, blank=True,
                                    verbose_name=_("participant"))
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, null=True, blank=True,
                                  verbose_name=_("authority"))

    class Meta:
        verbose_name = _("membership")
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "participant", "authority"],
                                    name="registry_membership_unique"),
        ]


class ApiToken(models.Model):
    """A bearer token for machines; only its SHA-256 is stored, the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens",
                             verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100, blank=True, default="")
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True)
    prefix = models.CharField(_("prefix"), max_length=12)
    created_at = models.DateTimeField(_("created at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})" if self.name else f"{self.prefix}…"


class TrustListIssue(models.Model):
    """One published, signed trust list: every authority key and every participant's status history.

    Issued again when what it lists changes or before its `next_update`; `sequence` only grows, so a verifier
    can refuse to go back to an older list.
    """

    sequence = models.BigIntegerField(_("sequence"), primary_key=True)
    issued_at = models.DateTimeField(_("issued at"))
    next_update = models.DateTimeField(_("next update"))
    content_hash = models.CharField(_("content hash"), max_length=64,
                                    help_text=_("SHA-256 of what the list says, without its dates and sequence"))
    document = models.TextField(_("signed document (JSON)"))

    class Meta:
        ordering = ["-sequence"]
        verbose_name = _("trust list issue")

    def __str__(self) -> str:
        return f"trust list {self.sequence}"


class RegistryVersion(models.Model):
    """One row whose stamp changes with every change to participants, statuses, authorities or keys.

    Each process keeps a snapshot of those (small, rarely changing) tables and re-reads them only when the
    stamp differs, so issuing and verifying cost no registry queries (registry.services.snapshot).
    """

    stamp = models.CharField(_("stamp"), max_length=32)

    class Meta:
        verbose_name = _("registry version")
