"""Mainland China phone numbers: mobiles and landlines with area code and extension.

Normalised forms:

* mobile: 11 digits, ``1[3-9]`` then 9 digits (``"13812345678"``);
* landline: ``"0AA-NNNNNNNN"`` or ``"0AAA-NNNNNNN"`` (area code, hyphen, 7 or 8 digit
  local number not starting with 0 or 1), optionally ``"-EXT"`` with a 1-6 digit
  extension (``"027-85551234-123"``). Area codes ``010`` and ``020``-``029`` have 3
  characters, all others (``0371``, ``0898``...) have 4.

Nothing here needs Django settings except the rendering of an error message:
:class:`PhoneError` messages are translated with ``gettext`` when raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from fangkong.lib.text import find_unsafe_char, to_halfwidth

__all__ = [
    "PhoneError",
    "PhoneNumber",
    "mask_phone",
    "normalize_phone",
    "parse_phone",
    "phone_last4",
]

MAX_INPUT_LENGTH = 64
"""Longer input is refused before any parsing: no phone number needs more, and it keeps
every step below cheap whatever is pasted."""

# ASCII digits only: \d alone would also take Arabic-Indic, Devanagari, ... digits.
_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_LOCAL = re.compile(r"[2-9]\d{6,7}", re.ASCII)
_EXTENSION = re.compile(r"\d{1,6}", re.ASCII)
_AREA_CODE = re.compile(r"0(?:10|2\d|[3-9]\d\d)", re.ASCII)
# An extension written out: "转123", "分机 123", "ext 123", "ext.123" at the end. Found
# with search() and the text before it cut off by hand: a leading "^(.*?)[\s\-.,]*" in
# the pattern would retry every split of a long run of separators (quadratic time).
_WORDED_EXTENSION = re.compile(r"(?:转|分机|ext\.?)[\s\-.:]*([0-9]*)$", re.IGNORECASE)
_BEFORE_WORDED_EXTENSION = "-.,"
# Whitespace (incl. NBSP; U+3000 is made a space by to_halfwidth) and dash-like separators.
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SEPARATORS = re.compile(rf"[\s{re.escape(_DASHES)}.()]+")
_SEPARATOR_CHARS = frozenset(_DASHES + ".()")
_INVISIBLE = dict.fromkeys((0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E, 0x00AD), None)
# "+86", "0086", "(+86)", "+86-", "00 86 " at the start.
_COUNTRY_CODE = re.compile(rf"\(?\s*(?:\+|00)\s*86\s*\)?[\s{re.escape(_DASHES)}.]*")
_NORMALIZED_LANDLINE = re.compile(r"(0\d{2,3})-(\d{7,8})(?:-(\d{1,6}))?", re.ASCII)


class PhoneError(ValueError):
    """A phone number that cannot be valid.

    ``code`` is a short machine code: ``"empty"``, ``"chars"``, ``"mobile_prefix"``,
    ``"length"`` or ``"area_code"``; ``str(error)`` is the translated message for a
    person, always ending with what a valid number looks like.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A valid phone number in normalised form (see the module docstring)."""

    number: str
    kind: str  # "mobile" | "landline"


def _error(code: str, problem: str) -> PhoneError:
    hint = _(
        "A mobile number is 11 digits starting with 13-19, e.g. 13812345678; "
        "a landline needs its area code, e.g. 027-85551234."
    )
    return PhoneError(code, f"{problem} {hint}")


def parse_phone(raw: str) -> PhoneNumber:
    """Validate a phone number as typed and return its normalised form.

    Accepts full-width characters, spaces, ``- . ( )`` as separators, a leading
    ``+86`` / ``0086`` (or ``86`` directly before an 11-digit mobile) and, for
    landlines, an extension written ``转123``, ``分机123``, ``ext 123`` or ``-123``.
    Separators between area code and local number are used to split them; without
    any, the area code length follows from its digits. Input longer than
    :data:`MAX_INPUT_LENGTH` characters and control characters (NUL, ...) other than
    surrounding whitespace are refused. Raises :class:`PhoneError`.
    """
    if len(raw) == 11 and raw.isascii() and _MOBILE.fullmatch(raw):
        # The common case, typed exactly: a roster import meets it a million times.
        return PhoneNumber(number=raw, kind="mobile")
    if len(raw) > MAX_INPUT_LENGTH:
        raise _error(
            "length",
            _("Phone number is too long (%(n)d characters; at most %(max)d).")
            % {"n": len(raw), "max": MAX_INPUT_LENGTH},
        )
    text = to_halfwidth(raw).translate(_INVISIBLE).strip()
    if not text:
        raise _error("empty", _("Phone number is empty."))
    unsafe = find_unsafe_char(text)
    if unsafe is not None:
        raise _error(
            "chars",
            _(
                "Phone number contains an invisible or invalid character at position "
                "%(pos)d; please type the number again."
            )
            % {"pos": unsafe + 1},
        )

    ext = ""
    worded = _WORDED_EXTENSION.search(text)
    if worded is not None:
        text, ext = _strip_separators_at_end(text[: worded.start()]).strip(), worded.group(1)
        if not _EXTENSION.fullmatch(ext):
            raise _error(
                "length",
                _("Phone extension must be 1 to 6 digits, e.g. 027-85551234 ext 123."),
            )

    for pos, ch in enumerate(text, start=1):
        if not ("0" <= ch <= "9" or ch == "+" or ch in _SEPARATOR_CHARS or ch.isspace()):
            raise _error(
                "chars",
                _('Phone number contains "%(char)s" at position %(pos)d.')
                % {"char": ch, "pos": pos},
            )

    country = _COUNTRY_CODE.match(text)
    had_country_code = country is not None
    if country is not None:
        text = text[country.end() :]
    if "+" in text:
        raise _error(
            "chars",
            _(
                'Phone number has a "+" other than in +86; only mainland China numbers are accepted.'
            ),
        )
    groups = [g for g in _SEPARATORS.split(text) if g]
    if had_country_code and len(groups) > 1 and groups[0] == "0":
        # "+86 (0)27 8555 1234": the trunk 0 written in parentheses.
        groups = ["0" + groups[1], *groups[2:]]
    digits = "".join(groups)
    if not digits:
        raise _error("empty", _("Phone number has no digits."))

    if not had_country_code and len(digits) == 13 and digits.startswith("86"):
        if _MOBILE.fullmatch(digits[2:]):
            digits = digits[2:]
            groups = [digits]
    if had_country_code and digits[0] not in "01":
        # "+86 27 8555 1234": abroad the trunk 0 of the area code is left out.
        digits = "0" + digits
        groups[0] = "0" + groups[0]

    if digits[0] == "1":
        return _parse_mobile(digits, ext)
    if digits[0] == "0":
        return _parse_landline(groups, ext)
    if len(digits) in (7, 8):
        raise _error(
            "area_code",
            _("Phone number %(number)s has no area code.") % {"number": digits},
        )
    raise _error(
        "length",
        _("Phone number %(number)s has %(n)d digits.") % {"number": digits, "n": len(digits)},
    )


def _strip_separators_at_end(text: str) -> str:
    end = len(text)
    while end and (text[end - 1].isspace() or text[end - 1] in _BEFORE_WORDED_EXTENSION):
        end -= 1
    return text[:end]


def _parse_mobile(digits: str, ext: str) -> PhoneNumber:
    if len(digits) != 11:
        raise _error(
            "length",
            _("Mobile number %(number)s has %(n)d digits; expected 11.")
            % {"number": digits, "n": len(digits)},
        )
    if not _MOBILE.fullmatch(digits):
        raise _error(
            "mobile_prefix",
            _("Mobile number %(number)s starts with %(prefix)s; mobile numbers start with 13-19.")
            % {"number": digits, "prefix": digits[:2]},
        )
    if ext:
        raise _error("chars", _("A mobile number cannot have an extension."))
    return PhoneNumber(number=digits, kind="mobile")


def _split_area_code(digits: str) -> tuple[str, str]:
    """Split an unseparated landline ``0...`` into (area code, rest) by the digits."""
    size = 3 if digits[1:2] in ("1", "2") else 4
    return digits[:size], digits[size:]


def _parse_landline(groups: list[str], ext: str) -> PhoneNumber:
    if len(groups) == 1:
        area, rest = _split_area_code(groups[0])
        local_parts = [rest] if rest else []
    else:
        area, local_parts = groups[0], groups[1:]
        if len(area) > 4:
            # "02785551234-123": no separator after the area code, only before the extension.
            area, rest = _split_area_code(area)
            local_parts = [rest, *local_parts]
    if not _AREA_CODE.fullmatch(area):
        raise _error(
            "area_code",
            _(
                "Area code %(area)s is not valid; area codes are 010, 020-029, or 4 digits "
                "starting with 03-09."
            )
            % {"area": area},
        )
    if (
        not ext
        and len(local_parts) == 2
        and _LOCAL.fullmatch(local_parts[0])
        and _EXTENSION.fullmatch(local_parts[1])
    ):
        # "027-85551234-123", "010-6555123-4": a complete local number, then the extension.
        local, ext = local_parts
    else:
        # "027-8555-1234": a local number written in groups.
        local = "".join(local_parts)
        if not _LOCAL.fullmatch(local) and len(local_parts) > 2 and not ext:
            # "027 8555 1234 - 123": groups, then the extension.
            maybe_local = "".join(local_parts[:-1])
            if _LOCAL.fullmatch(maybe_local) and _EXTENSION.fullmatch(local_parts[-1]):
                local, ext = maybe_local, local_parts[-1]
    if not _LOCAL.fullmatch(local):
        raise _error(
            "length",
            _(
                "The local number after area code %(area)s is %(local)s; it must be 7 or 8 "
                "digits and cannot start with 0 or 1."
            )
            % {"area": area, "local": local or "-"},
        )
    number = f"{area}-{local}-{ext}" if ext else f"{area}-{local}"
    return PhoneNumber(number=number, kind="landline")


def normalize_phone(raw: str) -> str:
    """Return the normalised form of ``raw``; raises :class:`PhoneError`."""
    return parse_phone(raw).number


def _star_all_but_last4(text: str) -> str:
    n = len(text)
    if n <= 4:
        return "*" * n
    return "*" * (n - 4) + text[-4:]


def mask_phone(number: str) -> str:
    """Mask a normalised phone number for display; never raises.

    Mobile: ``"138****5678"`` (first 3 and last 4 kept). Landline: the area code and
    the last 4 local digits kept, the extension dropped (``"027-****1234"``). Anything
    else: every character but the last 4 starred (all of them if 4 or fewer).
    """
    if len(number) == 11 and _MOBILE.fullmatch(number):
        return number[:3] + "****" + number[7:]
    landline = _NORMALIZED_LANDLINE.fullmatch(number)
    if landline is not None:
        area, local = landline.group(1), landline.group(2)
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
    return _star_all_but_last4(number)


def phone_last4(number: str) -> str:
    """Return the last 4 digits of the local number of a normalised phone number.

    The extension of a normalised landline (``"027-85551234-123"`` -> ``"1234"``) is
    ignored. For any other text: its last 4 ASCII digits (fewer if it has fewer).
    Never raises.
    """
    landline = _NORMALIZED_LANDLINE.fullmatch(number)
    if landline is not None:
        return landline.group(2)[-4:]
    return "".join(ch for ch in number if "0" <= ch <= "9")[-4:]
