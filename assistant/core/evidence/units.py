"""Answer units (sentences, list items, table rows) scored against a question, by meaning and words."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from documents.ingest.units import HEADING, QUOTABLE, SENTENCE, furniture

from ..types import Source
from .words import Weights, _has, _with_negations, _word_share, question_terms, terms


@dataclass
class ScoredUnit:
    source: Source
    index: int  # the unit's index in ``source.units``
    meaning: float  # cosine to the question (0 when the source has no unit vectors)
    words: float  # weighted share of the question's words the unit (with its context) holds
    score: float
    own: bool = True  # it, its section's heading or the sentence it leans on holds one of the question's words

    @property
    def start(self) -> int:
        return self.source.units[self.index][0]

    @property
    def end(self) -> int:
        return self.source.units[self.index][1]

    @property
    def kind(self) -> str:
        return self.source.units[self.index][2]


def unit_text(source: Source, index: int) -> str:
    start, end = source.units[index][0], source.units[index][1]
    return " ".join(source.text[start:end].split())


def _unit_matrix(source: Source) -> np.ndarray | None:
    vectors = source.unit_vectors
    if vectors is None or not len(source.units):
        return None
    matrix = np.asarray(vectors, dtype=np.float32)
    return matrix if matrix.shape[0] == len(source.units) else None


def heading_line_above(source: Source, index: int) -> str:
    """The nearest heading line above a unit inside its chunk, "" when there is none."""
    for i in range(index - 1, -1, -1):
        if source.units[i][2] == HEADING:
            return unit_text(source, i).lstrip("#").strip()
    return ""


def heading_above(source: Source, index: int) -> str:
    """The heading a unit sits under: the nearest heading line above it in the chunk, else the last
    of the chunk's heading path (as ``documents.ingest.units.local_heading``)."""
    if line := heading_line_above(source, index):
        return line
    return source.heading_path.split(" > ")[-1] if source.heading_path else ""


def _quotable(source: Source, index: int) -> bool:
    """A sentence, list item or table row, but not a document's furniture (its version line, say)."""
    kind = source.units[index][2]
    return kind in QUOTABLE and not (kind == SENTENCE and furniture(unit_text(source, index)))


def _quotable_beside(source: Source, index: int, step: int) -> int | None:
    """The nearest quotable unit before (``step`` -1) or after (+1) ``index`` under the same heading."""
    i = index + step
    while 0 <= i < len(source.units):
        if source.units[i][2] == HEADING:
            return None
        if _quotable(source, i):
            return i
        i += step
    return None


def _opens_section(source: Source, index: int) -> bool:
    """The first quotable unit under a heading: in guidance, often the rule or definition itself."""
    return _quotable_beside(source, index, -1) is None


_DEFINITION = re.compile(
    r"^\s*(what|whats|what's)\s+(is|are|was|were|does|do)\s+(an?\s+|the\s+)?[\w\s'’-]{1,60}(\?|$)"
    r"|\b(define|definition of|meaning of|stands? for)\b|\b(mean|meaning|means)\s*\??\s*$",
    re.IGNORECASE,
)


# A sentence that defines: "This is when...", "X is defined as...", "X means...", "It refers to...".
_DEFINES = re.compile(
    r"^(this|that|it) (is|are|means|refers)\b|^[^.;:]{1,80}\b(is|are) (defined as|when|where|the|a|an)\b"
    r"|^[^.;:]{1,80}\b(means|refers to)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class UnitScoring:
    """How a unit's score is made (``score_units``): weights of meaning and words, and small priors."""

    meaning: float = 0.6  # the rest of the first 1.0 is the question's words
    section_lead: float = 0.0  # bonus for the first unit under a heading
    passage_rank: float = 0.15  # bonus for the passage retrieval ranked first, less for later ones
    definition_lead: float = 0.15  # for a question asking what something is or means: the first unit


def score_units(
    *,
    question: str,
    vector,
    sources: Iterable[Source],
    weights: Weights,
    scoring: UnitScoring = UnitScoring(),
    subject: str = "",
) -> list[ScoredUnit]:
    """Every quotable unit of ``sources``, scored against the question (and the ``subject`` of the
    question a follow-up leans on), best first."""
    wanted = question_terms(question, weights, subject)
    definition = bool(_DEFINITION.search(question))
    lead_bonus = scoring.section_lead + (scoring.definition_lead if definition else 0.0)
    q = None if vector is None else np.asarray(vector, dtype=np.float32)
    scored: list[ScoredUnit] = []
    for rank, source in enumerate(sources, start=1):
        matrix = _unit_matrix(source) if q is not None else None
        sims = matrix @ q if matrix is not None else None
        prior = scoring.passage_rank / rank
        title = source.document_title.casefold()
        for index, unit in enumerate(source.units):
            if not _quotable(source, index):
                continue
            present = _with_negations(terms(unit_text(source, index)))
            heading = heading_above(source, index)
            partly = set(terms(heading))
            # What the unit says, with the sentence it leans on and its section's heading, but not
            # the document's title: every unit of a document sits under that.
            said = present | partly if heading.casefold() != title else set(present)
            context = unit[3]
            if context >= 0:  # the sentence a unit leans on is shown with it, but is not it
                leans_on = set(terms(unit_text(source, context)))
                partly |= leans_on
                said |= leans_on
            words = _word_share(wanted, present, partly)
            meaning = float(sims[index]) if sims is not None else 0.0
            score = words if sims is None else scoring.meaning * meaning + (1 - scoring.meaning) * words
            score += prior + (lead_bonus if _opens_section(source, index) else 0.0)
            if definition and _DEFINES.match(unit_text(source, index)):
                score += scoring.definition_lead
            own = any(_has(t, said) for t in wanted) if wanted else True
            scored.append(ScoredUnit(source, index, meaning, words, score, own))
    scored.sort(key=lambda s: -s.score)
    return scored
