"""Forms of the findings pages: they shape the input; the monitoring services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from kpcs.monitoring.rules import COMMENT_MAX_LENGTH

TEXT = 4000


class ClarificationForm(forms.Form):
    questions = forms.CharField(label=_("Questions"), widget=forms.Textarea, max_length=TEXT * 5,
                                help_text=_("One question per line. The participant must answer every one (STAT-09)."))
    due_on = forms.DateField(label=_("Answer due on"), required=False,
                             help_text=_("YYYY-MM-DD; 30 days from today if left empty."))

    def question_list(self) -> list[str]:
        return [q.strip() for q in self.cleaned_data["questions"].splitlines() if q.strip()]


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Explanation"), widget=forms.Textarea, max_length=TEXT)


def answer_form(questions: list[str], data: object = None) -> forms.Form:
    """One required text area per question of the questionnaire."""
    form = forms.Form(data)  # type: ignore[arg-type]
    for i, q in enumerate(questions):
        form.fields[f"answer_{i}"] = forms.CharField(label=q, widget=forms.Textarea, max_length=TEXT)
    return form


class ScanForm(forms.Form):
    """What a scan covers (as POST /findings/scan takes it): every rule runs over every figure; the findings kept
    are those of the period and participant given."""

    period = forms.CharField(label=_("Period"), required=False, max_length=7,
                             help_text=_("YYYY, YYYY-H1/H2 or YYYY-Q1..Q4; every period if left empty."))
    participant = forms.ChoiceField(label=_("Participant"), required=False,
                                    choices=lambda: [("", _("every participant")), *_participants()])
    as_of = forms.DateField(label=_("Deadlines judged on"), required=False,
                            help_text=_("YYYY-MM-DD; today if left empty."))


# --- peer review ----------------------------------------------------------------------------------------

NAME = 200
REPORT = 100_000
DATE_HELP = _("YYYY-MM-DD")
OPTIONAL_DATE_HELP = _("YYYY-MM-DD; today if left empty.")


def _participants() -> list[tuple[str, str]]:
    from kpcs.registry import services as registry

    return [(code, f"{code} · {name}") for code, name in registry.participant_choices()]


class ReviewForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=[("visit", _("review visit (on invitation)")),
                                                       ("mission", _("review mission (by decision)"))])
    participant = forms.ChoiceField(label=_("Participant reviewed"), choices=_participants)
    mandate = forms.CharField(label=_("Mandate"), widget=forms.Textarea, max_length=TEXT)
    starts_on = forms.DateField(label=_("Visit starts on"), help_text=DATE_HELP)
    ends_on = forms.DateField(label=_("Visit ends on"), help_text=DATE_HELP)
    decision_reference = forms.CharField(label=_("Decision"), required=False, max_length=NAME,
                                         help_text=_("For a review mission: the decision that sent it."))


class MissionForm(forms.Form):
    mandate = forms.CharField(label=_("Mandate"), widget=forms.Textarea, max_length=TEXT)
    starts_on = forms.DateField(label=_("Visit starts on"), help_text=DATE_HELP)
    ends_on = forms.DateField(label=_("Visit ends on"), help_text=DATE_HELP)
    decision_reference = forms.CharField(label=_("Decision"), required=False, max_length=NAME,
                                         help_text=_("For a review mission: the decision that sent it."))


class TeamMemberForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME)
    constituency = forms.ChoiceField(label=_("Constituency"), choices=[
        ("government", _("government")), ("industry", _("industry")), ("civil_society", _("civil society"))])
    participant = forms.ChoiceField(label=_("Participant"), required=False,
                                    choices=lambda: [("", "—"), *_participants()])
    organisation = forms.CharField(label=_("Organisation"), required=False, max_length=NAME,
                                   help_text=_("For observers: e.g. World Diamond Council."))
    is_leader = forms.BooleanField(label=_("Team leader"), required=False)


class VisitForm(forms.Form):
    starts_on = forms.DateField(label=_("Visit started on"), required=False,
                                help_text=_("YYYY-MM-DD; as planned if left empty."))
    ends_on = forms.DateField(label=_("Visit ended on"), required=False,
                              help_text=_("YYYY-MM-DD; as planned if left empty."))


class ReportForm(forms.Form):
    text = forms.CharField(label=_("Full report (restricted)"), widget=forms.Textarea, max_length=REPORT)
    on = forms.DateField(label=_("Submitted on"), required=False, help_text=OPTIONAL_DATE_HELP)


class PublicationForm(forms.Form):
    public_summary = forms.CharField(label=_("Public summary"), widget=forms.Textarea, max_length=REPORT,
                                     help_text=_("What everyone may read; the full report stays restricted."))
    on = forms.DateField(label=_("Published on"), required=False, help_text=OPTIONAL_DATE_HELP)


class RecommendationForm(forms.Form):
    text = forms.CharField(label=_("Recommendation"), widget=forms.Textarea, max_length=TEXT)
    owner = forms.ChoiceField(label=_("Owner"), choices=_participants)
    due_on = forms.DateField(label=_("Due on"), help_text=DATE_HELP)


class FollowUpForm(forms.Form):
    note = forms.CharField(label=_("Follow-up"), widget=forms.Textarea, max_length=TEXT)
    status = forms.ChoiceField(label=_("Status"), choices=[("in_progress", _("in progress")),
                                                           ("implemented", _("implemented"))])


class CommentForm(forms.Form):
    text = forms.CharField(label=_("Comment"), widget=forms.Textarea, max_length=COMMENT_MAX_LENGTH,
                           help_text=_("Posted with the report on the restricted section (MON-04); it cannot be "
                                       "edited afterwards: add another comment to correct it."))
