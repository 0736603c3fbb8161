import re
from pathlib import Path

import polib

CATALOGUE = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_every_string_has_a_simplified_chinese_translation():
    catalogue = polib.pofile(str(CATALOGUE))
    missing = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]
    assert missing == [] and fuzzy == []


def test_translations_keep_every_placeholder():
    placeholder = re.compile(r"%\([a-z_]+\)s")
    for entry in polib.pofile(str(CATALOGUE)).translated_entries():
        # A plural entry keeps its translations in msgstr_plural (one form in Chinese).
        translated = entry.msgstr_plural[0] if entry.msgid_plural else entry.msgstr
        assert sorted(placeholder.findall(entry.msgid)) == sorted(
            placeholder.findall(translated)
        ), entry.msgid
