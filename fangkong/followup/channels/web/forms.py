"""The resident's form, built from the questionnaire version (works without JavaScript)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fangkong.followup.questions import Kind, Question, Spec
from fangkong.followup.understand import understand_answer
from fangkong.lib.text import to_halfwidth

YES_NO = [("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]


def _field(question: Question) -> forms.Field:
    # Every field is optional at the HTML level: which questions apply depends on other
    # answers, so the form checks what is required once it knows them (clean()).
    if question.kind == Kind.YES_NO:
        return forms.ChoiceField(label=question.label, choices=YES_NO, required=False,
                                 widget=forms.RadioSelect)
    if question.kind == Kind.SINGLE:
        return forms.ChoiceField(label=question.label, required=False, widget=forms.RadioSelect,
                                 choices=[(o.value, o.label) for o in question.options])
    if question.kind == Kind.MULTI:
        return forms.MultipleChoiceField(label=question.label, required=False,
                                         widget=forms.CheckboxSelectMultiple,
                                         choices=[(o.value, o.label) for o in question.options])
    attrs = {"aria-label": question.label}  # the question is the fieldset's legend
    if question.kind in (Kind.TEMPERATURE, Kind.NUMBER):
        attrs.update(inputmode="decimal", autocomplete="off")
    widget = forms.TextInput(attrs=attrs)
    return forms.CharField(label=question.label, required=False, widget=widget,
                           max_length=question.max_length if question.kind == Kind.TEXT else 20)


class AnswerForm(forms.Form):
    def __init__(self, *args: Any, spec: Spec, prefix_key: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        for question in spec.questions:
            field = _field(question)
            field.question = question
            if question.when:
                field.help_text = _("Only if it applies.")
            self.fields[question.key] = field

    def clean(self) -> dict[str, Any]:
        """Answers of the questions that apply, understood and checked; the ones that do
        not apply are dropped (a "no fever" leaves no temperature behind)."""
        data = super().clean()
        answers: dict[str, Any] = {}
        for question in self.spec.questions:
            if not question.applies(answers):
                continue
            raw = data.get(question.key)
            if raw in (None, "", []):
                if question.required and question.kind != Kind.MULTI:
                    self.add_error(question.key, _("Please answer this question."))
                elif question.kind == Kind.MULTI:
                    answers[question.key] = []
                continue
            if question.kind == Kind.YES_NO:
                answers[question.key] = raw == "yes"
            elif question.kind in (Kind.SINGLE, Kind.MULTI):
                answers[question.key] = question.check(raw)
            else:
                understood = understand_answer(question, str(raw))
                if not understood.ok:
                    self.add_error(question.key, understood.problem)
                    continue
                answers[question.key] = understood.value
        self.answers = answers
        return data


FOUR_DIGITS = gettext_lazy("Please enter exactly 4 digits, e.g. 5678.")


class CheckinForm(forms.Form):
    """The building check-in: the last 4 digits of the resident's (or their proxy's) phone.
    Full-width digits and spaces typed on a Chinese keyboard are accepted."""

    last4 = forms.CharField(
        label=gettext_lazy("Last 4 digits of your phone"), max_length=12,
        error_messages={"required": FOUR_DIGITS, "max_length": FOUR_DIGITS},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off",
                                      "size": 4}))

    def clean_last4(self) -> str:
        digits = "".join(to_halfwidth(self.cleaned_data["last4"]).split())
        if len(digits) != 4 or not digits.isascii() or not digits.isdigit():
            raise forms.ValidationError(FOUR_DIGITS)
        return digits
