"""Internal controls (INT-06..INT-12): licences, production sites, parcels and the custody events that move them.

Quantities are integers in hundredths (carats in hundredths of a carat, US$ in cents), so conservation is exact.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kpcs.custody import rules
from kpcs.registry.models import Operator, Participant


class Licence(models.Model):
    """A licence an operator holds for a while: to mine, dig, buy, deal, export, import, or carry as agent or
    courier (INT-06..08). A renewal is a new licence; the old one is kept."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="licences",
                                 verbose_name=_("operator"))
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("participant"),
                                    help_text=_("the operator's participant, which issued the licence"))
    kind = models.CharField(_("kind"), max_length=16, choices=list(rules.LICENCE_KIND_LABELS.items()))
    number = models.CharField(_("licence number"), max_length=64)
    area = models.TextField(_("authorised area"), blank=True, default="",
                            help_text=_("where the licence applies (INT-07)"))
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True,
                                   help_text=_("last day of validity; empty = open"))
    recorded_at = models.DateTimeField(_("recorded at"))
    recorded_by = models.CharField(_("recorded by"), max_length=200)

    class Meta:
        ordering = ["participant", "number"]
        verbose_name = _("licence")
        constraints = [
            models.UniqueConstraint(fields=["participant", "number"], name="custody_licence_unique_number"),
            models.CheckConstraint(condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                                   name="custody_licence_valid_range"),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.kind})"


