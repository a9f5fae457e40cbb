"""The coverage gate: does the guidance the person may read cover the question at all?"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import Source
from .slots import asked_about, asked_case, asked_slot, fills, holds_case
from .units import ScoredUnit, _unit_matrix, heading_above, score_units, unit_text
from .words import Weights, _has, _word_share, question_terms, terms


@dataclass(frozen=True)
class Coverage:
    """The evidence for "is this question covered?", and the verdict."""

    covered: bool
    words: float  # weighted share of the question's words found in the best passage (title and headings too)
    words_union: float  # ... found across the top passages together
    missing: tuple[str, ...]  # the question's rarest words no top passage holds
    best_unit: float  # best unit's cosine to the question
    best_passage: float  # best passage's cosine (the retrieval vector channel)
    agree: bool  # the vector channel's best passage also matched the question's words
    score: float  # the combined evidence the verdict compares with the threshold
    slot: str | None = None  # the kind of detail the question asks for ("money", "duration"...), if any
    slot_filled: bool | None = None  # whether one of the best units holds a detail of that kind
    documents: int = 0  # how many documents the top passages come from (three or more: "scattered")
    caution: bool = False  # answered, but with evidence only just enough: the answer says so

    def as_dict(self) -> dict:
        return {
            "covered": self.covered,
            "score": round(self.score, 3),
            "words": round(self.words, 3),
            "words_union": round(self.words_union, 3),
            "missing": list(self.missing),
            "best_unit": round(self.best_unit, 3),
            "best_passage": round(self.best_passage, 3),
            "agree": self.agree,
            "slot": self.slot,
            "slot_filled": self.slot_filled,
            "documents": self.documents,
            "caution": self.caution,
        }


@dataclass(frozen=True)
class GateSettings:
    """The coverage gate's weights and thresholds (``HUMPHREY_ANSWER_*`` settings; docs/answers.md).

    evidence = words_weight x words + unit_weight x best unit's cosine + passage_weight x best
    passage's cosine. Covered when evidence >= ``min_score`` and the best unit >= ``min_best_unit``,
    and, for a question asking for a detail (an amount, a length of time, a count...), when one of the
    ``slot_units`` best units holds a detail of that kind, about what the question counts ("how many
    weeks of neonatal leave": "neonatal" too) and what it asks the rate, limit or deadline of ("the
    weekly rate of Maternity Allowance": both words as written, with ``cases``) (0: not checked); a
    question asking for a named person ("who is the Cabinet Secretary?", with ``names``) asks for a
    name."""

    min_score: float = 0.5
    words_weight: float = 0.2
    unit_weight: float = 0.65
    passage_weight: float = 0.15
    min_best_unit: float = 0.3
    top_passages: int = 4  # passages whose words and units are counted
    slot_units: int = 2  # best units searched for the detail a question asks for (0: not checked)
    names: bool = False  # "who is the Cabinet Secretary?" asks for a person's name (tried, not adopted)
    cases: bool = False  # "the weekly rate of Maternity Allowance": its words, as written, in the unit (ditto)
    dates: bool = False  # "when will the pay award be paid?" asks for a moment (tried, not adopted)
    scattered_documents: int = 3  # top passages from this many documents or more are "scattered"
    scattered_margin: float = 0.0  # evidence needed on top of min_score when they are (tried: docs/answers.md)
    caution_margin: float = 0.05  # answered with evidence less than this above what was needed: "caution"


def _passage_terms(source: Source) -> set[str]:
    return set(terms(source.text)) | set(terms(source.heading_path)) | set(terms(source.document_title))


def _slot_filled(
    slot: str, about: tuple[str, ...], scored: list[ScoredUnit], units: int, case: tuple[str, ...] = ()
) -> bool:
    """Whether one of the ``units`` best units (each with the unit it needs before it: a table row's
    header, a list item's lead-in) holds a detail of the kind ``slot``, about every word of ``about``
    (in the unit, that context, its heading or its document's title) and holding every word of
    ``case`` as written (there too)."""
    for unit in scored[:units]:
        source = unit.source
        text = unit_text(source, unit.index)
        context = source.units[unit.index][3]
        if context >= 0:
            text = unit_text(source, context) + " " + text
        if not fills(slot, text):
            continue
        if about or case:
            where = " ".join((text, heading_above(source, unit.index), source.heading_path, source.document_title))
            held = set(terms(where))
            if not all(_has(t, held) for t in about) or not holds_case(case, where):
                continue
        return True
    return False


def coverage(
    *,
    question: str,
    vector,
    sources: list[Source],
    weights: Weights,
    gate: GateSettings,
    scored: list[ScoredUnit] | None = None,
    subject: str = "",
) -> Coverage:
    """Whether ``sources`` (best first) cover ``question`` (a follow-up: with the ``subject`` of the
    question it leans on); ``scored``: the top passages' units as ``score_units`` scored them."""
    if not sources:
        return Coverage(False, 0.0, 0.0, (), 0.0, 0.0, False, 0.0)
    wanted = question_terms(question, weights, subject)
    top = sources[: gate.top_passages]
    per_passage = [_passage_terms(s) for s in top]
    words = max(_word_share(wanted, present) for present in per_passage)
    union = set().union(*per_passage)
    words_union = _word_share(wanted, union)
    missing = tuple(sorted((t for t in wanted if not _has(t, union)), key=lambda t: -wanted[t])[:5])
    if scored is None:
        scored = score_units(question=question, vector=vector, sources=top, weights=weights, subject=subject)
    has_vectors = any(_unit_matrix(s) is not None for s in top) and vector is not None
    best_unit = max((u.meaning for u in scored), default=0.0) if has_vectors else 0.0
    vector_scores = [s for s in sources if s.vector_score is not None]
    best_passage = max((s.vector_score for s in vector_scores), default=0.0)
    best_by_vector = max(vector_scores, key=lambda s: s.vector_score, default=None)
    agree = bool(best_by_vector is not None and best_by_vector.keyword_score)
    documents = len({s.document_id for s in top})
    scattered = gate.scattered_documents > 0 and documents >= gate.scattered_documents
    needed = gate.min_score + (gate.scattered_margin if scattered else 0.0)
    if has_vectors:
        score = gate.words_weight * words + gate.unit_weight * best_unit + gate.passage_weight * best_passage
        covered = score >= needed and best_unit >= gate.min_best_unit
    else:  # words alone (keyword-only retrieval, or units not embedded yet)
        score = words
        covered = score >= needed
    slot = asked_slot(question, names=gate.names, dates=gate.dates) if gate.slot_units > 0 and scored else None
    case = asked_case(question) if slot and gate.cases else ()
    slot_filled = _slot_filled(slot, asked_about(question), scored, gate.slot_units, case) if slot else None
    if slot_filled is False:  # it asks for a figure, a length of time...: the units that answer best hold none
        covered = False
    caution = covered and score < needed + gate.caution_margin
    return Coverage(
        covered, words, words_union, missing, best_unit, best_passage, agree, score, slot, slot_filled, documents,
        caution,
    )  # fmt: skip
