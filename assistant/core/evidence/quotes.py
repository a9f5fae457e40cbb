"""The extractive answer: the units that answer, with the context each needs, as Markdown."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from documents.ingest.units import HEADER, ITEM, ROW

from ..types import Source
from .slots import answer_form, has_form
from .units import ScoredUnit, _quotable_beside, unit_text

# A unit quoted beside the best one that holds none of the question's words (nor does its section's
# heading or the sentence it leans on: only the document's title, as "Annual leave" over a fictional
# sample's disclaimer, or "This guide is also available in Welsh") must mean at least this share of
# what the best unit means.
OWN_WORDS_OR_MEANING = 0.8
_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$")


@dataclass(frozen=True)
class Quote:
    """Units of one source to quote together, in reading order, each with its context first."""

    source: Source
    indexes: tuple[int, ...]

    def text(self) -> str:
        return render_units(self.source, self.indexes)


def _words(text: str) -> int:
    return len(text.split())


def _with_context(source: Source, index: int) -> list[int]:
    """The unit and the one it needs before it (a table row's header, a list item's lead-in, the
    sentence a "This means..." leans on), in reading order."""
    context = source.units[index][3]
    return [context, index] if context >= 0 else [index]


def _list_items(source: Source, lead: int) -> list[int]:
    return [i for i, u in enumerate(source.units) if u[3] == lead and u[2] in (ITEM, ROW)]


def _cost(source: Source, indexes: Iterable[int]) -> int:
    return sum(_words(unit_text(source, i)) for i in indexes)


def prefer_answer_form(question: str, scored: list[ScoredUnit], bonus: float) -> list[ScoredUnit]:
    """``scored`` again, best first, with ``bonus`` added to each unit holding an answer of the form
    the question expects (``slots.answer_form``): an amount for "how much", a length of time for
    "how long", a role or a team for "who should I ask", an address or a form for "where". The unit
    that answers is often not the one closest to the question's words: "Who should I ask before using
    an open internet tool?" is answered by "Check with your Line Manager...", behind sentences that
    repeat "open internet tool" (docs/answers.md, "Eighth round"). For the quotes only: the gate
    reads the units as scored."""
    form = answer_form(question) if bonus else None
    if not form:
        return scored
    out = []
    for unit in scored:
        source, index = unit.source, unit.index
        text = unit_text(source, index)
        context = source.units[index][3]
        if context >= 0:
            text = unit_text(source, context) + " " + text
        out.append(replace(unit, score=unit.score + bonus) if has_form(form, text) else unit)
    out.sort(key=lambda u: -u.score)
    return out


def select_units(
    scored: list[ScoredUnit],
    *,
    max_words: int = 120,
    keep_ratio: float = 0.55,
    other_document_ratio: float = 0.8,
    max_sources: int = 3,
    neighbours: bool = True,
) -> list[Quote]:
    """The units that answer, about ``max_words`` words in all, grouped by source (best source first)
    in reading order:

    1. the best unit, then each unit scoring at least ``keep_ratio`` of it (``other_document_ratio``
       when it is from another document than the best unit's), each with the unit it needs before
       it; when the best unit is a lead-in ending in ":", its list items come with it (the best ones
       first when they do not all fit); other items only on their own scores;
    2. while words are left, the unit after each chosen one (the sentence after the best match is
       often the rule itself: "... are approved for corporate accounts. General use is not permitted.").

    The best unit is always kept, cut to its first items if it is a long list."""
    if not scored:
        return []
    best = scored[0].score
    score_of = {(u.source.chunk_id, u.index): u.score for u in scored}
    chosen: dict[int, tuple[Source, set[int]]] = {}
    order: list[tuple[Source, int]] = []  # chosen units, best first
    used = 0

    def room(source: Source, indexes: list[int]) -> list[int]:
        have = chosen.get(source.chunk_id, (source, set()))[1]
        return [i for i in indexes if i not in have]

    def take(source: Source, indexes: list[int]) -> None:
        nonlocal used
        entry = chosen.setdefault(source.chunk_id, (source, set()))
        entry[1].update(indexes)
        used += _cost(source, indexes)

    for candidate in scored:
        if candidate.score < best * keep_ratio or candidate.score <= 0 or used >= max_words:
            break
        source = candidate.source
        if source.chunk_id not in chosen and len(chosen) >= max_sources:
            continue
        if source.document_id != scored[0].source.document_id and candidate.score < best * other_document_ratio:
            continue  # another document's passage, quoted only when nearly as good: it rarely answers
        if order and not candidate.own and candidate.meaning < scored[0].meaning * OWN_WORDS_OR_MEANING:
            continue  # only its heading holds the question's words, and it means less than the best
        wanted = room(source, _with_context(source, candidate.index))
        if not wanted:
            continue
        if not order and unit_text(source, candidate.index).endswith(":"):  # the best match is a lead-in
            items = room(source, _list_items(source, candidate.index))
            items.sort(key=lambda i: -score_of.get((source.chunk_id, i), 0.0))
            left = max_words - used - _cost(source, wanted)
            for i in items:
                if _cost(source, [i]) <= left or (not used and i == items[0]):
                    wanted.append(i)
                    left -= _cost(source, [i])
        cost = _cost(source, wanted)
        if used and used + cost > max_words:
            continue
        take(source, wanted)
        order.append((source, candidate.index))
    if neighbours:
        for source, index in order:
            after = _quotable_beside(source, index, 1)
            if after is None:
                continue
            wanted = room(source, [after])
            if wanted and used + _cost(source, wanted) <= max_words:
                take(source, wanted)
    return [Quote(source, tuple(sorted(units))) for source, units in chosen.values()]


def render_units(source: Source, indexes: Iterable[int]) -> str:
    """Markdown for units of one source, verbatim: sentences run together, list items and table
    rows on lines of their own (a table's header row before its rows). Two sentences that are not
    next to each other in the guidance are joined by "…", so the quote does not read as one run of
    text when something between them was left out."""
    parts: list[str] = []
    previous_kind, previous = None, None
    for i in indexes:
        kind = source.units[i][2]
        text = unit_text(source, i)
        if kind == HEADER and _PIPE_ROW.match(text):
            # A table of its own (a blank line before it), its header marked as one so it renders as a
            # table, not a run of "|": the one line added to what the guidance says, and no words.
            cells = text.strip().strip("|").count("|") + 1
            parts.append(("\n\n" if parts else "") + text + "\n|" + "---|" * cells)
        elif kind in (ITEM, ROW, HEADER):
            parts.append("\n" + text)
        elif previous_kind in (ITEM, ROW, HEADER) or not parts:
            parts.append(("\n\n" if parts else "") + text)
        else:
            parts.append((" " if i == previous + 1 else " … ") + text)
        previous_kind, previous = kind, i
    return "".join(parts).strip()