class Site(models.Model):
    """A production site, an industrial mine or an alluvial (artisanal) area, in a region of a participant
    (INT-06, INT-07). Its region is compared with the compliant zones of a measure (SPEC-03, SPEC-04)."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("participant"))
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=list(rules.SITE_KIND_LABELS.items()))
    region = models.CharField(_("region"), max_length=200,
                              help_text=_("as the compliant zones of a measure name it"))
    holder = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+", verbose_name=_("holder"),
                               help_text=_("the operator licensed to produce there"))
    recorded_at = models.DateTimeField(_("recorded at"))
    recorded_by = models.CharField(_("recorded by"), max_length=200)

    class Meta:
        ordering = ["participant", "name"]
        verbose_name = _("site")
        constraints = [
            models.UniqueConstraint(fields=["participant", "name"], name="custody_site_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.participant_id})"


class CustodyBatch(models.Model):
    """A file of custody events recorded at once, all or nothing (`kpcs custody import --bulk`): its events point
    to it, and its one audit entry binds the file by its SHA-256 and counts what it recorded."""

    filename = models.CharField(_("file name"), max_length=255, blank=True, default="")
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64)
    events = models.PositiveIntegerField(_("events"))
    recorded_at = models.DateTimeField(_("recorded at"))
    recorded_by = models.CharField(_("recorded by"), max_length=200)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("custody batch")
        verbose_name_plural = _("custody batches")

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.filename or self.sha256[:12]})"


class CustodyEvent(models.Model):
    """A change of custody or of form: production, transfer, split, merge, loss, seizure. It consumes its input
    parcels and creates its output parcels; the parcels' `created_by` and `consumed_by` are the edges of the
    trace. Never changed once recorded."""

    type = models.CharField(_("type"), max_length=16, choices=list(rules.EVENT_TYPE_LABELS.items()))
    # no index of its own: (participant, occurred_at) below serves it; the fewer indexes, the faster bulk intake
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("participant"), db_index=False)
    occurred_at = models.DateTimeField(_("occurred at"))
    recorded_at = models.DateTimeField(_("recorded at"))
    actor = models.CharField(_("recorded by"), max_length=200)
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+", verbose_name=_("operator"),
                                 help_text=_("the producer, the seller, or the holder"))
    # licences are never deleted and events are not looked up by licence: no index to keep up
    operator_licence = models.ForeignKey(Licence, on_delete=models.PROTECT, null=True, blank=True, db_index=False,
                                         related_name="+", verbose_name=_("operator's licence"))
    counterparty = models.ForeignKey(Operator, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                     verbose_name=_("counterparty"), help_text=_("the buyer of a transfer"))
    counterparty_licence = models.ForeignKey(Licence, on_delete=models.PROTECT, null=True, blank=True,
                                             db_index=False, related_name="+",
                                             verbose_name=_("counterparty's licence"))
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="events",
                             verbose_name=_("site"))
    details = models.JSONField(_("details"), default=dict, blank=True,
                               help_text=_("invoice and warranty statement (INT-11), reason"))
    idempotency_scope = models.CharField(_("idempotency scope"), max_length=200, blank=True, default="")
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, null=True, blank=True)
    request_hash = models.CharField(_("request hash"), max_length=64, blank=True, default="",
                                    help_text=_("SHA-256 of the canonical request: a retry must repeat it"))
    certificate = models.CharField(_("certificate"), max_length=20, blank=True, default="",
                                   help_text=_("the KP certificate an export, import or return moves the goods under"))
    batch = models.ForeignKey(CustodyBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              db_index=False,
                              verbose_name=_("batch"), help_text=_("the file it was recorded from, in bulk"))

    class Meta:
        ordering = ["occurred_at", "pk"]
        verbose_name = _("custody event")
        indexes = [models.Index(fields=["participant", "occurred_at"], name="custody_event_participant"),
                   models.Index(fields=["certificate", "type"], name="custody_event_certificate")]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_scope", "idempotency_key"],
                                    condition=Q(idempotency_key__isnull=False),
                                    name="custody_event_unique_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class Parcel(models.Model):
    """A parcel of rough diamonds with an identity that never changes: made by one event, held by one operator,
    consumed by at most one later event (INT-09)."""

    # no index of its own: (holder, status) below serves it
    holder = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+", verbose_name=_("holder"),
                               db_index=False)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("participant"))
    carats_centi = models.BigIntegerField(_("carats (hundredths)"))
    usd_cents = models.BigIntegerField(_("value (US$ cents)"))
    hs_code = models.CharField(_("HS code"), max_length=8)
    stones = models.PositiveIntegerField(_("stones"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, default="held",
                              choices=list(rules.PARCEL_STATUS_LABELS.items()))
    created_by = models.ForeignKey(CustodyEvent, on_delete=models.PROTECT, related_name="outputs",
                                   verbose_name=_("created by"))
    created_on = models.DateField(_("created on"))
    consumed_by = models.ForeignKey(CustodyEvent, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="inputs", verbose_name=_("consumed by"))
    consumed_on = models.DateField(_("consumed on"), null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("parcel")
        indexes = [models.Index(fields=["holder", "status"], name="custody_parcel_holder")]
        constraints = [
            models.CheckConstraint(condition=Q(carats_centi__gt=0) & Q(usd_cents__gte=0),
                                   name="custody_parcel_quantities"),
            models.CheckConstraint(condition=Q(status="held", consumed_by__isnull=True)
                                   | Q(status="consumed", consumed_by__isnull=False),
                                   name="custody_parcel_consumed_once"),
        ]

    def __str__(self) -> str:
        return f"parcel {self.pk}"


class ParcelOrigin(models.Model):
    """A parcel's share from one country (and site): its rows add up to the parcel's carats (CERT-10)."""

    parcel = models.ForeignKey(Parcel, on_delete=models.PROTECT, related_name="origins", verbose_name=_("parcel"))
    country = models.CharField(_("country of origin"), max_length=2)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("site"), db_index=False)  # (site, parcel) below serves it
    carats_centi = models.BigIntegerField(_("carats (hundredths)"))

    class Meta:
        ordering = ["parcel", "country", "site"]
        verbose_name = _("parcel origin")
        indexes = [models.Index(fields=["site", "parcel"], name="custody_origin_site")]
        constraints = [
            models.CheckConstraint(condition=Q(carats_centi__gt=0), name="custody_origin_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.site_id or ''}".strip()


class CustodyControl(models.Model):
    """A participant runs custody control from a day on (or stops): its certificates are then issued from parcels
    in custody (CERT-10, EXP-06) and the parcels it imports enter custody. A change is a new row, never an edit."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("participant"))
    valid_from = models.DateField(_("valid from"))
    enabled = models.BooleanField(_("custody control on"))
    recorded_at = models.DateTimeField(_("recorded at"))
    recorded_by = models.CharField(_("recorded by"), max_length=200)

    class Meta:
        ordering = ["participant", "valid_from"]
        verbose_name = _("custody control")
        constraints = [
            models.UniqueConstraint(fields=["participant", "valid_from"], name="custody_control_unique_day"),
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} {'on' if self.enabled else 'off'} from {self.valid_from}"
