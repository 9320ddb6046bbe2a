"""The French catalogues are complete and their compiled .mo files say what the .po files say.

Nodes use the committed .mo files (no gettext tools needed), so a .po edited without recompiling, a new string left
untranslated or a fuzzy guess left in would reach French readers silently: these tests fail instead.
"""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kpcs"
CATALOGUES = sorted(SRC.glob("*/locale/fr/LC_MESSAGES/django.po"))


def entries(po: Path) -> list[dict[str, object]]:
    """A small reader for the .po files makemessages writes: msgctxt, msgid, msgid_plural, msgstr[n], flags."""
    found: list[dict[str, object]] = []
    current: dict[str, object] = {}
    key = ""
    for line in po.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if "msgid" in current:
                found.append(current)
            current, key = {}, ""
        elif line.startswith("#,"):
            current["flags"] = {f.strip() for f in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current[key] = str(current[key]) + ast.literal_eval(line)
        else:
            key, _, value = line.partition(" ")
            current[key] = ast.literal_eval(value)
    return found


def test_there_are_catalogues_for_the_apps_with_pages() -> None:
    apps = {po.parts[-5] for po in CATALOGUES}
    assert {"web", "certificates", "registry", "statistics", "monitoring", "governance", "custody"} <= apps


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-5])
def test_every_string_is_translated_and_compiled(po: Path) -> None:
    with po.with_suffix(".mo").open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    problems = []
    for e in entries(po):
        msgid = str(e["msgid"])
        if not msgid:
            continue  # the header
        if "fuzzy" in e.get("flags", set()):  # type: ignore[operator]
            problems.append(f"fuzzy: {msgid!r}")
        context = e.get("msgctxt")
        if "msgid_plural" in e:
            wanted = [str(e.get(f"msgstr[{n}]", "")) for n in (0, 1)]
            got = [compiled.npgettext(str(context), msgid, str(e["msgid_plural"]), n) if context else
                   compiled.ngettext(msgid, str(e["msgid_plural"]), n) for n in (1, 2)]
        else:
            wanted = [str(e.get("msgstr", ""))]
            got = [compiled.pgettext(str(context), msgid) if context else compiled.gettext(msgid)]
        if not all(wanted):
            problems.append(f"untranslated: {msgid!r}")
        elif got != wanted:
            problems.append(f".mo differs from .po (recompile): {msgid!r}")
    assert problems == []
