"""Forms of the certificate pages. They gather what the API's bodies carry and leave judging to the services:
amounts stay text (the rules parse them and name the rule), and a refusal is put beside the field it concerns."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from kpcs.certificates import rules
from kpcs.errors import DomainError

STATUS_LABELS = {
    "issued": _("issued"), "awaiting_confirmation": _("awaiting confirmation"), "confirmed": _("confirmed"),
    "rejected": _("rejected"), "cancelled": _("cancelled"), "expired": _("expired"),
}
DISCREPANCY_LABELS = {
    "seals_broken": _("seals broken"), "content_mismatch": _("content does not match the certificate"),
    "expired": _("certificate expired"), "unknown_signer": _("not genuine: unknown or revoked signer"),
    "other": _("other"),
}
assert set(DISCREPANCY_LABELS) == set(rules.DISCREPANCY_KINDS)
HS_LABELS = {"7102.10": _("7102.10 unsorted"), "7102.21": _("7102.21 industrial, unworked"),
             "7102.31": _("7102.31 non-industrial, unworked")}
assert set(HS_LABELS) == set(rules.HS_IN_SCOPE)


def refusal(exc: DomainError) -> str:
    """A refusal as shown beside its field: the rule id first, then the service's own words."""
    return f"{exc.rule}: {exc.message}" if exc.rule else exc.message


def _field_detail(exc: DomainError) -> str:
    return str(exc.details.get("field", "")) if isinstance(exc.details, dict) else ""


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


def _amount(**attrs: Any) -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 12, **attrs})


# --- issuing -------------------------------------------------------------------------------------

class LineForm(forms.Form):
    hs_code = forms.ChoiceField(label=_("HS code"), required=False,
                                choices=[("", "—"), *HS_LABELS.items()])
    carats = forms.CharField(label=_("Carats"), required=False, max_length=20, widget=_amount(placeholder="0.00"))
    value_usd = forms.CharField(label=_("Value in US dollars"), required=False, max_length=20,
                                widget=_amount(placeholder="0.00"))
    parcels = forms.CharField(label=_("Parcels"), required=False, max_length=8,
                              widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 5}))

    def is_blank(self) -> bool:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return not any(str(data.get(k) or "").strip() for k in self.fields)

    def as_line(self) -> dict[str, Any]:
        d = self.cleaned_data
        parcels = d["parcels"].strip()
        return {"hs_code": d["hs_code"], "carats": d["carats"].strip(), "value_usd": d["value_usd"].strip(),
                "parcels": int(parcels) if parcels.isdigit() else parcels}


LineFormSet = formset_factory(LineForm, extra=0, min_num=3, max_num=100, absolute_max=100)


