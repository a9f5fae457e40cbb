"""Every "may this person see X" goes through an app's access module.

The definitions are queryset methods (``Collection.objects.readable_by``, ``curated_by``,
``readable_slugs``, ``Conversation.objects.owned_by``); only the access modules (``*/access.py``) and
the models that define them may call them. A view, consumer, selector or command that calls one
directly is a second door nobody reviews: this test names it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "assistant", "audit", "documents", "humphrey", "insights")
DEFINITIONS = re.compile(r"\.(readable_by|curated_by|owned_by|readable_slugs)\(")


def test_only_access_modules_call_the_access_definitions():
    offenders = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if path.name in ("access.py", "models.py") or "migrations" in relative.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if DEFINITIONS.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "call documents.access / assistant.access instead:\n" + "\n".join(offenders)


def test_the_doors_are_listed_by_grep():
    """``grep -rn "def access_"`` lists every door: each app that guards objects has its module."""
    doors = {
        path.parent.name: re.findall(r"^def (access_\w+)", path.read_text(), re.M) for path in ROOT.glob("*/access.py")
    }
    assert {"documents", "assistant", "insights"} <= set(doors)
    assert all(doors[app] for app in ("documents", "assistant", "insights"))
