"""HTML forms for roster import and export. They parse input; the rules live in the
services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from fangkong.rosters.columns import FIELDS
from fangkong.rosters.selectors import import_target_areas, templates_for_user

ENCODING_CHOICES = [
    ("", _("Detect automatically")),
    ("utf-8", _("UTF-8")),
    ("gb18030", _("GBK / GB18030 (older Chinese Excel and WPS)")),
]


class AreaChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:  # noqa: ANN001
        return f"{obj.name}（{obj.get_kind_display()}）"


class UploadForm(forms.Form):
    file = forms.FileField(label=_("Roster file"),
                           help_text=_(".xlsx, .xls, .csv or .txt; the first sheet with data is read."))
    area = AreaChoice(label=_("Import into"), queryset=None, empty_label=None)
    template = forms.ModelChoiceField(label=_("Column template"), queryset=None,
                                      required=False, empty_label=_("Recognise the columns"))
    encoding = forms.ChoiceField(label=_("Encoding (CSV files only)"), required=False,
                                 choices=ENCODING_CHOICES)

    def __init__(self, *args, user, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["area"].queryset = import_target_areas(user)
        self.fields["template"].queryset = templates_for_user(user)
        self.fields["file"].widget.attrs["accept"] = ".xlsx,.xls,.csv,.txt"


FIELD_CHOICES = [("", _("— Do not import —")), *[(f.key, f.label) for f in FIELDS]]


class MappingForm(forms.Form):
    template_name = forms.CharField(
        label=_("Save these choices as a template named"), required=False, max_length=64,
        help_text=_("Optional. Next time, choose the template and the columns are set."))

    def __init__(self, *args, columns: list[str], mapping: list[str], **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.columns = columns
        for i, name in enumerate(columns):
            self.fields[f"col_{i}"] = forms.ChoiceField(
                label=name, choices=FIELD_CHOICES, required=False,
                initial=mapping[i] if i < len(mapping) else "")

    def mapping(self) -> list[str]:
        return [self.cleaned_data.get(f"col_{i}") or "" for i in range(len(self.columns))]

    def column_fields(self) -> list:
        return [self[f"col_{i}"] for i in range(len(self.columns))]


class EncodingForm(forms.Form):
    encoding = forms.ChoiceField(choices=ENCODING_CHOICES[1:], widget=forms.RadioSelect)


class ExportForm(forms.Form):
    what = forms.ChoiceField(choices=[("residents", _("Residents")),
                                      ("households", _("Households"))])
    format = forms.ChoiceField(label=_("Format"), choices=[("xlsx", "Excel (.xlsx)"),
                                                           ("csv", "CSV")])
    full = forms.BooleanField(label=_("Include full ID numbers and phones"), required=False)
