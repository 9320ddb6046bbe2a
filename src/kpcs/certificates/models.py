"""KP certificates: the signed document that travels with every shipment of rough diamonds."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from kpcs.certificates import rules
from kpcs.registry.models import Authority, Operator, Participant


class SerialCounter(models.Model):
    """Next serial per participant, allocated inside the issuing transaction: gap-free, never reused."""

    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, primary_key=True,
                                       verbose_name=_("participant"))
    last_serial = models.BigIntegerField(_("last serial"), default=0)

    class Meta:
        verbose_name = _("serial counter")


class Certificate(models.Model):
    """A Kimberley Process Certificate (CERT-02): signed at issue, only its status changes afterwards.

    Quantities are kept as integers of the smallest unit (centi-carats, cents): exact and fast to sum.
    """

    number = models.CharField(_("number"), max_length=20, unique=True)
    prefix = models.CharField(_("prefix"), max_length=2)
    serial = models.BigIntegerField(_("serial"))
    type = models.CharField(_("type"), max_length=16, choices=[(t, t) for t in rules.CERTIFICATE_TYPES],
                            default="standard")
    status = models.CharField(_("status"), max_length=16, choices=[(s, s) for s in rules.STATUSES],
                              default="issued")
    issuing_authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="+",
                                          verbose_name=_("issuing authority"))
    exporting_participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+",
                                              verbose_name=_("exporting participant"))
    importing_participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="+",
                                              verbose_name=_("importing participant"))
    exporter = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+", verbose_name=_("exporter"))
    exporter_snapshot = models.JSONField(_("exporter as certified"))
    importer = models.JSONField(_("importer as certified"))
    origin_kind = models.CharField(_("origin kind"), max_length=8)
    origin_countries = models.JSONField(_("countries of origin"), default=list)
    origin = models.CharField(_("origin"), max_length=5, help_text=_("the country of origin, or 'mixed'"))
    issued_on = models.DateField(_("issued on"))
    issued_quarter = models.CharField(_("quarter of issue"), max_length=7, help_text=_("e.g. 2025-Q3, for statistics"))
    issued_at = models.DateTimeField(_("signed at"))
    expires_on = models.DateField(_("expires on"))
    total_carats_centi = models.BigIntegerField(_("total centi-carats"))
    total_value_cents = models.BigIntegerField(_("total value (US cents)"))
    total_parcels = models.IntegerField(_("total parcels"))
    gem_carats_centi = models.BigIntegerField(_("centi-carats outside HS 7102.21"), default=0,
                                              help_text=_("for price checks against the origin's production"))
    gem_value_cents = models.BigIntegerField(_("value outside HS 7102.21 (US cents)"), default=0)
    kid = models.CharField(_("signing key"), max_length=128)
    jws = models.TextField(_("signed certificate (JWS)"))
    qr = models.TextField(_("signed certificate, QR form (KP1:)"), null=True, blank=True,
                          help_text=_("signed at issue by the same key as the JWS; empty for certificates issued "
                                      "before the QR form existed"))
    payload_hash = models.CharField(_("payload hash"), max_length=64)
    issued_by = models.CharField(_("issued by"), max_length=200)
    status_changed_at = models.DateTimeField(_("status changed at"))
    signer_revoked = models.BooleanField(
        _("signing key revoked for it"), default=False,
        help_text=_("its key was revoked before this serial: not genuine, cannot be confirmed, left out of the "
                    "statistics (IMP-08)"))

    from_custody = models.BooleanField(
        _("issued from custody"), default=False,
        help_text=_("its lines and origin come from parcels in custody, which left stock with it (CERT-10)"))

    # Set by the issuing use case so its answer needs no second read of the lines (not a column).
    issued_lines: list[CertificateLine] | None = None
    issued_origins: list[CertificateOrigin] | None = None

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("certificate")
        constraints = [
            models.UniqueConstraint(fields=["prefix", "serial"], name="certificates_unique_prefix_serial"),
            models.CheckConstraint(condition=models.Q(total_carats_centi__gt=0), name="certificates_carats_gt0"),
        ]
        indexes = [
            models.Index(fields=["exporting_participant", "status", "issued_on"], name="cert_export_idx"),
            models.Index(fields=["importing_participant", "status", "issued_on"], name="cert_import_idx"),
            models.Index(fields=["status", "issued_on"], name="cert_status_issued_idx"),  # overdue confirmations
            models.Index(fields=["issued_quarter", "exporting_participant"], name="cert_quarter_idx"),
            # covers the anomaly scan's price check per origin and year without reading the rows
            models.Index(fields=["origin", "issued_on", "status", "gem_carats_centi", "gem_value_cents"],
                         name="cert_origin_price_idx"),
        ]

    def __str__(self) -> str:
        return self.number


class CertificateLine(models.Model):
    """One HS-code line of a certificate (CERT-02 items 11–14)."""

    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="lines",
                                    verbose_name=_("certificate"))
    position = models.PositiveSmallIntegerField(_("position"))
    hs_code = models.CharField(_("HS code"), max_length=7)
    carats_centi = models.BigIntegerField(_("centi-carats"))
    value_cents = models.BigIntegerField(_("value (US cents)"))
    parcels = models.IntegerField(_("parcels"))

    class Meta:
        ordering = ["certificate", "position"]
        verbose_name = _("certificate line")
        constraints = [
            models.UniqueConstraint(fields=["certificate", "position"], name="certificates_unique_line_position"),
        ]


class CertificateOrigin(models.Model):
    """A country's share of a certificate issued from custody: the carats of its parcels mined there (CERT-10).
    The rows add up to the certificate's carats; statistics and verification read them."""

    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="origins",
                                    verbose_name=_("certificate"))
    country = models.CharField(_("country of origin"), max_length=2)
    carats_centi = models.BigIntegerField(_("centi-carats"))

    class Meta:
        ordering = ["certificate", "-carats_centi", "country"]
        verbose_name = _("certificate origin")
        constraints = [
            models.UniqueConstraint(fields=["certificate", "country"], name="certificates_unique_origin_country"),
            models.CheckConstraint(condition=models.Q(carats_centi__gt=0), name="certificates_origin_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.certificate_id} {self.country}"


class ImportConfirmation(models.Model):
    """Receipt confirmed by the importing authority (IMP-02); differences from the certificate are kept."""

    certificate = models.OneToOneField(Certificate, on_delete=models.PROTECT, related_name="confirmation",
                                       verbose_name=_("certificate"))
    received_on = models.DateField(_("received on"))
    received_quarter = models.CharField(_("quarter of receipt"), max_length=7)
    parcels = models.IntegerField(_("parcels received"))
    carats_centi = models.BigIntegerField(_("centi-carats received"))
    seals_intact = models.BooleanField(_("seals intact"))
    differences = models.JSONField(_("differences from the certificate"), default=dict)
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("verifying authority"))
    confirmed_by = models.CharField(_("confirmed by"), max_length=200)
    confirmed_at = models.DateTimeField(_("confirmed at"))

    class Meta:
        verbose_name = _("import confirmation")


class Discrepancy(models.Model):
    """What an importing authority found when it rejected a shipment (IMP-08)."""

    certificate = models.OneToOneField(Certificate, on_delete=models.PROTECT, related_name="discrepancy",
                                       verbose_name=_("certificate"))
    kind = models.CharField(_("kind"), max_length=32, choices=[(k, k) for k in rules.DISCREPANCY_KINDS])
    declared = models.JSONField(_("declared"), default=dict)
    found = models.JSONField(_("found"), default=dict)
    reason = models.TextField(_("reason"))
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("authority"))
    recorded_by = models.CharField(_("recorded by"), max_length=200)
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        verbose_name = _("discrepancy")
        verbose_name_plural = _("discrepancies")


class Cancellation(models.Model):
    """The issuing participant withdrew the certificate before it was used."""

    certificate = models.OneToOneField(Certificate, on_delete=models.PROTECT, related_name="cancellation",
                                       verbose_name=_("certificate"))
    reason = models.TextField(_("reason"))
    cancelled_by = models.CharField(_("cancelled by"), max_length=200)
    cancelled_at = models.DateTimeField(_("cancelled at"))

    class Meta:
        verbose_name = _("cancellation")


