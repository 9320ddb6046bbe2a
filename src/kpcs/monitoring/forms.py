"""Forms of the findings pages: they shape the input; the monitoring services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

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