class IssueForm(forms.Form):
    exporting_participant = forms.ChoiceField(label=_("Exporting participant"))
    importing_participant = forms.ChoiceField(label=_("Importing participant"))
    exporter = forms.ChoiceField(label=_("Exporter (licence)"),
                                 help_text=_("Exporters of the exporting participant whose licence is valid today."))
    importer_name = forms.CharField(label=_("Importer's name"), max_length=200)
    importer_address = forms.CharField(label=_("Importer's address"), max_length=500,
                                       widget=forms.Textarea(attrs={"rows": 2}))
    parcels = forms.CharField(label=_("Parcels in custody"), required=False, max_length=2000,
                              help_text=_("Under custody control: the ids of the exporter's parcels, separated by "
                                          "commas; the lines and the origin are then taken from them."))
    origin = forms.CharField(label=_("Country of origin"), max_length=5, required=False,
                             help_text=_("An ISO country code such as BW, or \"mixed\" for parcels of mixed origin."),
                             widget=forms.TextInput(attrs={"size": 6, "autocomplete": "off"}))
    origin_countries = forms.CharField(label=_("Countries of mining origin"), required=False, max_length=400,
                                       help_text=_("For mixed origin only: codes separated by commas, e.g. BW, NA."))
    totals_carats = forms.CharField(label=_("Total carats"), required=False, max_length=20, widget=_amount())
    totals_value_usd = forms.CharField(label=_("Total value in US dollars"), required=False, max_length=20,
                                       widget=_amount())
    totals_parcels = forms.CharField(label=_("Total number of parcels"), required=False, max_length=8,
                                     widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 5}))
    expires_on = forms.DateField(label=_("Expiry date"), required=False, widget=DateInput(),
                                 help_text=_("Leave empty for the longest validity your participant allows."))
    type = forms.ChoiceField(label=_("Type"), choices=[("standard", _("standard")), ("technical", _("technical"))])

    def __init__(self, *args: Any, exporting: list[str], importing: list[tuple[str, str]],
                 exporters: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choose("exporting_participant", [(p, p) for p in exporting])
        self._choose("importing_participant", [("", "—"), *((c, f"{c} — {n}") for c, n in importing)])
        self._choose("exporter", [("", "—"), *exporters])

    def _choose(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def request(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        """The body the API's issue route takes (CertificateIn), from what was typed."""
        d = self.cleaned_data
        body: dict[str, Any] = {
            "exporting_participant": d["exporting_participant"],
            "importing_participant": d["importing_participant"],
            "exporter": {"licence": d["exporter"]},
            "importer": {"name": d["importer_name"], "address": d["importer_address"]},
            "type": d["type"],
        }
        if d["origin"].strip():
            body["origin"] = d["origin"].strip()
        if lines or not d["parcels"].strip():
            body["lines"] = lines
        parcels = [p for p in re.split(r"[\s,;]+", d["parcels"]) if p]
        if parcels:
            body["parcels"] = [int(p) if p.isascii() and p.isdigit() else p for p in parcels]
        countries = [c for c in re.split(r"[\s,;]+", d["origin_countries"].upper()) if c]
        if countries:
            body["origin_countries"] = countries
        totals: dict[str, Any] = {}
        for key in ("carats", "value_usd", "parcels"):
            value = d[f"totals_{key}"].strip()
            if value:
                totals[key] = int(value) if key == "parcels" and value.isdigit() else value
        if totals:
            body["totals"] = totals
        if d["expires_on"]:
            body["expires_on"] = d["expires_on"].isoformat()
        return body

    FIELD_OF = {
        "invalid_importing_participant": "importing_participant", "same_participant": "importing_participant",
        "non_participant": "importing_participant", "invalid_origin": "origin", "origin_embargoed": "origin",
        "invalid_importer": "importer_name", "invalid_exporter": "exporter", "unknown_operator": "exporter",
        "not_an_exporter": "exporter", "licence_not_valid": "exporter", "invalid_expiry": "expires_on",
        "invalid_date": "expires_on", "invalid_type": "type", "forbidden": "exporting_participant",
        "parcels_required": "parcels", "invalid_parcels": "parcels", "not_holder": "parcels",
        "parcel_consumed": "parcels", "origin_not_cleared": "parcels", "lines_conflict": "parcels",
        "origin_conflict": "origin", "unlicensed": "exporter", "not_found": "parcels",
    }

    def add_refusal(self, exc: DomainError, lines: Any, positions: list[int]) -> None:
        """Put the service's refusal beside the field it concerns: a line's field, a total, or a header field."""
        text = refusal(exc)
        where = _field_detail(exc)
        m = re.fullmatch(r"lines\[(\d+)\]\.(\w+)", where)
        if m and int(m.group(1)) < len(positions):
            lines.forms[positions[int(m.group(1))]].add_error(m.group(2), text)
            return
        if where.startswith("totals."):
            self.add_error(f"totals_{where.split('.', 1)[1]}", text)
            return
        if exc.code == "totals_mismatch" and isinstance(exc.details, dict):
            for key in ("carats", "value_usd", "parcels"):
                if key in exc.details:
                    self.add_error(f"totals_{key}", text)
            return
        if exc.code == "participant_not_active" and isinstance(exc.details, dict):
            side = ("exporting_participant" if exc.details.get("participant") == self.cleaned_data.get(
                "exporting_participant") else "importing_participant")
            self.add_error(side, text)
            return
        if exc.code in ("no_lines", "too_many_lines", "hs_out_of_scope", "invalid_quantity"):
            self.lines_error = text
            return
        field = self.FIELD_OF.get(exc.code)
        if field == "origin" and "origin_countries" in exc.message:
            field = "origin_countries"
        self.add_error(field, text)

    lines_error = ""


# --- the importing side ----------------------------------------------------------------------------

class ConfirmForm(forms.Form):
    """What the API's confirmation takes (IMP-02): the date of receipt and the figures found."""

    received_on = forms.DateField(label=_("Date of receipt"), widget=DateInput())
    parcels = forms.CharField(label=_("Parcels found"), max_length=8,
                              widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 6}))
    carats = forms.CharField(label=_("Carats found"), max_length=20, widget=_amount())
    seals_intact = forms.ChoiceField(label=_("Seals intact"), widget=forms.RadioSelect,
                                     choices=[("yes", _("yes")), ("no", _("no"))])

    def body(self) -> dict[str, Any]:
        d = self.cleaned_data
        parcels = d["parcels"].strip()
        return {"received_on": d["received_on"].isoformat(), "parcels": int(parcels) if parcels.isdigit() else parcels,
                "carats": d["carats"].strip(), "seals_intact": d["seals_intact"] == "yes"}

    FIELD_OF = {"invalid_date": "received_on", "certificate_expired": "received_on", "invalid_seals": "seals_intact",
                "seals_broken": "seals_intact"}

    def add_refusal(self, exc: DomainError) -> None:
        where = _field_detail(exc)
        self.add_error(where if where in self.fields else self.FIELD_OF.get(exc.code), refusal(exc))


class RejectForm(forms.Form):
    """What the API's rejection takes (IMP-08): the kind of discrepancy, the figures found, the reason."""

    kind = forms.ChoiceField(label=_("Discrepancy"), choices=[("", "—"), *DISCREPANCY_LABELS.items()])
    reason = forms.CharField(label=_("What was found"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))
    found_carats = forms.CharField(label=_("Carats found"), required=False, max_length=20, widget=_amount())
    found_value_usd = forms.CharField(label=_("Value found in US dollars"), required=False, max_length=20,
                                      widget=_amount())
    found_parcels = forms.CharField(label=_("Parcels found"), required=False, max_length=8,
                                    widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 6}))

    def body(self) -> dict[str, Any]:
        d = self.cleaned_data
        found: dict[str, Any] = {}
        for key in ("carats", "value_usd", "parcels"):
            value = d[f"found_{key}"].strip()
            if value:
                found[key] = int(value) if key == "parcels" and value.isdigit() else value
        discrepancy: dict[str, Any] = {"kind": d["kind"]}
        if found:
            discrepancy["found"] = found
        return {"reason": d["reason"], "discrepancy": discrepancy}

    def add_refusal(self, exc: DomainError) -> None:
        where = _field_detail(exc)
        if where.startswith("discrepancy.found."):
            field: str | None = "found_" + where.rsplit(".", 1)[1]
        elif exc.code == "reason_required":
            field = "reason"
        elif exc.code == "invalid_discrepancy":
            field = next((f"found_{k}" for k in ("parcels", "carats", "value_usd") if f"found.{k}" in exc.message),
                         "kind")
        else:
            field = None
        self.add_error(field, refusal(exc))


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason for cancelling"), max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 3}))

    def add_refusal(self, exc: DomainError) -> None:
        self.add_error("reason" if exc.code == "reason_required" else None, refusal(exc))


