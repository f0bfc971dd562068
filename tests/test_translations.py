"""The Chinese interface is complete and what the app loads (.mo) matches the source (.po)."""

from __future__ import annotations

from pathlib import Path

import polib
from django.utils import translation

import fangkong

PO = Path(fangkong.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_every_message_is_translated_and_none_is_fuzzy():
    po = polib.pofile(str(PO))
    missing = [e.msgid for e in po if not e.obsolete and not e.translated()]
    assert missing == []


def test_compiled_catalog_matches_the_source():
    po = polib.pofile(str(PO))
    mo = polib.mofile(str(PO.with_suffix(".mo")))
    compiled = {(e.msgctxt, e.msgid): (e.msgstr or e.msgstr_plural.get(0)) for e in mo}
    for entry in po:
        if entry.obsolete:
            continue
        expected = entry.msgstr or entry.msgstr_plural.get(0)
        assert compiled.get((entry.msgctxt, entry.msgid)) == expected, entry.msgid


def test_interface_speaks_chinese_by_default_and_english_on_request():
    with translation.override("zh-hans"):
        assert translation.gettext("Residents") == "居民"
    with translation.override("en"):
        assert translation.gettext("Residents") == "Residents"
