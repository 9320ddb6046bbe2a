"""Statistics reported by participants (production, trade) and annual reports.

Trade statistics derived from certificates are computed from the certificate store on demand, never typed
in or copied here; this table keeps what participants submit and what is imported, with its source.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from kpcs.statistics import rules

SOURCES = (("submitted", "submitted"), ("imported", "imported"))
# A batch also records a customs file (CustomsFigure): not KP figures, so never a Figure's source.
BATCH_SOURCES = (*SOURCES, ("customs", "customs"))


class Batch(models.Model):
    """One submission or imported file: where a set of figures came from, who brought it and when."""

    source = models.CharField(_("source"), max_length=16, choices=BATCH_SOURCES)
    filename = models.CharField(_("file name"), max_length=300, blank=True, default="")
    sha256 = models.CharField(_("file SHA-256"), max_length=64, blank=True, default="")
    rows = models.IntegerField(_("rows"))
    created_by = models.CharField(_("created by"), max_length=200)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("statistics batch")
        verbose_name_plural = _("statistics batches")


class Figure(models.Model):
    """One figure in the exchange format. A new figure for the same key is a new revision; the latest counts."""

    period = models.CharField(_("period"), max_length=7)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    participant = models.CharField(_("participant"), max_length=2)
    flow = models.CharField(_("flow"), max_length=10, choices=[(f, f) for f in rules.FLOWS])
    partner = models.CharField(_("partner"), max_length=2, blank=True, default="")
    origin = models.CharField(_("origin"), max_length=2, blank=True, default="")
    hs_code = models.CharField(_("HS code"), max_length=7, blank=True, default="")
    carats_centi = models.BigIntegerField(_("centi-carats"), null=True, blank=True)
    usd_cents = models.BigIntegerField(_("US cents"), null=True, blank=True)
    certificates = models.IntegerField(_("certificates"), null=True, blank=True)
    industrial_carats_centi = models.BigIntegerField(_("industrial centi-carats"), null=True, blank=True)
    artisanal_carats_centi = models.BigIntegerField(_("artisanal centi-carats"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=SOURCES)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="figures", verbose_name=_("batch"))
    row = models.IntegerField(_("row in the file"), null=True, blank=True)
    revision = models.IntegerField(_("revision"), default=1)
    is_current = models.BooleanField(_("current"), default=True)

    class Meta:
        verbose_name = _("figure")
        constraints = [
            models.UniqueConstraint(
                fields=["period", "participant", "flow", "partner", "origin", "hs_code", "source", "revision"],
                name="statistics_figure_unique_revision"),
        ]
        indexes = [
            models.Index(fields=["participant", "period", "is_current"], name="figure_participant_idx"),
            models.Index(fields=["is_current", "flow"], name="figure_current_idx"),
        ]


class TradeCell(models.Model):
    """Running totals of trade derived from certificates, per quarter, participant, flow, partner, origin
    and HS code. Kept in the same transaction as every certificate change that moves them (issue, cancel,
    expire, confirm), so reading a year of statistics never has to walk every certificate line."""

    quarter = models.CharField(_("quarter"), max_length=7)
    participant = models.CharField(_("participant"), max_length=2)
    flow = models.CharField(_("flow"), max_length=6)
    partner = models.CharField(_("partner"), max_length=2)
    origin = models.CharField(_("origin"), max_length=5, help_text=_("a country code, or 'mixed'"))
    hs_code = models.CharField(_("HS code"), max_length=7)
    carats_centi = models.BigIntegerField(_("centi-carats"), default=0)
    value_cents = models.BigIntegerField(_("US cents"), default=0)
    certificates = models.IntegerField(_("certificates"), default=0)

    class Meta:
        verbose_name = _("trade cell")
        constraints = [
            models.UniqueConstraint(fields=["quarter", "participant", "flow", "partner", "origin", "hs_code"],
                                    name="statistics_trade_cell_unique"),
        ]
        indexes = [models.Index(fields=["participant", "quarter"], name="trade_cell_participant_idx")]


class AnnualReport(models.Model):
    """Receipt of a participant's annual report on its implementation of the scheme (STAT-11): one row per
    submission (a revision), each received on the node's clock; compliance counts the first receipt."""

    participant = models.CharField(_("participant"), max_length=2)
    year = models.IntegerField(_("year reported on"))
    revision = models.IntegerField(_("revision"), default=1)
    received_on = models.DateField(_("received on"))
    recorded_by = models.CharField(_("recorded by"), max_length=200)
    note = models.TextField(_("note"), blank=True, default="")

    class Meta:
        verbose_name = _("annual report")
        ordering = ["participant", "year", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "year", "revision"],
                                    name="statistics_annual_report_unique_revision"),
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.year} r{self.revision}"

class CustomsFigure(models.Model):
    """HS 7102 trade as a country's customs reported it (UN Comtrade, ITC Trade Map…), for the Working Group on
    Statistics to cross-check the KP figures (MON-09): not a KP statistic. A changed value for the same key is a
    new revision (the latest counts); an unchanged one is not written again."""

    year = models.IntegerField(_("year"))
    reporter = models.CharField(_("reporting country"), max_length=200, blank=True, default="")
    iso2 = models.CharField(_("reporting country code"), max_length=2)
    participant = models.CharField(_("participant"), max_length=2,
                                   help_text=_("the KP participant the figure counts for: EU member states count "
                                               "for the EU"))
    flow = models.CharField(_("flow"), max_length=6, choices=[(f, f) for f in rules.CUSTOMS_FLOWS])
    hs_code = models.CharField(_("HS code"), max_length=7)
    usd_cents = models.BigIntegerField(_("US cents"))
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="customs_figures",
                              verbose_name=_("batch"))
    row = models.IntegerField(_("row in the file"), null=True, blank=True)
    revision = models.IntegerField(_("revision"), default=1)
    is_current = models.BooleanField(_("current"), default=True)

    class Meta:
        verbose_name = _("customs figure")
        verbose_name_plural = _("customs figures")
        constraints = [
            models.UniqueConstraint(fields=["year", "iso2", "flow", "hs_code", "revision"],
                                    name="statistics_customs_unique_revision"),
        ]
        indexes = [models.Index(fields=["participant", "year", "is_current"], name="customs_participant_idx")]

    def __str__(self) -> str:
        return f"{self.year} {self.iso2} {self.flow} {self.hs_code}: {self.usd_cents / 100:,.2f} USD"
