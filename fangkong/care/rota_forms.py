from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from fangkong.care.models import DayOffKind, MemberKind, PostKind, Team
from fangkong.lib import clock

AB_MODES = [
    ("prefer", _("Teams take turns; the team off duty fills gaps when needed")),
    ("strict", _("Teams take turns strictly (gaps stay open)")),
    ("off", _("No teams: everyone may work any day")),
]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        # The browser's date field takes ISO dates only, whatever the language.
        super().__init__(attrs, format="%Y-%m-%d")


class PlanForm(forms.Form):
    first_day = forms.DateField(label=_("First day"), widget=DateInput)
    weeks = forms.TypedChoiceField(label=_("Weeks"), coerce=int, initial=4,
                                   choices=[(n, str(n)) for n in range(1, 7)])
    ab_mode = forms.ChoiceField(label=_("A/B teams"), choices=AB_MODES, initial="prefer",
                                widget=forms.RadioSelect)
    ab_block_days = forms.TypedChoiceField(
        label=_("Each team is on duty for"), coerce=int, initial=1,
        choices=[(1, _("1 day, then the other team")), (2, _("2 days")), (3, _("3 days")),
                 (7, _("a week"))])

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["first_day"].initial = clock.local_today() + timedelta(days=1)


class PostForm(forms.Form):
    name = forms.CharField(label=_("Post"), max_length=40,
                           help_text=_("For example: 东门卡口, 3号网格巡查"))
    kind = forms.ChoiceField(label=_("Kind"), choices=PostKind.choices)


class ShiftForm(forms.Form):
    post = forms.TypedChoiceField(label=_("Post"), coerce=int)
    name = forms.CharField(label=_("Shift"), max_length=20,
                           help_text=_("For example: 白班, 夜班"))
    start_hour = forms.IntegerField(label=_("From (hour, 0–23)"), min_value=0, max_value=23)
    end_hour = forms.IntegerField(label=_("Until (hour, 0–24)"), min_value=0, max_value=24,
                                  help_text=_("An hour at or before the start runs past "
                                              "midnight: 22 to 6 is a night shift."))
    people = forms.IntegerField(label=_("People"), min_value=1, max_value=20, initial=1)
    skill = forms.CharField(label=_("Skill needed"), max_length=20, required=False,
                            help_text=_("Leave empty when anyone can do it."))

    def __init__(self, *args, posts=(), **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["post"].choices = [(p.pk, p.name) for p in posts if p.active]


class MemberForm(forms.Form):
    user = forms.TypedChoiceField(label=_("Staff member"), coerce=int)
    team = forms.ChoiceField(label=_("Team"), choices=Team.choices, widget=forms.RadioSelect)
    kind = forms.ChoiceField(label=_("Kind"), choices=MemberKind.choices,
                             initial=MemberKind.WORKER)
    skills = forms.CharField(label=_("Skills"), max_length=100, required=False,
                             help_text=_("Separated by commas, as the shifts name them."))
    avoid_shifts = forms.CharField(label=_("Would rather not work these shifts"),
                                   max_length=100, required=False,
                                   help_text=_("Shift names separated by commas, e.g. 夜班."))

    def __init__(self, *args, staff=(), **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [
            (u.pk, f"{u.display_name} · {u.get_role_display()} · {u.area.name}")
            for u in staff]


class MemberEditForm(forms.Form):
    team = forms.ChoiceField(label=_("Team"), choices=Team.choices)
    kind = forms.ChoiceField(label=_("Kind"), choices=MemberKind.choices)
    skills = forms.CharField(label=_("Skills"), max_length=100, required=False)
    avoid_shifts = forms.CharField(label=_("Would rather not work these shifts"),
                                   max_length=100, required=False)
    active = forms.BooleanField(label=_("On the rota"), required=False)

    def __init__(self, *args, form_id: str = "", **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # The fields sit in table cells; the <form> they belong to is outside the table.
        for field in self.fields.values():
            field.widget.attrs["form"] = form_id


class DayOffForm(forms.Form):
    member = forms.TypedChoiceField(label=pgettext_lazy("leave", "Who"), coerce=int)
    first_day = forms.DateField(label=_("From"), widget=DateInput)
    last_day = forms.DateField(label=_("Until"), widget=DateInput)
    kind = forms.ChoiceField(label=_("Kind"), choices=DayOffKind.choices,
                             initial=DayOffKind.LEAVE)
    note = forms.CharField(label=_("Note"), max_length=100, required=False)

    def __init__(self, *args, members=(), **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["member"].choices = [(m.pk, m.user.display_name) for m in members
                                         if m.active]


class SwapForm(forms.Form):
    colleague = forms.TypedChoiceField(label=_("Ask a colleague to take it"), coerce=int)
    in_return = forms.TypedChoiceField(
        label=_("And take one of their shifts in return (optional)"), coerce=int,
        required=False, empty_value=None)
    note = forms.CharField(label=_("Note for them"), max_length=100, required=False)

    def __init__(self, *args, colleagues=(), their_shifts=(), **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["colleague"].choices = [
            (m.user_id, f"{m.user.display_name} · {m.get_team_display()}") for m in colleagues]
        self.fields["in_return"].choices = [("", _("No, just take mine"))] + [
            (a.pk, f"{a.user.display_name}: {a.day:%m-%d} {a.shift.post.name} {a.shift.name}")
            for a in their_shifts]


class DecideForm(forms.Form):
    reason = forms.CharField(label=_("Reason (needed to refuse)"), max_length=300,
                             required=False)
