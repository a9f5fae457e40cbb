"""A collection's glossary, and applying it to a question: the words people ask with, put as the guidance puts them.

Curators keep, per collection, entries such as "memory stick" → "removable media" (``GlossaryTerm``).
A question holding an entry's phrase is searched and judged in the guidance's words: the phrase is
replaced where it stands, so the search by meaning, the search by words and the coverage gate all see
"removable media" rather than an everyday word the guidance never uses. What the person asked, and
the prompt a model is given, keep their own words; the person is told what was searched for.

Matching is by whole words, ignoring case, a hyphen or space between words, and a plural ending on
the last word; a longer phrase wins over a shorter one inside it ("memory stick" over "stick").
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One glossary entry: a ``phrase`` people ask with, and what the guidance ``means`` by it."""

    phrase: str
    means: str
    collection: str = ""  # the collection whose glossary holds it

    def as_dict(self) -> dict:
        return {"phrase": self.phrase, "means": self.means, "collection": self.collection}


#: The endings the matcher allows on a phrase's last word (a plural or a possessive): "memory sticks"
#: and "memory stick's" are found by the entry "memory stick".
PLURAL_ENDINGS = ("'s", "’s", "es", "s")


def phrase_key(phrase: str) -> str:
    """A phrase as it is compared: lower case, words joined by single spaces, hyphens as spaces."""
    return " ".join(re.sub(r"[-\s]+", " ", phrase.casefold()).split())


def plural_twins(key: str) -> list[str]:
    """The phrase keys that differ from ``key`` only by a plural ending the matcher allows, either
    way ("memory stick" and "memory sticks"): each finds the other's words in a question."""
    stems = (key[: -len(e)] for e in PLURAL_ENDINGS if key.endswith(e))
    shorter = [stem for stem in stems if stem and not stem.endswith(" ")]
    return [k for k in dict.fromkeys([*shorter, *(key + e for e in PLURAL_ENDINGS)]) if k != key]


def _alternatives(keys) -> str:
    alternatives = []
    for key in sorted(keys, key=len, reverse=True):
        words = [re.escape(w) for w in key.split()]
        alternatives.append(r"[-\s]+".join(words) + r"(?:e?s|'s|’s)?")
    return "|".join(alternatives)


class Glossary:
    """Terms ready to apply; one per phrase (the first given wins).

    What an entry means is itself never rewritten: "public holidays", the guidance's words for "bank
    holidays", stays so in a question even with "holiday" → "annual leave" in the glossary."""

    def __init__(self, terms) -> None:
        self.terms: dict[str, Term] = {}
        for term in terms:
            key = phrase_key(term.phrase)
            if key and term.means.strip() and key not in self.terms:
                self.terms[key] = term
        self._pattern = self._anywhere = None
        if self.terms:
            kept = {phrase_key(t.means) for t in self.terms.values()} - set(self.terms)
            alternatives = _alternatives([*self.terms, *kept])
            self._pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
            # Every phrase wherever it starts, a shorter one inside a longer one too.
            self._anywhere = re.compile(rf"(?<![\w-])(?=({_alternatives(self.terms)})(?![\w-]))", re.IGNORECASE)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def _term(self, found: str) -> Term | None:
        key = phrase_key(found)
        if key in self.terms:
            return self.terms[key]
        for ending in PLURAL_ENDINGS:  # the plural or possessive the pattern allowed
            if key.endswith(ending) and key[: -len(ending)] in self.terms:
                return self.terms[key[: -len(ending)]]
        return None

    def find(self, text: str) -> tuple[Term, ...]:
        """The terms ``apply`` uses on ``text``, in the order they first appear."""
        if self._pattern is None or not text:
            return ()
        found: dict[str, Term] = {}
        for match in self._pattern.finditer(text):
            term = self._term(match.group(0))
            if term is not None:
                found.setdefault(phrase_key(term.phrase), term)
        return tuple(found.values())

    def keys_in(self, text: str) -> set[str]:
        """The phrases ``text`` holds anywhere, one inside another too ("stick" in "memory stick")."""
        if self._anywhere is None or not text:
            return set()
        terms = (self._term(m.group(1)) for m in self._anywhere.finditer(text))
        return {phrase_key(t.phrase) for t in terms if t is not None}

    def apply(self, text: str) -> str:
        """``text`` with each phrase it holds replaced by what the guidance calls it."""
        if self._pattern is None or not text:
            return text

        def replace(match: re.Match) -> str:
            term = self._term(match.group(0))
            return term.means.strip() if term is not None else match.group(0)

        return self._pattern.sub(replace, text)


# --- the glossaries kept in the database ------------------------------------------------------------

_TTL = 30.0  # seconds a process keeps its list of every phrase (a new entry applies within this)
_known: dict[str, tuple[float, Glossary]] = {}
_lock = threading.Lock()


def glossary_known(using: str = "default", *, fresh_only: bool = False) -> Glossary | None:
    """Every phrase of every active collection's glossary (whatever it means), to tell at once,
    without asking the database, whether a question could hold one. ``fresh_only``: None rather
    than reading the database when this process's copy is older than ``_TTL``."""
    cached = _known.get(using)
    if cached is not None and time.monotonic() - cached[0] < _TTL:
        return cached[1]
    if fresh_only:
        return None
    from .models import GlossaryTerm

    rows = GlossaryTerm.objects.using(using).filter(collection__is_active=True).values_list("phrase", "means")
    known = Glossary(Term(phrase, means) for phrase, means in rows)
    with _lock:
        _known[using] = (time.monotonic(), known)
    return known


def glossary_forget() -> None:
    """Drop this process's list of phrases (after a change here; tests)."""
    _known.clear()


def glossary_for(user, collections, text: str) -> Glossary:
    """The entries of the glossaries of the collections ``user`` may read (of those named in
    ``collections``; None: all) whose phrase ``text`` holds. Only those glossaries decide which
    entries apply, so one the person may not read changes nothing. A phrase two collections define
    differently is searched as both; a term names every collection whose glossary holds its phrase."""
    known = glossary_known()
    keys = known.keys_in(text) if known else set()
    if not keys:
        return Glossary(())
    from .access import readable_collections
    from .models import GlossaryTerm

    readable = readable_collections(user)
    if collections:
        readable = readable.filter(slug__in=list(collections))
    rows = (
        GlossaryTerm.objects.filter(collection__in=readable, key__in=keys)
        .order_by("key", "collection__slug")
        .values_list("key", "phrase", "means", "collection__slug")
    )
    merged: dict[str, tuple[str, list[str], list[str]]] = {}
    for key, phrase, means, slug in rows:
        _, meanings, slugs = merged.setdefault(key, (phrase, [], []))
        if phrase_key(means) not in map(phrase_key, meanings):
            meanings.append(means)
        slugs.append(slug)  # every glossary that gave it: each collection's page counts the answer
    return Glossary(Term(phrase, " ".join(m), ", ".join(c)) for phrase, m, c in merged.values())
