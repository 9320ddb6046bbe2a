"""Forms of the registry's pages: they only gather what the services take; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kpcs.errors import DomainError
from kpcs.registry import rules

KIND_LABELS = {
    "exporter": _("exporter"), "importer": _("importer"), "miner": _("miner"), "digger": _("digger"),
    "buyer": _("buyer"), "dealer": _("dealer"), "agent": _("agent"), "courier": _("courier"),
}
assert set(KIND_LABELS) == set(rules.OPERATOR_KINDS)
KIND_CHOICES = [(k, KIND_LABELS[k]) for k in rules.OPERATOR_KINDS]


def refusal(exc: DomainError) -> str:
    """A refusal as shown beside its field: the rule id first, then the service's own words."""
    return f"{exc.rule}: {exc.message}" if exc.rule else exc.message


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class OperatorFilter(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("all kinds")), *KIND_CHOICES])
    valid_on = forms.DateField(label=_("Licence valid on"), required=False, widget=DateInput())
    participant = forms.CharField(label=_("Participant"), required=False, max_length=2,
                                  widget=forms.TextInput(attrs={"size": 3, "placeholder": "BW"}))


class OperatorForm(forms.Form):
    participant = forms.ChoiceField(label=_("Participant"))
    name = forms.CharField(label=_("Name"), max_length=200)
    address = forms.CharField(label=_("Address"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    kind = forms.ChoiceField(label=_("Kind"), choices=KIND_CHOICES)
    licence = forms.CharField(label=_("Licence number"), max_length=64)
    valid_from = forms.DateField(label=_("Licence valid from"), widget=DateInput())
    valid_until = forms.DateField(label=_("Licence valid until"), required=False, widget=DateInput(),
                                  help_text=_("Leave empty for a licence without an end date."))
    nationality = forms.CharField(label=_("Nationality or residence"), max_length=100, required=False)

    # Where a refusal of the service belongs, by its code.
    FIELD_OF = {"invalid_kind": "kind", "invalid_dates": "valid_until", "duplicate_licence": "licence",
                "not_found": "participant", "forbidden": "participant"}

    def __init__(self, *args: Any, participants: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["participant"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(p, p) for p in participants]
        if len(participants) == 1:
            self.fields["participant"].initial = participants[0]

    def add_refusal(self, exc: DomainError) -> None:
        self.add_error(self.FIELD_OF.get(exc.code), refusal(exc))
