"""Forms of the custody pages. They gather what the API's bodies carry and leave judging to the services:
quantities stay text (the rules parse them and name the rule), and a refusal is put beside the field it concerns,
with its rule id (INT-06..INT-11)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kpcs.custody import rules
from kpcs.errors import DomainError

HS_LABELS = {"7102.10": _("7102.10 unsorted"), "7102.21": _("7102.21 industrial, unworked"),
             "7102.31": _("7102.31 non-industrial, unworked")}
assert set(HS_LABELS) == set(rules.COMMODITY.hs_codes)
MAX_LEDGER_DAYS = 3660


def refusal(exc: DomainError) -> str:
    """A refusal as shown beside its field: the rule id first, then the service's own words."""
    return f"{exc.rule}: {exc.message}" if exc.rule else exc.message


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def _amount(**attrs: Any) -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 12, **attrs})


def _choose(form: forms.Form, name: str, choices: list[tuple[Any, Any]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


class _Refusing(forms.Form):
    """Puts a service's refusal beside its field: the field the refusal names (`details.field`), else the field
    its code concerns; what concerns no field goes above the form."""

    FIELD_OF: dict[str, str] = {}

    def field_for(self, exc: DomainError) -> str | None:
        details = exc.details if isinstance(exc.details, dict) else {}
        named = str(details.get("field", ""))
        if named in self.fields:
            return named
        return self.FIELD_OF.get(exc.code) if self.FIELD_OF.get(exc.code) in self.fields else None

    def add_refusal(self, exc: DomainError) -> None:
        self.add_error(self.field_for(exc), refusal(exc))


def _when(value: dt.datetime | None) -> str | None:
    """A time typed in the page (no offset) is UTC, as the API's examples are; none = now."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC).isoformat() if value.tzinfo is None else value.isoformat()


# --- registers -----------------------------------------------------------------------------------

class SiteForm(_Refusing):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", "—"), *rules.SITE_KIND_LABELS.items()])
    region = forms.CharField(label=_("Region"), max_length=200,
                             help_text=_("As the compliant zones of a measure name it (SPEC-03)."))
    holder = forms.TypedChoiceField(label=_("Holder"), coerce=int,
                                    help_text=_("The operator licensed to produce there (INT-06, INT-07)."))

    FIELD_OF = {"invalid_kind": "kind", "invalid_site": "name", "duplicate_site": "name", "not_found": "holder"}

    def __init__(self, *args: Any, operators: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose(self, "holder", [("", "—"), *operators])


class LicenceForm(_Refusing):
    operator = forms.TypedChoiceField(label=_("Operator"), coerce=int)
    kind = forms.ChoiceField(label=_("Kind"), choices=[("", "—"), *rules.LICENCE_KIND_LABELS.items()])
    number = forms.CharField(label=_("Licence number"), max_length=64)
    area = forms.CharField(label=_("Authorised area"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}), help_text=_("Where the licence applies (INT-07)."))
    valid_from = forms.DateField(label=_("Valid from"), widget=DateInput())
    valid_until = forms.DateField(label=_("Valid until"), required=False, widget=DateInput(),
                                  help_text=_("Last day of validity; leave empty for an open licence."))

    FIELD_OF = {"invalid_kind": "kind", "number_required": "number", "duplicate_licence": "number",
                "invalid_dates": "valid_until", "not_found": "operator"}

    def __init__(self, *args: Any, operators: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose(self, "operator", [("", "—"), *operators])


# --- events --------------------------------------------------------------------------------------

class ProductionForm(_Refusing):
    """One lot produced at a site by its holder (INT-06 industrial mine, INT-07 alluvial area)."""

    site = forms.TypedChoiceField(label=_("Site"), coerce=int)
    occurred_at = forms.DateTimeField(label=_("Date and time (UTC)"), required=False, widget=DateTimeInput(),
                                      help_text=_("Leave empty for now."))
    carats = forms.CharField(label=_("Carats"), max_length=20, widget=_amount(placeholder="0.00"))
    value_usd = forms.CharField(label=_("Value in US dollars"), max_length=20, widget=_amount(placeholder="0.00"))
    hs_code = forms.ChoiceField(label=_("HS code"), choices=[("", "—"), *HS_LABELS.items()])
    stones = forms.IntegerField(label=_("Stones"), required=False, min_value=1, max_value=10**9,
                                widget=forms.NumberInput(attrs={"size": 8}))

    FIELD_OF = {"unlicensed": "site", "licence_not_valid": "site", "not_site_holder": "site", "not_found": "site",
                "invalid_date": "occurred_at", "hs_out_of_scope": "hs_code", "invalid_quantity": "carats"}

    def __init__(self, *args: Any, sites: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose(self, "site", [("", "—"), *sites])

    def request(self) -> dict[str, Any]:
        d = self.cleaned_data
        lot: dict[str, Any] = {"carats": d["carats"].strip(), "value_usd": d["value_usd"].strip(),
                               "hs_code": d["hs_code"]}
        if d["stones"]:
            lot["stones"] = d["stones"]
        body: dict[str, Any] = {"type": "production", "site": d["site"], "produced": [lot]}
        when = _when(d["occurred_at"])
        if when:
            body["occurred_at"] = when
        return body


def parcel_ids(text: str) -> list[int] | str:
    """"12, 15 17" -> [12, 15, 17]; anything that is not a list of ids is returned as typed, for the rules to
    refuse with their own words."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    return [int(p) for p in parts] if parts and all(p.isdigit() and len(p) < 19 for p in parts) else text


class TransferForm(_Refusing):
    """A sale between two licensed operators of the participant, with its invoice and warranty (INT-08, INT-11)."""

    seller = forms.TypedChoiceField(label=_("Seller"), coerce=int)
    buyer = forms.TypedChoiceField(label=_("Buyer"), coerce=int)
    parcels = forms.CharField(label=_("Parcels"), max_length=2000,
                              help_text=_("Numbers of the seller's parcels, separated by commas."),
                              widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))
    carats = forms.CharField(label=_("Carats sold"), required=False, max_length=20, widget=_amount(),
                             help_text=_("To sell part of one parcel only; the rest stays with the seller."))
    value_usd = forms.CharField(label=_("Invoice value in US dollars"), required=False, max_length=20,
                                widget=_amount(), help_text=_("Leave empty to keep each parcel's value."))
    invoice = forms.CharField(label=_("Invoice number"), max_length=200)
    warranty = forms.CharField(label=_("Warranty statement"), max_length=rules.TEXT_MAX,
                               widget=forms.Textarea(attrs={"rows": 3}),
                               help_text=_("As written on the invoice: it guarantees that the diamonds are conflict "
                                           "free (INT-11)."))
    occurred_at = forms.DateTimeField(label=_("Date and time (UTC)"), required=False, widget=DateTimeInput(),
                                      help_text=_("Leave empty for now."))

    FIELD_OF = {"insufficient_stock": "carats", "parcel_consumed": "parcels", "not_holder": "parcels",
                "same_operator": "buyer", "cross_border": "buyer", "invoice_required": "invoice",
                "warranty_required": "warranty", "before_parcel": "parcels", "invalid_date": "occurred_at",
                "invalid_quantity": "carats"}

    def __init__(self, *args: Any, operators: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose(self, "seller", [("", "—"), *operators])
        _choose(self, "buyer", [("", "—"), *operators])

    def field_for(self, exc: DomainError) -> str | None:
        details = exc.details if isinstance(exc.details, dict) else {}
        if exc.code in ("unlicensed", "licence_not_valid"):
            return "buyer" if details.get("role") == gettext("buyer") else "seller"
        if "parcel" in details and exc.code in ("not_found", "parcel_consumed", "not_holder", "before_parcel"):
            return "parcels"
        if details.get("field") == "carats" and exc.code == "invalid_quantity" and not self.cleaned_data.get(
                "carats"):
            return "value_usd"
        if details.get("field") == "value_usd":
            return "value_usd"
        return super().field_for(exc)

    def request(self) -> dict[str, Any]:
        d = self.cleaned_data
        body: dict[str, Any] = {"type": "transfer", "seller": d["seller"], "buyer": d["buyer"],
                                "parcels": parcel_ids(d["parcels"]), "invoice": d["invoice"].strip(),
                                "warranty": d["warranty"].strip()}
        for key in ("carats", "value_usd"):
            if d[key].strip():
                body[key] = d[key].strip()
        when = _when(d["occurred_at"])
        if when:
            body["occurred_at"] = when
        return body


def _amounts(text: str) -> list[str]:
    """"4.00, 6.00 2.5" -> ["4.00", "6.00", "2.5"]: the rules judge each amount in their own words."""
    return [p for p in re.split(r"[\s,;]+", text.strip()) if p]


def _parcels_field(label: Any, help_text: Any) -> forms.CharField:
    return forms.CharField(label=label, max_length=2000, help_text=help_text,
                           widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))


def _occurred_at() -> forms.DateTimeField:
    return forms.DateTimeField(label=_("Date and time (UTC)"), required=False, widget=DateTimeInput(),
                               help_text=_("Leave empty for now."))


class _HeldParcels(_Refusing):
    """An event on parcels its holder keeps or loses (split, merge, loss, seizure): a refusal about a parcel, or
    about the holder's licence (INT-08), goes beside the parcels."""

    PARCELS = "parcels"
    PARCEL_CODES = ("not_found", "parcel_consumed", "not_holder", "before_parcel", "unlicensed",
                    "licence_not_valid")

    def field_for(self, exc: DomainError) -> str | None:
        details = exc.details if isinstance(exc.details, dict) else {}
        if exc.code in self.PARCEL_CODES or details.get("field") == "parcels" or "parcel" in details:
            return self.PARCELS
        return super().field_for(exc)

    def _timed(self, body: dict[str, Any]) -> dict[str, Any]:
        when = _when(self.cleaned_data["occurred_at"])
        if when:
            body["occurred_at"] = when
        return body


class SplitForm(_HeldParcels):
    """One parcel sorted into several; carats conserved to 0.01 ct, origin shares divided (INT-09, CERT-10)."""

    parcels = _parcels_field(_("Parcel"), _("The number of the parcel to split."))
    pieces = forms.CharField(label=_("Carats of each piece"), max_length=2000, widget=_amount(size=40),
                             help_text=_("At least two, separated by commas; they add up to the parcel's carats."))
    values = forms.CharField(label=_("Value of each piece in US dollars"), required=False, max_length=2000,
                             widget=_amount(size=40),
                             help_text=_("In the same order, adding up to the parcel's value; leave empty to divide "
                                         "its value in proportion to the carats."))
    occurred_at = _occurred_at()

    PARCELS = "parcels"
    FIELD_OF = {"carats_not_conserved": "pieces", "value_not_conserved": "values", "invalid_quantity": "pieces",
                "invalid_date": "occurred_at"}

    def field_for(self, exc: DomainError) -> str | None:
        details = exc.details if isinstance(exc.details, dict) else {}
        if details.get("field") == "into" or (exc.code == "invalid_event" and details.get("field") == "carats"):
            return "pieces"
        if details.get("field") == "value_usd":
            return "values"
        return super().field_for(exc)

    def clean(self) -> dict[str, Any]:
        d = super().clean() or {}
        pieces, values = _amounts(d.get("pieces", "")), _amounts(d.get("values", ""))
        if values and len(values) != len(pieces):
            self.add_error("values", _("Give one value for each piece (%(count)s), or none.")
                           % {"count": len(pieces)})
        return d

    def request(self) -> dict[str, Any]:
        d = self.cleaned_data
        pieces, values = _amounts(d["pieces"]), _amounts(d["values"])
        into: list[dict[str, Any]] = [{"carats": c} for c in pieces]
        for piece, value in zip(into, values, strict=False):
            piece["value_usd"] = value
        return self._timed({"type": "split", "parcels": parcel_ids(d["parcels"]), "into": into})


class MergeForm(_HeldParcels):
    """Several parcels of one holder mixed into one, carrying the union of their origins (INT-09, CERT-10)."""

    parcels = _parcels_field(_("Parcels"), _("Numbers of the parcels to mix, at least two, separated by commas."))
    hs_code = forms.ChoiceField(label=_("HS code of the mixed parcel"), required=False,
                                choices=[("", _("the parcels' own")), *HS_LABELS.items()],
                                help_text=_("Needed only when the parcels differ in HS code."))
    occurred_at = _occurred_at()

    FIELD_OF = {"hs_code_required": "hs_code", "hs_out_of_scope": "hs_code", "invalid_date": "occurred_at"}

    def request(self) -> dict[str, Any]:
        d = self.cleaned_data
        body: dict[str, Any] = {"type": "merge", "parcels": parcel_ids(d["parcels"])}
        if d["hs_code"]:
            body["hs_code"] = d["hs_code"]
        return self._timed(body)


class RemovalForm(_HeldParcels):
    """Parcels leaving custody without a buyer: lost, or seized by the authorities, with the reason."""

    parcels = _parcels_field(_("Parcels"), _("Numbers of the parcels, separated by commas."))
    reason = forms.CharField(label=_("Reason"), max_length=rules.TEXT_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    occurred_at = _occurred_at()

    FIELD_OF = {"reason_required": "reason", "invalid_date": "occurred_at"}

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["reason"].help_text = (_("What became of the parcels.") if kind == "loss"
                                           else _("Who seized the parcels, and under which law or decision."))

    def request(self) -> dict[str, Any]:
        d = self.cleaned_data
        return self._timed({"type": self.kind, "parcels": parcel_ids(d["parcels"]), "reason": d["reason"].strip()})


# --- reading -------------------------------------------------------------------------------------

class LedgerForm(forms.Form):
    start = forms.DateField(label=_("First day"), widget=DateInput())
    end = forms.DateField(label=_("Last day"), widget=DateInput())

    def clean(self) -> dict[str, Any]:
        d = super().clean() or {}
        start, end = d.get("start"), d.get("end")
        if start and end and (end < start or (end - start).days > MAX_LEDGER_DAYS):
            self.add_error("end", _("The last day must not be before the first, and a ledger covers at most "
                                    "%(days)s days.") % {"days": MAX_LEDGER_DAYS})
        return d


class EventFilter(forms.Form):
    operator = forms.TypedChoiceField(label=_("Operator"), required=False, coerce=int, empty_value=None)
    site = forms.TypedChoiceField(label=_("Site"), required=False, coerce=int, empty_value=None)
    parcel = forms.IntegerField(label=_("Parcel"), required=False, min_value=1, max_value=2**63 - 1,
                                widget=forms.NumberInput(attrs={"size": 8}))

    def __init__(self, *args: Any, operators: list[tuple[int, str]], sites: list[tuple[int, str]],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choose(self, "operator", [("", _("any operator")), *operators])
        _choose(self, "site", [("", _("any site")), *sites])
