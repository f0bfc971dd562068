"""Forms of the allowance and insurance pages. They parse what was typed; the rules (ranges,
overlaps, duplicates) are the services' (fangkong.care.allowances, ledger, insurance)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from fangkong.accounts.models import Role, User
from fangkong.care.insurance import MAX_INSURER, MAX_POLICY_NUMBER
from fangkong.care.ledger import parse_month
from fangkong.care.models import InsuranceKind, MemberKind
from fangkong.lib.spreadsheets.exports import FORMATS
from fangkong.places.models import Area


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _money_input() -> forms.NumberInput:
    return forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"})


class RuleForm(forms.Form):
    area = forms.TypedChoiceField(label=_("Area"), coerce=int,
                                  help_text=_("The rule applies to the staff posted there "
                                              "and in the areas below it."))
    role = forms.ChoiceField(label=_("Role"), required=False,
                             choices=[("", _("Any role")), *Role.choices])
    member_kind = forms.ChoiceField(label=_("Kind of staff"), required=False,
                                    choices=[("", _("Any kind")), *MemberKind.choices],
                                    help_text=_("The kind is the one on the shift rota."))
    amount = forms.DecimalField(label=_("Yuan per day on duty"), widget=_money_input())
    valid_from = forms.DateField(label=_("First day"), widget=_date_input())
    valid_to = forms.DateField(label=_("Last day"), required=False, widget=_date_input(),
                               help_text=_("Leave empty while the rule holds."))

    def __init__(self, *args, areas: Iterable[Area] = (), **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        areas = list(areas)
        top = min((a.depth for a in areas), default=0)
        self.fields["area"].choices = [
            (a.pk, f"{'— ' * (a.depth - top)}{a.name} · {a.get_kind_display()}")
            for a in areas]


class EndRuleForm(forms.Form):
    valid_to = forms.DateField(label=_("Last day"), widget=_date_input())


class WithdrawRuleForm(forms.Form):
    # Not required here: the service says what a missing or bad reason lacks.
    reason = forms.CharField(label=_("Why withdraw it"), required=False)


class LedgerExportForm(forms.Form):
    month = forms.CharField(widget=forms.HiddenInput)
    format = forms.ChoiceField(label=_("Format"),
                               choices=[(f, label) for f, label in
                                        zip(FORMATS, ("Excel (.xlsx)", "CSV"), strict=True)])

    def clean_month(self) -> date:
        month = parse_month(self.cleaned_data["month"])
        if month is None:
            raise forms.ValidationError(_("Choose a month."))
        return month


class PolicyForm(forms.Form):
    user = forms.TypedChoiceField(label=_("Staff member"), coerce=int)
    kind = forms.ChoiceField(label=_("What it insures"), choices=InsuranceKind.choices)
    insurer = forms.CharField(label=_("Insurer"), max_length=MAX_INSURER)
    policy_number = forms.CharField(label=_("Policy number"), max_length=MAX_POLICY_NUMBER)
    sum_insured = forms.DecimalField(label=_("Sum insured (yuan)"), required=False,
                                     widget=_money_input(),
                                     help_text=_("Leave empty if you do not know it."))
    covers_from = forms.DateField(label=_("Covers from"), widget=_date_input())
    covers_to = forms.DateField(label=_("Covers until"), widget=_date_input())

    def __init__(self, *args, staff: Iterable[User] = (), **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = [
            ("", "—"),
            *((u.pk, f"{u.display_name} · {u.get_role_display()} · {u.area.name}")
              for u in staff)]
