"""Small text normalisers for values typed by people: ID numbers, phone numbers, names.

Pure functions, no Django needed.
"""

from __future__ import annotations

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
