from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from fangkong.care.models import DifficultyKind, Urgency
from fangkong.care.services import MAX_COMMENT, MAX_DETAILS, MAX_RESOLUTION


class FileForm(forms.Form):
    kind = forms.ChoiceField(label=_("What is it about?"), choices=DifficultyKind.choices,
                             widget=forms.RadioSelect)
    details = forms.CharField(
        label=_("Details"), max_length=MAX_DETAILS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What you need, in a few sentences. At most 1000 characters."))
    urgency = forms.ChoiceField(label=_("How urgent?"), choices=Urgency.choices,
                                widget=forms.RadioSelect, initial=Urgency.NORMAL)
    confidential = forms.BooleanField(
        label=_("Confidential"), required=False,
        help_text=_("Only the care officer of your street will read it."))


class ResolveForm(forms.Form):
    resolution = forms.CharField(label=_("What was done for them"), max_length=MAX_RESOLUTION,
                                 widget=forms.Textarea(attrs={"rows": 3}))


class AssignForm(forms.Form):
    to = forms.TypedChoiceField(label=_("Give it to"), coerce=int)

    def __init__(self, *args, assignees=(), **kwargs) -> None:  # noqa: ANN001
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(u.pk, u.display_name) for u in assignees]


STARS = [(n, "★" * n) for n in range(5, 0, -1)]


class RateForm(forms.Form):
    rating = forms.TypedChoiceField(label=_("How well was it solved?"), choices=STARS,
                                    coerce=int, widget=forms.RadioSelect)
    comment = forms.CharField(label=_("Comment"), max_length=MAX_COMMENT, required=False)


class DesignateForm(forms.Form):
    user = forms.TypedChoiceField(label=_("Staff member"), coerce=int)

    def __init__(self, *args, staff=(), **kwargs) -> None:  # noqa: ANN001
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [
            (u.pk, f"{u.display_name} · {u.get_role_display()} · {u.area.name}")
            for u in staff]
