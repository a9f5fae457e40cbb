"""A collection's glossary: read from the lines a curator writes, replaced whole, audited.

A glossary is written as lines ``memory stick = removable media`` (what people ask with, then the
guidance's own words). Saving replaces the whole list in one transaction with one audit event
(``curation.glossary_update``) naming what was added, changed and removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.actions import Action
from audit.services import audit_record

from ..glossary import glossary_forget, phrase_key
from ..models import Chunk, Collection, GlossaryTerm
from ..subjects import audit_subject

MAX_TERMS = 500
MAX_PHRASE_WORDS = 6
_SEPARATOR = re.compile(r"\s*(?:=>|->|→|=)\s*")


@dataclass
class Parsed:
    """Entries read from a curator's lines, and what was wrong with the others (line number, message)."""

    entries: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def glossary_parse(text: str) -> Parsed:
    """Read ``phrase = means`` lines; blank lines and lines starting ``#`` are skipped."""
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            parts = _SEPARATOR.split(line, maxsplit=1)
            rows.append((number, parts[0], parts[1] if len(parts) == 2 else ""))
    return glossary_check(rows)


def glossary_check(rows) -> Parsed:
    """Check entries given as (line number, phrase, means): each error is named with its line."""
    parsed, seen = Parsed(), {}
    max_phrase = GlossaryTerm._meta.get_field("phrase").max_length
    max_means = GlossaryTerm._meta.get_field("means").max_length
    for number, raw_phrase, raw_means in rows:
        phrase, means = " ".join(raw_phrase.split()), " ".join(raw_means.split())
        key = phrase_key(phrase)
        if not phrase or not means:
            parsed.errors.append((number, "Write it as: what people ask with = what the guidance calls it"))
        elif not re.search(r"\w", key):
            parsed.errors.append((number, "The phrase needs a letter or a number"))
        elif len(phrase) > max_phrase or len(key.split()) > MAX_PHRASE_WORDS:
            parsed.errors.append((number, f"Keep the phrase to {MAX_PHRASE_WORDS} words and {max_phrase} characters"))
        elif len(means) > max_means:
            parsed.errors.append((number, f"Keep what the guidance calls it to {max_means} characters"))
        elif key == phrase_key(means):
            parsed.errors.append((number, "The phrase and what it means are the same"))
        elif key in seen:
            parsed.errors.append((number, f"“{phrase}” is already on line {seen[key]}"))
        else:
            seen[key] = number
            parsed.entries.append((phrase, means))
    if len(parsed.entries) > MAX_TERMS:
        parsed.errors.append((0, f"A glossary holds at most {MAX_TERMS} entries"))
    return parsed


def glossary_lines(collection: Collection) -> str:
    """The collection's glossary as a curator edits it."""
    return "\n".join(f"{t.phrase} = {t.means}" for t in collection.glossary.order_by("key"))


def _held(collection: Collection, texts) -> dict[str, bool]:
    """Whether a searchable passage of the collection holds each of ``texts`` (as search matches words)."""
    chunks = Chunk.objects.filter(collection=collection, searchable=True)
    return {
        text: chunks.filter(search_vector=SearchQuery(text, search_type="phrase", config="english")).exists()
        for text in dict.fromkeys(texts)
    }


def glossary_unused(collection: Collection, entries: list[tuple[str, str]]) -> list[str]:
    """The ``means`` of ``entries`` no searchable passage of the collection holds: searching for
    them will find nothing."""
    return [means for means, held in _held(collection, (m for _, m in entries)).items() if not held]


def glossary_in_guidance(collection: Collection, entries: list[tuple[str, str]]) -> list[str]:
    """The phrases of ``entries`` the collection's guidance itself uses: a question holding one is
    searched for what it means instead, and may miss the passages that use the phrase."""
    return [phrase for phrase, held in _held(collection, (p for p, _ in entries)).items() if held]


def glossary_replace(*, collection: Collection, user, entries: list[tuple[str, str]]) -> dict:
    """Make ``entries`` (phrase, means) the collection's whole glossary; returns what changed."""
    if len(entries) > MAX_TERMS:
        raise ValidationError(f"A glossary holds at most {MAX_TERMS} entries.")
    wanted = {phrase_key(p): (p, m) for p, m in entries}
    with transaction.atomic():
        Collection.objects.select_for_update().filter(pk=collection.pk).first()  # one editor at a time
        current = {t.key: t for t in collection.glossary.all()}
        removed = sorted(set(current) - set(wanted))
        added = sorted(set(wanted) - set(current))
        changed = sorted(k for k in set(wanted) & set(current) if (current[k].phrase, current[k].means) != wanted[k])
        if not (removed or added or changed):
            return {"added": [], "changed": [], "removed": []}
        summary = {
            "added": [f"{wanted[k][0]} = {wanted[k][1]}" for k in added],
            "changed": [f"{wanted[k][0]} = {wanted[k][1]} (was {current[k].means})" for k in changed],
            "removed": [f"{current[k].phrase} = {current[k].means}" for k in removed],
        }
        collection.glossary.filter(key__in=removed).delete()
        for key in changed:
            term = current[key]
            term.phrase, term.means = wanted[key]
            term.save(update_fields=["phrase", "means"])
        GlossaryTerm.objects.bulk_create(
            GlossaryTerm(collection=collection, key=k, phrase=wanted[k][0], means=wanted[k][1]) for k in added
        )
        audit_record(
            action=Action.GLOSSARY_UPDATE,
            actor=user,
            subject=audit_subject(collection),
            data={"collection_id": collection.pk, "terms": len(wanted), **summary},
        )
        transaction.on_commit(glossary_forget)
    return summary
