"""Forms of the governance pages: they shape the input; the governance services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

TEXT = 4000
DATE_HELP = _("YYYY-MM-DD")

TYPE_LABELS = {"administrative": _("administrative decision"), "admission": _("admission"),
               "suspension": _("suspension"), "self_suspension": _("self-suspension"), "removal": _("removal"),
               "readmission": _("readmission"), "measure": _("measure"),
               "amendment": _("core-document amendment"), "notice": _("notice")}
PROCEDURE_LABELS = {"plenary": _("Plenary (consensus)"), "written": _("written procedure")}
STATUS_LABELS = {"proposed": pgettext_lazy("decision", "proposed"), "adopted": pgettext_lazy("decision", "adopted"),
                 "rejected": pgettext_lazy("decision", "rejected"), "withdrawn": pgettext_lazy("decision", "withdrawn")}
POSITION_LABELS = {"support": _("support"), "object": _("objection"), "abstain": _("abstention"),
                   "comment": _("comment")}
MEASURE_LABELS = {"import_ban_by_origin": _("import ban by origin"),
                  "compliant_zones_only": _("exports only from compliant zones"),
                  "enhanced_vigilance": _("enhanced vigilance")}
MEETING_LABELS = {"plenary": _("Plenary"), "intersessional": _("Intersessional"),
                  "special_plenary": _("Special Plenary")}


def _participants() -> list[tuple[str, str]]:
    from kpcs.registry import services as registry

    return [("", "—"), *((code, f"{code} · {name}") for code, name in registry.participant_choices())]


class ProposalForm(forms.Form):
    type = forms.ChoiceField(label=_("Type"), choices=list(TYPE_LABELS.items()))
    participant = forms.ChoiceField(label=_("Participant"), required=False, choices=_participants,
                                    help_text=_("The participant the decision is about (needed for an admission, "
                                                "suspension, self-suspension, removal, readmission or measure)."))
    effective_on = forms.DateField(label=_("Effective on"), help_text=DATE_HELP)
    until = forms.DateField(label=_("Until"), required=False,
                            help_text=_("YYYY-MM-DD; the end of the status or measure, if known."))
    text = forms.CharField(label=_("Text"), widget=forms.Textarea, max_length=TEXT)
    procedure = forms.ChoiceField(label=_("Procedure"), choices=list(PROCEDURE_LABELS.items()),
                                  help_text=_("At a Plenary the Chair adopts by consensus; a written procedure is "
                                              "adopted the day after its deadline if no participant objects."))
    deadline = forms.DateField(label=_("Deadline"), required=False,
                               help_text=_("YYYY-MM-DD; for a written procedure only."))
    meeting = forms.ChoiceField(label=_("Meeting"), required=False,
                                help_text=_("A core-document amendment is proposed at least 90 days before the "
                                            "Plenary that considers it (GOV-07)."))
    measure_kind = forms.ChoiceField(label=_("Measure"), required=False,
                                     choices=[("", "—"), *MEASURE_LABELS.items()],
                                     help_text=_("For a measure decision only."))
    measure_scope = forms.CharField(label=_("Scope of the measure"), required=False, max_length=200)
    zones = forms.CharField(label=_("Compliant zones"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                            max_length=TEXT, help_text=_("One zone per line, for exports only from compliant "
                                                         "zones."))
    lift = forms.IntegerField(label=_("Measure to lift"), required=False, min_value=1, max_value=2**63 - 1,
                              help_text=_("The number of a measure in force on the participant (shown on its page), "
                                          "lifted from the effective date; for a measure or administrative decision "
                                          "only, without a new measure (SPEC-07)."))

    policy_validity_days = forms.IntegerField(
        label=_("Certificate validity (days)"), required=False,
        help_text=_("For an administrative decision only: the participant's longest certificate validity from the "
                    "effective date (1 to 365 days, CERT-09). Empty: unchanged."))
    policy_confirmation_days = forms.IntegerField(
        label=_("Import confirmation deadline (days)"), required=False,
        help_text=_("For an administrative decision only: the participant's import confirmation deadline from the "
                    "effective date (1 to 120 days, IMP-02). Empty: unchanged."))

    def __init__(self, *args: Any, meetings: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["meeting"].choices = [("", "—"), *(meetings or [])]  # type: ignore[attr-defined]

    def policy(self) -> dict[str, Any] | None:
        """The policy change the decision carries, if any (the service checks type and bounds)."""
        given = {key: self.cleaned_data.get(f"policy_{key}") for key in ("validity_days", "confirmation_days")}
        given = {k: v for k, v in given.items() if v is not None}
        return given or None

    def measure(self) -> dict[str, Any] | None:
        kind = self.cleaned_data.get("measure_kind")
        if not kind:
            return None
        zones = [{"name": z.strip()} for z in (self.cleaned_data.get("zones") or "").splitlines() if z.strip()]
        return {"kind": kind, "scope": (self.cleaned_data.get("measure_scope") or "").strip(), "zones": zones}


class PositionForm(forms.Form):
    position = forms.ChoiceField(label=_("Position"), choices=list(POSITION_LABELS.items()),
                                 widget=forms.RadioSelect)
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              max_length=TEXT)

    def __init__(self, *args: Any, delegate_of: list[str] | None = None, observer: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if observer:
            self.fields["position"].help_text = _(
                "You take part as an observer: whatever you choose is recorded as a comment, and an objection "
                "never blocks a decision (GOV-04).")
        if delegate_of and len(delegate_of) > 1:
            self.fields["participant"] = forms.ChoiceField(label=_("For participant"),
                                                           choices=[(c, c) for c in delegate_of])


class AdoptionForm(forms.Form):
    """No fields: the Chair declares consensus; the service checks that no participant objects."""


# --- working groups and applications (issue 8, items 2 and 5) -------------------------------------------------------

MEMBER_ROLE_LABELS = {"chair": _("chair"), "vice_chair": _("vice-chair"), "member": _("member")}
CONSTITUENCY_LABELS = {"government": _("government"), "industry": _("industry"),
                       "civil_society": _("civil society"), "international": _("international organisation"),
                       "non_participant_government": _("non-participating government")}
STAGE_LABELS = {"received": pgettext_lazy("application", "received"),
                "circulated": pgettext_lazy("application", "circulated"),
                "recommended": pgettext_lazy("application", "recommended"),
                "admission_proposed": pgettext_lazy("application", "admission proposed"),
                "admitted": pgettext_lazy("application", "admitted"),
                "not_admitted": pgettext_lazy("application", "not admitted")}
# The groups' names in the reader's language (the API gives the stored English name).
GROUP_LABELS = {"statistics": _("Working Group on Statistics"), "monitoring": _("Working Group on Monitoring"),
                "diamond_experts": _("Working Group of Diamond Experts"),
                "artisanal_alluvial": _("Working Group on Artisanal and Alluvial Production"),
                "participation_chairmanship": _("Committee on Participation and Chairmanship")}
RECOMMENDATION_LABELS = {"admit": _("admit"), "defer": _("defer"), "reject": _("do not admit")}


class MemberForm(forms.Form):
    """A participant or an observer organisation (one of the two) joining a working group."""

    participant = forms.ChoiceField(label=_("Participant"), required=False, choices=_participants)
    observer = forms.ChoiceField(label=_("or observer organisation"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=list(MEMBER_ROLE_LABELS.items()), initial="member")
    valid_from = forms.DateField(label=_("Member from"), help_text=DATE_HELP)
    valid_to = forms.DateField(label=_("Member until"), required=False,
                               help_text=_("YYYY-MM-DD; the first day no longer a member, if known."))

    def __init__(self, *args: Any, observers: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["observer"].choices = [("", "—"), *((o, o) for o in observers or [])]  # type: ignore[attr-defined]


class MemberEndForm(forms.Form):
    on = forms.DateField(label=_("Member until"), help_text=_("YYYY-MM-DD; the first day no longer a member."))


class RecommendationForm(forms.Form):
    """The Committee on Participation and Chairmanship's recommendation, as the Chair records it (GOV-05)."""

    recommend = forms.TypedChoiceField(label=_("The committee recommends"), widget=forms.RadioSelect,
                                       choices=[("yes", _("to admit the applicant")),
                                                ("no", _("not to admit the applicant"))],
                                       coerce=lambda v: v == "yes")
    text = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           max_length=TEXT)
