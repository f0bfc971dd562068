"""Forms of the staff pages: resolving an alert, creating a campaign."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fangkong.followup.models import AlertOutcome, Questionnaire, QuestionnaireVersion
from fangkong.residents.models import Tag

CHANNEL_CHOICES = [("", _("(none)")), ("web", _("Web link by SMS")), ("sms", _("SMS questions")),
                   ("voice", _("Robot voice call")), ("visit", _("Door visit"))]
ISOLATION_CHOICES = [("", _("Anyone")), ("any", _("In isolation or health monitoring")),
                     ("isolation", _("In home isolation")),
                     ("monitoring", _("In home health monitoring"))]
WEEKDAYS = [(0, _("Mon")), (1, _("Tue")), (2, _("Wed")), (3, _("Thu")), (4, _("Fri")),
            (5, _("Sat")), (6, _("Sun"))]


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(label=_("What was done"), choices=AlertOutcome.choices,
                                widget=forms.RadioSelect)
    note = forms.CharField(label=_("Note"), required=False, max_length=300,
                           widget=forms.Textarea(attrs={"rows": 2}))


class CampaignForm(forms.Form):
    """The campaign in a few minutes: purpose, questionnaire, target, times, channels."""

    name = forms.CharField(label=_("Name"), max_length=80,
                           help_text=_("For example: 居家隔离人员每日两次健康监测"))
    purpose = forms.CharField(label=_("Purpose (shown to residents)"), max_length=300,
                              widget=forms.Textarea(attrs={"rows": 2}))
    questionnaire = forms.ModelChoiceField(label=_("Questionnaire"),
                                           queryset=Questionnaire.objects.none())
    tags = forms.ModelMultipleChoiceField(label=_("Only residents tagged"), required=False,
                                          queryset=Tag.objects.all(), to_field_name="slug",
                                          widget=forms.CheckboxSelectMultiple)
    isolation = forms.ChoiceField(label=_("Isolation"), choices=ISOLATION_CHOICES,
                                  required=False)
    age_min = forms.IntegerField(label=_("Aged at least"), required=False, min_value=0,
                                 max_value=130)
    age_max = forms.IntegerField(label=_("Aged at most"), required=False, min_value=0,
                                 max_value=130)
    times = forms.CharField(label=_("Times of day"), initial="09:00 16:00",
                            help_text=_("Separated by spaces, like 09:00 16:00"))
    weekdays = forms.TypedMultipleChoiceField(label=_("Days"), choices=WEEKDAYS, coerce=int,
                                              required=False, widget=forms.CheckboxSelectMultiple,
                                              help_text=_("None ticked: every day"))
    starts_on = forms.DateField(label=_("First day"), widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label=_("Last day"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    round_minutes = forms.IntegerField(label=_("Minutes each round stays open"), initial=360,
                                       min_value=30, max_value=1440)
    step1 = forms.ChoiceField(label=_("First"), choices=CHANNEL_CHOICES[1:], initial="web")
    step1_at = forms.IntegerField(label=_("minutes after the start"), initial=0, min_value=0)
    step2 = forms.ChoiceField(label=_("Then"), choices=CHANNEL_CHOICES, initial="voice",
                              required=False)
    step2_at = forms.IntegerField(label=_("minutes after the start"), initial=90, min_value=0,
                                  required=False)
    step3 = forms.ChoiceField(label=_("Finally"), choices=CHANNEL_CHOICES, initial="visit",
                              required=False)
    step3_at = forms.IntegerField(label=_("minutes after the start"), initial=300,
                                  min_value=0, required=False)
    call_retries = forms.IntegerField(label=_("Call again (times)"), initial=2, min_value=0,
                                      max_value=5)
    call_spacing = forms.IntegerField(label=_("minutes between calls"), initial=30,
                                      min_value=1, max_value=240)
    voice_lines = forms.IntegerField(label=_("Calls at once"), initial=30, min_value=1,
                                     max_value=10000)
    sms_rate = forms.IntegerField(label=_("Messages per second"), initial=50, min_value=1,
                                  max_value=10000)
    quiet_calls_from = forms.TimeField(label=_("No calls from"), initial="21:00")
    quiet_calls_to = forms.TimeField(label=_("until"), initial="08:00")
    quiet_sms_from = forms.TimeField(label=_("No messages from"), initial="22:00")
    quiet_sms_to = forms.TimeField(label=_("until"), initial="07:00")
    proxy_answering = forms.BooleanField(label=_("Family proxies answer for the people they "
                                                 "look after"), required=False, initial=True)

    def __init__(self, *args, questionnaires=None, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        if questionnaires is not None:
            self.fields["questionnaire"].queryset = questionnaires

    def plan(self) -> list[dict]:
        data = self.cleaned_data
        steps = []
        for n in (1, 2, 3):
            channel = data.get(f"step{n}")
            if not channel:
                continue
            step = {"channel": channel, "at": data.get(f"step{n}_at") or 0}
            if channel == "voice":
                step.update(retries=data["call_retries"], spacing=data["call_spacing"],
                            busy_spacing=min(5, data["call_spacing"]))
            steps.append(step)
        return steps

    def latest_version(self) -> QuestionnaireVersion:
        return self.cleaned_data["questionnaire"].versions.order_by("-number").first()


class RoundExportForm(forms.Form):
    what = forms.ChoiceField(label=_("What to export"), choices=[
        ("table", _("The table (figures per area)")),
        ("abnormal", pgettext_lazy("what to export", "Abnormal residents")),
        ("unreached", _("Residents not reached")),
        ("all", _("Everyone asked"))])
    format = forms.ChoiceField(label=_("Format"), choices=[("xlsx", "Excel (.xlsx)"),
                                                           ("csv", "CSV")])
    full = forms.BooleanField(label=_("Include full phone numbers"), required=False)


class QuestionnaireForm(forms.Form):
    """A questionnaire as its JSON spec (questions and rules), checked by parse_spec."""

    name = forms.CharField(label=_("Name"), max_length=80)
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    spec = forms.CharField(label=_("Questions and rules (JSON)"),
                           widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false",
                                                        "class": "code"}),
                           help_text=_("Copy a questionnaire that comes with fangkong and "
                                       "change its wording; every problem is listed when "
                                       "you save."))

    def clean_spec(self) -> dict:
        import json

        text = self.cleaned_data["spec"]
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                _("This is not valid JSON: line %(line)d, column %(col)d: %(msg)s")
                % {"line": exc.lineno, "col": exc.colno, "msg": exc.msg}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The questionnaire must be a JSON object."))
        return value
