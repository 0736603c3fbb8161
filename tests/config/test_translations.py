import os
import re
import subprocess
import tempfile
from pathlib import Path

import polib
import pytest
from django.utils.translation.template import templatize

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
# Not app code: the virtualenv, local state, tests, benchmarks, vendored or built files.
NOT_APP_CODE = {
    ".venv",
    ".local",
    ".git",
    "tests",
    "bench",
    "locale",
    "static",
    "docs",
    "scripts",
    "node_modules",
}
# The keywords `manage.py makemessages` hands xgettext for the "django" domain.
XGETTEXT = [
    "xgettext",
    "-d",
    "django",
    "--language=Python",
    "--keyword=gettext_noop",
    "--keyword=gettext_lazy",
    "--keyword=ngettext_lazy:1,2",
    "--keyword=pgettext:1c,2",
    "--keyword=npgettext:1c,2,3",
    "--keyword=pgettext_lazy:1c,2",
    "--keyword=npgettext_lazy:1c,2,3",
    "--from-code=UTF-8",
    "--output=-",
]
HOW_TO_FIX = (
    "Run `DEBUG=1 DATABASE_URL=postgres:///limitdesk REDIS_URL=redis://localhost:6379/0 "
    ".venv/bin/python manage.py makemessages -l zh_Hans -i .venv -i .local -i tests -i bench "
    "--no-obsolete`, fill their msgstr in locale/zh_Hans/LC_MESSAGES/django.po (and drop any "
    "`#, fuzzy` flag once the translation is checked), then run scripts/compile-messages."
)


def source_files(root: Path) -> list[Path]:
    """The Python modules and templates of the app code under `root`, as makemessages
    would read them (.py, .html, .txt)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        top = Path(dirpath) == root
        dirnames[:] = sorted(
            name
            for name in dirnames
            if not name.startswith(".")
            and name != "__pycache__"
            and not (top and name in NOT_APP_CODE)
        )
        found += [
            Path(dirpath) / name for name in filenames if name.endswith((".py", ".html", ".txt"))
        ]
    return sorted(found)


def extracted_messages(root: Path) -> polib.POFile:
    """Every msgid the source under `root` asks for today, extracted the way
    makemessages does (templates through Django's templatize, then xgettext) —
    without touching the committed catalogue."""
    with tempfile.TemporaryDirectory(prefix="zh_extract_") as work:
        inputs = []
        for number, path in enumerate(source_files(root)):
            if path.suffix == ".py":
                inputs.append(str(path))
                continue
            as_python = Path(work) / f"{number}.py"
            as_python.write_text(
                templatize(path.read_text(encoding="utf-8"), origin=str(path)), encoding="utf-8"
            )
            inputs.append(str(as_python))
        listing = Path(work) / "files.txt"
        listing.write_text("\n".join(inputs), encoding="utf-8")
        result = subprocess.run(
            [*XGETTEXT, "--files-from", str(listing)],
            capture_output=True,
            text=True,
            check=True,
        )
    return polib.pofile(result.stdout) if result.stdout else polib.POFile()


def untranslated_msgids(root: Path, catalogue: Path) -> list[str]:
    """The msgids the source under `root` uses that `catalogue` does not translate
    (absent, empty, fuzzy or obsolete alike)."""
    translated = {
        (entry.msgctxt, entry.msgid)
        for entry in polib.pofile(str(catalogue)).translated_entries()
        if "fuzzy" not in entry.flags
    }
    return sorted(
        {
            entry.msgid
            for entry in extracted_messages(root)
            if (entry.msgctxt, entry.msgid) not in translated
        }
    )


def test_every_string_has_a_simplified_chinese_translation():
    catalogue = polib.pofile(str(CATALOGUE))
    missing = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]
    assert missing == [] and fuzzy == []


def test_every_string_the_source_uses_today_is_translated():
    """A new {% translate %} or gettext() fails here even if nobody ran makemessages."""
    missing = untranslated_msgids(ROOT, CATALOGUE)
    if missing:
        pytest.fail(
            f"{len(missing)} string(s) in the templates or Python have no Simplified Chinese "
            "translation:\n  " + "\n  ".join(repr(msgid) for msgid in missing) + "\n" + HOW_TO_FIX,
            pytrace=False,
        )


def test_the_check_reports_a_new_template_string_and_a_fuzzy_one(tmp_path):
    app = tmp_path / "somewhere"
    (app / "templates").mkdir(parents=True)
    (app / "templates" / "new.html").write_text(
        '{% load i18n %}<h1>{% translate "Policy" %}</h1>'
        '<p>{% translate "A string nobody translated yet" %}</p>'
        "{% blocktranslate with n=3 %}{{ n }} brand-new things{% endblocktranslate %}",
        encoding="utf-8",
    )
    (app / "views.py").write_text(
        "from django.utils.translation import gettext as _\n"
        '_("Accounts")\n_("Checked but fuzzy")\n',
        encoding="utf-8",
    )
    # Ignored like the real tree's: tests and the virtualenv.
    (app / "tests").mkdir()
    (app / "tests" / "test_x.py").write_text('_("Only a test says this")\n', encoding="utf-8")
    catalogue = polib.POFile()
    catalogue.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    catalogue.append(polib.POEntry(msgid="Policy", msgstr="政策"))
    catalogue.append(polib.POEntry(msgid="Accounts", msgstr="账户"))
    catalogue.append(polib.POEntry(msgid="Checked but fuzzy", msgstr="模糊", flags=["fuzzy"]))
    catalogue.save(str(tmp_path / "django.po"))

    assert untranslated_msgids(app, tmp_path / "django.po") == [
        "%(n)s brand-new things",
        "A string nobody translated yet",
        "Checked but fuzzy",
    ]


# Names xgettext knows (its Python defaults and makemessages' keywords); a string marked
# through any other alias (`gettext_lazy as _lazy`) is invisible to makemessages.
EXTRACTED_NAMES = {"_", "gettext", "ngettext", "gettext_noop", "gettext_lazy", "ngettext_lazy"}
EXTRACTED_NAMES |= {"pgettext", "npgettext", "pgettext_lazy", "npgettext_lazy"}
ALIAS = re.compile(r"\b(\w*gettext\w*) as (\w+)")


def test_strings_are_marked_with_names_makemessages_extracts():
    aliased = [
        f"{path.relative_to(ROOT)}: {name} as {alias}"
        for path in source_files(ROOT)
        if path.suffix == ".py"
        for name, alias in ALIAS.findall(path.read_text(encoding="utf-8"))
        if alias not in EXTRACTED_NAMES
    ]
    assert aliased == [], "import it as `_` or under its own name: " + "; ".join(aliased)


def test_the_committed_tree_is_checked_from_its_source():
    """The check reads the real app code: templates and Python of every app, not tests."""
    files = {path.relative_to(ROOT).as_posix() for path in source_files(ROOT)}
    assert "templates/policies/index.html" in files
    assert "policies/labels.py" in files
    assert not any(name.startswith(("tests/", ".venv/", "bench/")) for name in files)


def test_translations_keep_every_placeholder():
    placeholder = re.compile(r"%\([a-z_]+\)s")
    for entry in polib.pofile(str(CATALOGUE)).translated_entries():
        # A plural entry keeps its translations in msgstr_plural (one form in Chinese).
        translated = entry.msgstr_plural[0] if entry.msgid_plural else entry.msgstr
        assert sorted(placeholder.findall(entry.msgid)) == sorted(
            placeholder.findall(translated)
        ), entry.msgid
