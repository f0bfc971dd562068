"""The form of the group-robot page (fangkong.followup.robots holds the rules)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from fangkong.followup.models import GroupRobot, RobotKind


class RobotForm(forms.Form):
    kind = forms.ChoiceField(label=_("The group is in"), choices=RobotKind.choices,
                             widget=forms.RadioSelect)
    url = forms.CharField(
        label=_("Webhook address"), required=False, max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "url",
                                      "spellcheck": "false"}),
        help_text=_("In the group chat: group settings → group robots → your robot → copy "
                    "its webhook address."))
    secret = forms.CharField(
        label=_("Signing secret (DingTalk, optional)"), required=False, max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("Only for a DingTalk robot whose security setting is signing (加签): "
                    "the secret starting with SEC. With a new address, enter its secret "
                    "again."))
    enabled = forms.BooleanField(label=_("Send alert summaries to the group"), required=False,
                                 initial=True)

    @staticmethod
    def initial_for(robot: GroupRobot | None) -> dict:
        if robot is None:
            return {"kind": RobotKind.WECOM, "enabled": True}
        return {"kind": robot.kind, "enabled": robot.enabled}
