"""Text typed into a form or sent by SMS, checked once for every service that stores it:
trimmed (or with its spaces collapsed), required or not, at most `limit` characters, no
control characters; a textarea's CR LF line breaks read as LF. A refusal is a
ValidationError on `field`, in words a worker understands."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from fangkong.lib.text import find_unsafe_char


def clean_text(value: str | None, *, field: str, limit: int, required: bool = False,
               required_message: str | None = None, multiline: bool = False,
               collapse_spaces: bool = False) -> str:
    """The text to store, or ValidationError({field: [why]})."""
    value = value or ""
    if multiline:
        value = value.replace("\r\n", "\n")
    value = " ".join(value.split()) if collapse_spaces else value.strip()
    if required and not value:
        raise ValidationError({field: [required_message or _("Fill this in.")]})
    if len(value) > limit:
        raise ValidationError({field: [_("Keep it under %(n)d characters.") % {"n": limit}]})
    if find_unsafe_char(value, multiline=multiline) is not None:
        raise ValidationError({field: [_("The text holds a character that cannot be stored "
                                         "(a control character): type it again.")]})
    return value
