"""Small text normalisers for values typed by people: ID numbers, phone numbers, names.

Pure functions, no Django needed.
"""

from __future__ import annotations

import re

# Full-width ASCII variants U+FF01..U+FF5E map 1:1 onto U+0021..U+007E; U+3000 is the
# ideographic (full-width) space.
_HALFWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20

# Invisible characters that str.split() does not treat as whitespace but that turn up
# in pasted text: zero-width space/non-joiner/joiner, word joiner, BOM, Mongolian vowel
# separator, soft hyphen.
_INVISIBLE = dict.fromkeys(
    (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E, 0x00AD),
    None,
)

# C0 controls, DEL and C1 controls (a NUL breaks PostgreSQL), and lone surrogates, which
# cannot be encoded as UTF-8 at all. The multi-line variant lets tab and line feed through.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSAFE_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def to_halfwidth(s: str) -> str:
    """Return ``s`` with full-width ASCII (U+FF01..U+FF5E) and U+3000 made half-width.

    Every other character is left as it is; the length never changes.
    """
    return s.translate(_HALFWIDTH)


def squash_spaces(s: str) -> str:
    """Return ``s`` with every whitespace character removed, inside and at both ends.

    Removes all Unicode whitespace (space, tab, newline, U+3000, NBSP, ...) and the
    invisible characters zero-width space U+200B, U+200C, U+200D, U+2060, BOM U+FEFF,
    U+180E and soft hyphen U+00AD. Meant for IDs and phone numbers, not for prose.
    """
    return "".join(s.split()).translate(_INVISIBLE)


def find_unsafe_char(s: str, *, multiline: bool = False) -> int | None:
    """Return the index of the first character of ``s`` that has no place in typed text,
    or None when there is none.

    Unsafe are the control characters U+0000..U+001F, U+007F..U+009F (NUL, escape, ...)
    and lone surrogates U+D800..U+DFFF (text that cannot be stored as UTF-8). With
    ``multiline``, tab and line feed are allowed. Linear in ``len(s)``.
    """
    match = (_UNSAFE_MULTILINE if multiline else _UNSAFE).search(s)
    return match.start() if match is not None else None
