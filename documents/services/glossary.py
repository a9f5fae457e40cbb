"""A collection's glossary: read from the lines a curator writes, replaced whole, audited.

A glossary is written as lines ``memory stick = removable media`` (what people ask with, then the
guidance's own words). Saving replaces the whole list in one transaction with one audit event
(``curation.glossary_update``) naming what was added, changed and removed.

The glossary page also reads: which saved entries the guidance makes doubtful (``glossary_warnings``,
one query however many entries) and how many answers applied each (``glossary_usage``, from the
answers' audit events, one query).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from audit.services import audit_record

from ..glossary import glossary_forget, phrase_key, plural_twins
from ..models import Chunk, Collection, GlossaryTerm
from ..subjects import audit_subject
from ..text import INVISIBLE

MAX_TERMS = 500
MAX_PHRASE_WORDS = 6
USAGE_DAYS = 90  # the glossary page counts the answers of this many days
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
    parsed, seen = Parsed(), {}  # phrase key -> (line, phrase as written)
    max_phrase = GlossaryTerm._meta.get_field("phrase").max_length
    max_means = GlossaryTerm._meta.get_field("means").max_length
    for number, raw_phrase, raw_means in rows:
        phrase, means = " ".join(raw_phrase.split()), " ".join(raw_means.split())
        key = phrase_key(phrase)
        if INVISIBLE.search(raw_phrase) or INVISIBLE.search(raw_means):
            parsed.errors.append(
                (number, "Remove the invisible characters from this line: type it again rather than pasting it")
            )
        elif not phrase or not means:
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
            parsed.errors.append((number, f"“{phrase}” is already on line {seen[key][0]}"))
        elif twin := next((k for k in plural_twins(key) if k in seen), None):
            line, written = seen[twin]
            parsed.errors.append(
                (number, f"“{phrase}” is already on line {line} as “{written}”: a plural ending matches either")
            )
        else:
            seen[key] = (number, phrase)
            parsed.entries.append((phrase, means))
    if len(parsed.entries) > MAX_TERMS:
        parsed.errors.append((0, f"A glossary holds at most {MAX_TERMS} entries"))
    return parsed


def glossary_entries(collection: Collection) -> list[tuple[str, str]]:
    """The collection's saved entries (phrase, means), in the order of their phrases."""
    return list(collection.glossary.order_by("key").values_list("phrase", "means"))


def glossary_lines(collection: Collection, entries: list[tuple[str, str]] | None = None) -> str:
    """The collection's glossary (or ``entries`` read from it) as a curator edits it."""
    entries = glossary_entries(collection) if entries is None else entries
    return "\n".join(f"{phrase} = {means}" for phrase, means in entries)


# Which of the texts (numbered in the array) a searchable passage of the collection holds, all in one
# statement: the same test as ``search_vector=SearchQuery(text, search_type="phrase", config="english")``.
_HELD = """
SELECT t.n
FROM unnest(%s::text[]) WITH ORDINALITY AS t(text, n)
WHERE EXISTS (
    SELECT 1 FROM {chunk} c
    WHERE c.collection_id = %s AND c.searchable
      AND c.search_vector @@ phraseto_tsquery('english'::regconfig, t.text)
)
"""


def _held(collection: Collection, texts) -> dict[str, bool]:
    """Whether a searchable passage of the collection holds each of ``texts`` (as search matches
    words). One query however many texts."""
    texts = list(dict.fromkeys(texts))
    if not texts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_HELD.format(chunk=Chunk._meta.db_table), [texts, collection.pk])
        held = {n for (n,) in cursor.fetchall()}
    return {text: n in held for n, text in enumerate(texts, start=1)}


def glossary_warnings(collection: Collection, entries: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """What the guidance makes doubtful in ``entries``, in one query however many: the meanings no
    searchable passage of the collection holds (searching for them finds nothing), and the phrases the
    guidance itself uses (a question holding one is searched for what it means instead, and may miss
    the passages that use the phrase)."""
    held = _held(collection, [text for entry in entries for text in entry])
    unused = dict.fromkeys(means for _, means in entries if not held[means])
    in_guidance = dict.fromkeys(phrase for phrase, _ in entries if held[phrase])
    return list(unused), list(in_guidance)


@dataclass(frozen=True)
class Usage:
    """How many answers of the last ``days`` applied each of a glossary's saved entries."""

    days: int
    answers: int  # answers that applied any entry of this collection's glossary (removed ones too)
    entries: list[tuple[str, str, int]]  # (phrase, means, answers that applied it), as saved

    @property
    def never(self) -> int:
        """Saved entries no answer of the period applied."""
        return sum(1 for *_, n in self.entries if not n)


# Per phrase (and, the row with a NULL phrase, in all) how many answer events since a time applied an
# entry of one collection's glossary. An answer's ``glossary`` lists the entries applied as {phrase,
# means, collection}; ``collection`` names every collection whose glossary gave the phrase ("hr,
# travel" when two define it differently), each of them among the collections the answer searched,
# which the GIN index on ``data`` finds.
_USED = """
SELECT g.item ->> 'phrase', count(DISTINCT e.id)
FROM {event} e
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(e.data -> 'glossary') = 'array' THEN e.data -> 'glossary' ELSE '[]'::jsonb END
) AS g(item)
WHERE e.action = %(action)s AND e.created_at >= %(since)s
  AND e.data @> %(searched)s::jsonb
  AND jsonb_typeof(g.item) = 'object' AND g.item ->> 'phrase' IS NOT NULL
  AND %(slug)s = ANY(string_to_array(g.item ->> 'collection', ', '))
GROUP BY GROUPING SETS ((g.item ->> 'phrase'), ())
"""


def glossary_usage(collection: Collection, entries: list[tuple[str, str]], *, days: int = USAGE_DAYS) -> Usage:
    """How many answers of the last ``days`` applied each of ``entries`` (the collection's saved
    glossary), told from the answers' audit events: an entry is counted by its phrase as compared
    (``phrase_key``), so an answer that found "Memory-Stick" counts for "memory stick". One query."""
    since = timezone.now() - dt.timedelta(days=days)
    params = {
        "action": str(Action.ANSWER),
        "since": since,
        "searched": json.dumps({"collections": [collection.slug]}),
        "slug": collection.slug,
    }
    with connection.cursor() as cursor:
        cursor.execute(_USED.format(event=AuditEvent._meta.db_table), params)
        rows = cursor.fetchall()
    per_key: Counter[str] = Counter()
    total = 0
    for phrase, n in rows:
        if phrase is None:
            total = n
        else:
            per_key[phrase_key(phrase)] += n
    return Usage(days, total, [(phrase, means, per_key[phrase_key(phrase)]) for phrase, means in entries])


def glossary_replace(*, collection: Collection, user, entries: list[tuple[str, str]]) -> dict:
    """Make ``entries`` (phrase, means) the collection's whole glossary; returns what changed."""
    if len(entries) > MAX_TERMS:
        raise ValidationError(f"A glossary holds at most {MAX_TERMS} entries.")
    if any(INVISIBLE.search(text) for entry in entries for text in entry):
        raise ValidationError("Remove the invisible characters from the glossary's entries.", code="invisible")
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