# --- lists and look-up ---------------------------------------------------------------------------

class CertificateFilter(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("any status")), *STATUS_LABELS.items()])
    side = forms.ChoiceField(label=_("Direction"), required=False,
                             choices=[("", _("exports and imports")), ("export", _("exports")),
                                      ("import", _("imports"))])
    participant = forms.CharField(label=_("Partner participant"), required=False, max_length=2,
                                  widget=forms.TextInput(attrs={"size": 3, "placeholder": "EU"}))
    issued_from = forms.DateField(label=_("Issued from"), required=False, widget=DateInput())
    issued_to = forms.DateField(label=_("Issued until"), required=False, widget=DateInput())
    overdue = forms.BooleanField(label=_("Confirmation overdue only"), required=False)


class LookupForm(forms.Form):
    number = forms.CharField(label=_("Certificate number"), required=False, max_length=20,
                             widget=forms.TextInput(attrs={"placeholder": "BW 0000001", "autocomplete": "off"}))
    code = forms.CharField(label=_("Verification code"), required=False, max_length=40,
                           widget=forms.TextInput(attrs={"placeholder": "XXXXX-XXXXX", "autocomplete": "off"}))


class PresentedForm(forms.Form):
    presented = forms.CharField(
        label=_("Scanned QR content or the whole signed certificate"), max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        help_text=_("Scan the QR code into this box, or paste the signed certificate (a KP1: text or a JWS)."))
