"""Decoding roster files (UTF-8, UTF-8 with BOM, GB18030) and spotting mojibake.

Two entry points:

* :func:`decode_bytes` turns the raw bytes of a CSV/TXT roster into text and says which
  encoding it used. It never guesses silently: bytes that read as plausible Chinese in
  both UTF-8 and GB18030 raise :class:`EncodingProblem` with code ``"ambiguous"`` so the
  caller can ask the user (and then call ``decode_bytes(data, encoding=...)``).
* :func:`mojibake_reason` looks at one value (a cell) and says, in a short translated
  sentence, why it looks like text that was decoded with the wrong encoding or lost
  bytes on the way ("??谑" for 海口市), or returns ``None`` for clean text.

Only the standard library is used; GBK is read with the ``gb18030`` codec, a superset.
Nothing here needs Django settings except the rendering of messages, which are
translated with ``gettext`` when produced.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

__all__ = [
    "ENCODINGS",
    "Decoded",
    "EncodingProblem",
    "decode_bytes",
    "mojibake_reason",
]

ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
"""The encodings :func:`decode_bytes` can report, and accepts as ``encoding=``."""

_SAMPLE_CHARS = 65536
"""The character-frequency comparison in :func:`decode_bytes` looks at this many
characters of each reading at most, so that it stays cheap on a million-row file."""

_CLEAR_WIN_MIN_CJK = 8
_CLEAR_WIN_COMMON_SHARE = 0.75
_CLEAR_WIN_OTHER_MAX_SHARE = 0.40

# CJK ideographs: extension A, unified, compatibility, extensions B-H.
_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK = re.compile(f"[{_CJK_RANGES}]")
_PRIVATE_USE = re.compile("[\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd]")
# Characters a genuine roster reading may contain: printable ASCII and tab/CR/LF, CJK
# ideographs, CJK punctuation and full-width forms, a few typographic marks, Latin-1
# letters (foreign names). Greek, Cyrillic, kana, box drawing, C1 controls, private use
# and the rest are what a wrong GB18030/UTF-8 reading of the other encoding produces.
_ROSTER_CHARS = (
    "\t\n\r\x20-\x7e"
    + _CJK_RANGES
    + "\u3000-\u303f\uff01-\uff5e\uffe5"
    + "\u00b7\u00b0\u00d7\u2014\u2018\u2019\u201c\u201d\u2026\u2103"
    + "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff"
)
_NOT_ROSTER_CHAR = re.compile(f"[^{_ROSTER_CHARS}]")

_QUESTION_NEAR_CJK = re.compile(
    f"[{_CJK_RANGES}]\\?{{2,}}"  # 海?? : a run after a CJK character
    f"|\\?{{2,}}[{_CJK_RANGES}]"  # ??谑 : a run before one
    f"|[{_CJK_RANGES}]\\?+[{_CJK_RANGES}]"  # 张?伟 : inside CJK text
    f"|^\\s*\\?+[{_CJK_RANGES}]"  # ?伟 : at the start
)

# A UTF-8 multi-byte sequence, on bytes.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_UTF8_LEAD_THEN_CONTINUATION = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
_HIGH_BYTE_RUN = re.compile(rb"[\x80-\xff]+")


def _gb2312_level1() -> frozenset[str]:
    chars = []
    for lead in range(0xB0, 0xD8):
        for trail in range(0xA1, 0xFF):
            try:
                chars.append(bytes((lead, trail)).decode("gb2312"))
            except UnicodeDecodeError:  # D7FA-D7FE are unassigned
                continue
    return frozenset(chars)


_COMMON_HANZI = _gb2312_level1()
# Common hanzi with ASCII letters, digits, space and hyphen ("第1网格", "3栋2单元"): ASCII in
# mojibake is ASCII of the original, so it changes nothing in checks 1-3 ("?" excluded).
_COMMON_OR_PLAIN = _COMMON_HANZI | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -")
"""The 3,755 GB2312 level-1 characters: the most frequent hanzi (well over 99% of the
characters in ordinary text, and of most names)."""


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes.

    ``encoding`` is the codec that produced ``text``: ``"utf-8"``, ``"utf-8-sig"`` (a
    UTF-8 byte order mark was present and removed) or ``"gb18030"`` (covers GBK and
    GB2312). ``candidates`` lists every encoding under which the bytes decode strictly
    and that was weighed, in that order; with a UTF-8 BOM only ``"utf-8-sig"``.
    """

    text: str
    encoding: str  # "utf-8" | "utf-8-sig" | "gb18030"
    candidates: tuple[str, ...]


