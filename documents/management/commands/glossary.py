"""``manage.py glossary SLUG [--load FILE] [--as EMAIL]``: show a collection's glossary, or replace it.

``FILE`` holds one entry a line, ``phrase = means`` as curators write them on the glossary page, or
JSON lines ``{"phrase": ..., "means": ...}`` (``.jsonl``). Loading replaces the whole glossary in one
audited change, as saving the page does.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from documents.models import Collection
from documents.services import glossary as glossary_services


def read_entries(path: Path) -> list[tuple[str, str]]:
    """The entries of a glossary file; ``CommandError`` naming each line that is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from exc
    if path.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append((number, str(row["phrase"]), str(row["means"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"{path}, line {number}: not an object with phrase and means ({exc})") from exc
        parsed = glossary_services.glossary_check(rows)
    else:
        parsed = glossary_services.glossary_parse(text)
    if parsed.errors:
        problems = "; ".join(f"line {n}: {m}" if n else m for n, m in parsed.errors)
        raise CommandError(f"{path}: {problems}")
    return parsed.entries


class Command(BaseCommand):
    help = "Show a collection's glossary, or replace it with the entries of a file (--load)."

    def add_arguments(self, parser):
        parser.add_argument("collection", help="the collection's short name")
        parser.add_argument("--load", type=Path, help="replace the glossary with this file's entries")
        parser.add_argument("--as", dest="email", help="the curator recorded as making the change")

    def handle(self, *args, collection: str, load: Path | None = None, email: str | None = None, **options):
        target = Collection.objects.filter(slug=collection).first()
        if target is None:
            raise CommandError(f"No collection {collection!r}.")
        if load is None:
            self.stdout.write(glossary_services.glossary_lines(target) or "(no entries)")
            return
        user = None
        if email:
            user = get_user_model().objects.filter(email__iexact=email).first()
            if user is None:
                raise CommandError(f"No account {email!r}.")
        entries = read_entries(load)
        changes = glossary_services.glossary_replace(collection=target, user=user, entries=entries)
        self.stdout.write(
            f"Glossary of {collection!r}: {len(entries)} entries "
            f"({len(changes['added'])} added, {len(changes['changed'])} changed, {len(changes['removed'])} removed)"
        )
        unused, in_guidance = glossary_services.glossary_warnings(target, entries)
        for means in unused:
            self.stderr.write(f"  no passage holds {means!r}: searching for it finds nothing")
        for phrase in in_guidance:
            self.stderr.write(f"  the guidance itself uses {phrase!r}: questions holding it are searched otherwise")
