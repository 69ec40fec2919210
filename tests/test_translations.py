"""The zh-hans catalogue is complete and compiled: operators read Chinese."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

from django.conf import settings

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"


def po_entries() -> dict[str, str]:
    text = (CATALOGUE / "django.po").read_text(encoding="utf-8")
    entries = {}
    for block in text.split("\n\n"):
        assert "#, fuzzy" not in block, f"fuzzy translation left in the catalogue:\n{block}"
        match = re.search(r'^msgid ((?:".*"\n?)+)msgstr ((?:".*"\n?)+)', block + "\n", re.M)
        context = re.search(r'^msgctxt ((?:".*"\n?)+)', block + "\n", re.M)
        if match:
            msgid = "".join(ast.literal_eval(line) for line in match.group(1).split("\n") if line)
            msgstr = "".join(ast.literal_eval(line) for line in match.group(2).split("\n") if line)
            if context:
                # As gettext keys a message with a context: the context, EOT, the message.
                msgid = (
                    "".join(ast.literal_eval(line) for line in context.group(1).split("\n") if line) + "\x04" + msgid
                )
            if msgid:
                entries[msgid] = msgstr
    return entries


def test_every_message_is_translated_and_compiled():
    entries = po_entries()
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr in entries.items() if not msgstr]
    assert untranslated == []
    with open(CATALOGUE / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = [msgid for msgid, msgstr in entries.items() if compiled.gettext(msgid) != msgstr]
    assert stale == [], "django.mo is out of date: run manage.py compilemessages"