class EncodingProblem(ValueError):
    """Bytes that cannot be decoded, or not without asking the user.

    ``code`` is a short machine code:

    * ``"undecodable"``: neither UTF-8 nor GB18030 (or not the forced encoding);
      ``position`` is the offset of the first unreadable byte of the reading that got
      furthest, ``byte`` its value;
    * ``"truncated"``: the bytes end in the middle of a UTF-8 character (a cut file);
    * ``"ambiguous"``: both UTF-8 and GB18030 give a plausible reading; ``candidates``
      holds both encodings and ``readings`` both :class:`Decoded` results, so a UI can
      show them and let the user choose.

    ``str(error)`` is the translated message for a person, with what to do about it.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        candidates: tuple[str, ...] = (),
        position: int | None = None,
        byte: int | None = None,
        readings: tuple[Decoded, ...] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.candidates = candidates
        self.position = position
        self.byte = byte
        self.readings = readings

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class _Attempt:
    text: str | None
    error: UnicodeDecodeError | None = None
    start: int = 0  # offset of the first unreadable byte in the whole input


def _attempt(data: bytes, encoding: str) -> _Attempt:
    # utf-8-sig reports offsets after the BOM it removed: decode the rest as UTF-8.
    skip = (
        len(codecs.BOM_UTF8) if encoding == "utf-8-sig" and data.startswith(codecs.BOM_UTF8) else 0
    )
    try:
        return _Attempt(data[skip:].decode("utf-8" if skip else encoding))
    except UnicodeDecodeError as exc:
        return _Attempt(None, exc, skip + exc.start)


def _save_as_utf8_hint() -> str:
    return _("Save it again as UTF-8 (Excel: Save As → CSV UTF-8).")


def _undecodable(data: bytes, position: int, tried: str) -> EncodingProblem:
    byte = data[position]
    message = _(
        "The file is %(tried)s: byte 0x%(byte)02X at position %(position)d cannot be read."
    ) % {"tried": tried, "byte": byte, "position": position}
    return EncodingProblem(
        "undecodable",
        f"{message} {_save_as_utf8_hint()}",
        position=position,
        byte=byte,
    )


def _truncated(data: bytes, position: int) -> EncodingProblem:
    message = _(
        "The file ends in the middle of a character (byte %(position)d of %(size)d): "
        "it was probably cut off while copying or uploading."
    ) % {"position": position, "size": len(data)}
    hint = _("Check that the whole file was sent, or save it again as UTF-8.")
    return EncodingProblem("truncated", f"{message} {hint}", position=position, byte=data[position])


def _ambiguous(utf8_text: str, gb_text: str) -> EncodingProblem:
    message = _(
        "The file can be read both as UTF-8 and as GBK/GB18030 and it is not clear "
        "which reading is right: choose the encoding, or save the file again as UTF-8 "
        "(Excel: Save As → CSV UTF-8)."
    )
    candidates = ("utf-8", "gb18030")
    return EncodingProblem(
        "ambiguous",
        message,
        candidates=candidates,
        readings=(
            Decoded(utf8_text, "utf-8", candidates),
            Decoded(gb_text, "gb18030", candidates),
        ),
    )


def _plausible_reading(text: str) -> bool:
    """Whether ``text`` could be a genuine roster: it has CJK, only roster characters
    and none of the mojibake marks that do not depend on cross-decoding (U+FFFD,
    private use, question marks where Chinese should be)."""
    return (
        _CJK.search(text) is not None
        and _NOT_ROSTER_CHAR.search(text) is None
        and _local_reason(text) is None
    )


def _common_share(text: str) -> tuple[int, float]:
    """(number of CJK characters, share of them among the most common hanzi) in a
    sample of ``text``."""
    cjk = _CJK.findall(text[:_SAMPLE_CHARS])
    if not cjk:
        return 0, 0.0
    return len(cjk), sum(ch in _COMMON_HANZI for ch in cjk) / len(cjk)


def _clearly_better(text: str, other: str) -> bool:
    """Whether ``text`` is clearly ordinary Chinese and ``other`` clearly is not, by
    the share of common hanzi (real text is mostly common characters; the wrong reading
    of the other encoding is mostly rare ones)."""
    count, share = _common_share(text)
    _count, other_share = _common_share(other)
    return (
        count >= _CLEAR_WIN_MIN_CJK
        and share >= _CLEAR_WIN_COMMON_SHARE
        and other_share <= _CLEAR_WIN_OTHER_MAX_SHARE
    )


def decode_bytes(data: bytes, *, encoding: str | None = None) -> Decoded:
    """Decode a roster file's bytes as UTF-8 (with or without BOM) or GB18030.

    Rules, in order:

    1. ``encoding`` given (one of :data:`ENCODINGS`, e.g. the user's choice after an
       ``"ambiguous"`` problem): strict decoding with it, nothing else.
    2. A UTF-8 byte order mark: ``"utf-8-sig"`` (invalid UTF-8 after it is an error).
    3. Strict UTF-8 succeeds: ``"utf-8"``, unless GB18030 also decodes the bytes to a
       different text that is a plausible roster reading (CJK, only roster characters,
       no U+FFFD/private-use/``?`` marks). Then it is a tie, whatever the UTF-8
       reading looks like, and ``EncodingProblem("ambiguous")`` is raised; except when
       the UTF-8 reading is clearly ordinary Chinese and the GB18030 one is not (at
       least 8 CJK characters, at least 75% of them among the 3,755 most common hanzi,
       against at most 40% for the GB18030 reading, measured on the first 64K
       characters). Short inputs valid in both therefore always raise.
    4. Strict GB18030 succeeds: ``"gb18030"``; but if UTF-8 failed only because the
       bytes end inside a character and the UTF-8 reading up to there is clearly better
       (as in 3), ``EncodingProblem("truncated")``.
    5. Otherwise ``EncodingProblem("truncated")`` for UTF-8 cut at the end, else
       ``"undecodable"`` naming the first unreadable byte of whichever reading got
       further (the more likely real encoding).

    Limits: a file in another single-byte encoding (Latin-1, ...) that happens to be
    valid GB18030 is returned as GB18030; check the cells with :func:`mojibake_reason`.
    Empty input is ``Decoded("", "utf-8", ("utf-8", "gb18030"))``.
    """
    if encoding is not None:
        return _decode_forced(data, encoding)
    if data.startswith(codecs.BOM_UTF8):
        sig = _attempt(data, "utf-8-sig")
        if sig.error is not None:
            raise _undecodable(data, sig.start, _("not valid UTF-8 after its BOM"))
        assert sig.text is not None
        return Decoded(sig.text, "utf-8-sig", ("utf-8-sig",))

    utf8 = _attempt(data, "utf-8")
    gb = _attempt(data, "gb18030")
    if utf8.text is not None:
        if gb.text is None:
            return Decoded(utf8.text, "utf-8", ("utf-8",))
        both = ("utf-8", "gb18030")
        if gb.text == utf8.text or not _plausible_reading(gb.text):
            return Decoded(utf8.text, "utf-8", both)
        if _plausible_reading(utf8.text) and _clearly_better(utf8.text, gb.text):
            return Decoded(utf8.text, "utf-8", both)
        raise _ambiguous(utf8.text, gb.text)

    assert utf8.error is not None
    truncated = utf8.error.reason == "unexpected end of data"
    if gb.text is not None:
        if truncated:
            prefix = data[: utf8.error.start].decode("utf-8")
            if _plausible_reading(prefix) and _clearly_better(prefix, gb.text):
                raise _truncated(data, utf8.error.start)
        return Decoded(gb.text, "gb18030", ("gb18030",))
    if truncated:
        raise _truncated(data, utf8.error.start)
    assert gb.error is not None
    position = max(utf8.error.start, gb.error.start)
    raise _undecodable(data, position, _("neither UTF-8 nor GBK/GB18030"))


def _decode_forced(data: bytes, encoding: str) -> Decoded:
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported encoding {encoding!r}; expected one of {ENCODINGS}")
    forced = _attempt(data, encoding)
    if forced.error is not None:
        raise _undecodable(data, forced.start, _("not valid %(encoding)s") % {"encoding": encoding})
    assert forced.text is not None
    return Decoded(forced.text, encoding, (encoding,))


def mojibake_reason(text: str) -> str | None:
    """Why ``text`` (one cell value) looks like broken text, or ``None`` if it looks clean.

    The reason is a short translated sentence. Checks, first match wins:

    1. UTF-8 read as GBK ("海口市" → "娴峰彛甯?"): the text re-encoded as GB18030
       decodes strictly as UTF-8 (a single trailing ``?``/U+FFFD is taken as the lost
       last byte) to fewer characters; the text has at least two CJK characters, the
       result at least one, all in GBK, at least half of them among the 3,755 most
       common hanzi and a larger share than in the text itself (mojibake is made of
       rarer characters than what it hides). A genuine name passes all of this only by
       a rare coincidence of byte values: none of 200,000 random 2-4 character strings
       of common or arbitrary hanzi did when this was written.
    2. GBK read as Latin-1/Windows-1252 ("海口市" → "º£¿ÚÊÐ"): every character is a
       single byte in those codepages, the bytes decode strictly as GB18030 to at least two CJK characters, and at
       least two non-ASCII characters are adjacent (GBK trail bytes may be ASCII:
       "赵赟" → "ÕÔÚS"). "Müller-Lüdenscheidt" and "Conceição" pass as clean; a
       Latin name with both an adjacent accented pair and another accented letter
       before an ASCII letter ("Conceição Müller") is a known false positive.
    3. UTF-8 read as Latin-1/Windows-1252 ("æµ·å\\x8f£å¸\\x82", "Ã©", "â€™"): the
       Latin-1/1252 bytes of the text contain a complete UTF-8 multi-byte sequence, or
       at least two "lead byte then continuation byte" pairs (C1 controls dropped on
       display). Latin-1 letters followed by a Latin-1 symbol are almost never genuine.
       When the whole text is valid UTF-8 this way, this check comes before check 2.
    4. U+FFFD (the replacement character) anywhere, or its well-known debris: 锟斤拷 (U+FFFD
       as UTF-8 read as GBK), 烫烫烫 and 屯屯屯 (uninitialised memory shown as GBK).
    5. Private-use characters (U+E000-U+F8FF, planes 15-16): user-defined GBK areas
       and broken conversions; genuine rosters do not use them.
    6. ASCII ``?`` where Chinese should be: a run of two or more next to a CJK
       character, any run between two CJK characters or at the start before one, or a
       value that is mostly ``?`` (at least two, and at least half of its non-space
       characters). A single ``?`` after Chinese text ("在家吗?") is a question, not
       mojibake; the full-width ``？`` is never flagged.

    Not detected: misaligned GBK (a byte lost in the middle) that happens to produce
    only ordinary hanzi without ``?``; UTF-8 read as GBK of a single character; text
    in a foreign script that was never Chinese. Never raises on any ``str``.
    """
    # Fast paths, for a million cells: ASCII cannot hold checks 1-5, and text made only of
    # the most common hanzi cannot be check 1's mojibake (which needs a rarer reading) nor
    # Latin-1 debris; only the well-known debris below is made of common hanzi.
    if text.isascii():
        return _local_reason(text)
    if _COMMON_OR_PLAIN.issuperset(text) and not _DEBRIS.search(text):
        return None
    if _utf8_read_as_gbk(text):
        return _("looks like UTF-8 text that was read as GBK (wrong encoding)")
    if _utf8_read_as_latin1(text, whole=True):
        return _("looks like UTF-8 text that was read as Latin-1 (wrong encoding)")
    if _gbk_read_as_latin1(text):
        return _("looks like GBK text that was read as Latin-1 (wrong encoding)")
    if _utf8_read_as_latin1(text, whole=False):
        return _("looks like UTF-8 text that was read as Latin-1 (wrong encoding)")
    return _local_reason(text)


# Well-known debris: U+FFFD written as UTF-8 and read back as GBK (锟斤拷), and the fill
# bytes of uninitialised memory shown as GBK (烫烫烫 for 0xCC, 屯屯屯 for 0xCD).
_DEBRIS = re.compile("锟斤拷|烫烫烫|屯屯屯")


def _local_reason(text: str) -> str | None:
    """Checks 4-6 of :func:`mojibake_reason`: those that do not re-decode the text."""
    if _DEBRIS.search(text):
        return _("contains 锟斤拷 or 烫烫烫: text lost in a conversion")
    if "\ufffd" in text:
        return _("contains the replacement character � (text lost in a conversion)")
    if _PRIVATE_USE.search(text):
        return _("contains private-use characters (text broken in a conversion)")
    if "?" in text:
        if _QUESTION_NEAR_CJK.search(text):
            return _("contains question marks where Chinese characters should be")
        marks = text.count("?")
        visible = len(text) - sum(ch.isspace() for ch in text)
        if marks >= 2 and marks * 2 >= visible:
            return _("is mostly question marks: the Chinese characters were lost")
    return None


def _cjk_count(text: str) -> int:
    return len(_CJK.findall(text))


def _utf8_read_as_gbk(text: str) -> bool:
    core = text
    if core.endswith(("?", "\ufffd")):
        core = core[:-1]
    if _cjk_count(core) < 2:
        return False
    try:
        raw = core.encode("gb18030")
    except UnicodeEncodeError:  # lone surrogates
        return False
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        # With a trailing mark, the last UTF-8 character may be incomplete.
        decoded = decoder.decode(raw, final=core is text)
    except UnicodeDecodeError:
        return False
    if len(decoded) >= len(core):
        return False
    cjk = _CJK.findall(decoded)
    if not cjk or not all(_is_gbk(ch) for ch in cjk):
        return False
    share = _common_share(decoded)[1]
    return share >= 0.5 and share > _common_share(core)[1]


def _is_gbk(ch: str) -> bool:
    try:
        ch.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def _single_bytes(text: str, *, strict: bool) -> bytes | None:
    """``text`` as Latin-1/Windows-1252 bytes, one per character; characters that are in
    neither become NUL, or make the result ``None`` when ``strict``."""
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code < 0x100:
            out.append(code)
            continue
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            if strict:
                return None
            out.append(0)
    return bytes(out)


def _gbk_read_as_latin1(text: str) -> bool:
    if text.isascii():
        return False
    raw = _single_bytes(text, strict=True)
    if raw is None:
        return False
    if not any(len(run) >= 2 for run in _HIGH_BYTE_RUN.findall(raw)):
        return False
    try:
        decoded = raw.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return _cjk_count(decoded) >= 2


def _utf8_read_as_latin1(text: str, *, whole: bool) -> bool:
    """With ``whole``: the text's Latin-1/1252 bytes are entirely valid UTF-8 (and not
    ASCII). Without: they contain some UTF-8 sequence or two lead/continuation pairs."""
    if text.isascii():
        return False
    raw = _single_bytes(text, strict=whole)
    if whole:
        if raw is None:
            return False
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    assert raw is not None
    for match in _UTF8_SEQUENCE.finditer(raw):
        try:
            match.group().decode("utf-8")
        except UnicodeDecodeError:  # overlong/surrogate forms
            continue
        return True
    return len(_UTF8_LEAD_THEN_CONTINUATION.findall(raw)) >= 2
