"""Forms of the statistics pages: they only shape what the person typed; the services judge it."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_UPLOAD = 20 * 1024 * 1024  # a year of the scheme's figures in the exchange format is a few MB


class ProductionForm(forms.Form):
    participant = forms.CharField(widget=forms.HiddenInput, max_length=2)
    period = forms.CharField(label=_("Period"), max_length=7,
                             help_text=_("A half-year (2025-H1, 2025-H2) or a year (2025)."))
    carats = forms.CharField(label=_("Carats"), max_length=20, required=False,
                             help_text=_("Total production, two decimals at most (11000000.00)."))
    usd = forms.CharField(label=_("Value (US$)"), max_length=20, required=False)
    industrial_carats = forms.CharField(label=_("Industrial mining (carats)"), max_length=20, required=False)
    artisanal_carats = forms.CharField(label=_("Artisanal mining (carats)"), max_length=20, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("File in the exchange format (CSV, UTF-8)"),
                           help_text=_("Columns: period, participant, flow, partner, origin, hs_code, carats, usd, "
                                       "certificates. Every row is checked first; nothing is imported unless "
                                       "every row is valid."))

    def clean_file(self) -> forms.Field:
        f = self.cleaned_data["file"]
        if f.size > MAX_UPLOAD:
            raise forms.ValidationError(_("The file is larger than 20 MB."))
        return f  # type: ignore[no-any-return]
