"""What retrieval returns, as plain data. No Django imports: ``assistant.core`` builds on these.

The arrow: ``assistant.core.types.Source`` (a passage as the model is shown it) extends
``PassageFields`` from here, because documents may not import assistant, and assistant.core may
import no Django. This module and the package's ``__init__`` (which loads the Django-bound modules
only when one of their names is asked for) import nothing but the standard library, so
``assistant.core`` can import it as it imports ``documents.ingest.units``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The plans the statement can take, reported for tests, logs and the benchmark.
PLAN_EMPTY = "empty"  # the user can read nothing (or nothing searchable)
PLAN_EXACT = "exact"  # exact distances over the readable chunks
PLAN_HNSW = "hnsw"  # the HNSW index, filtered
PLAN_HNSW_FALLBACK = "hnsw+exact"  # the index came back short, exact scan took over

#: The channels a passage can be scored by, in the order the statement fuses them; the keys of
#: ``PassageFields.scores``: cosine similarity (vector), full-text rank of the English words
#: (words), full-text rank of the code-like phrases, unstemmed (codes).
VECTOR = "vector"
WORDS = "words"
CODES = "codes"


@dataclass(frozen=True, kw_only=True)
class PassageFields:
    """One chunk of a document version: where it came from and how each channel scored it."""

    chunk_id: int
    text: str
    document_id: int
    document_title: str
    version_id: int
    version_number: int
    version_sha256: str
    collection_slug: str
    marking: str
    heading_path: str = ""
    anchor: str = ""
    page: int | None = None
    # Channel name -> its score for this passage (None or absent: the channel did not find it).
    # Left out of the hash (a dict has none); equality still compares it.
    scores: dict[str, float | None] = field(default_factory=dict, hash=False)
    score: float = 0.0  # fused reciprocal-rank score (what the order is by)

    @property
    def vector_score(self) -> float | None:
        """Cosine similarity to the question, when the chunk has an embedding."""
        return self.scores.get(VECTOR)

    @property
    def keyword_score(self) -> float | None:
        """The full-text rank: of the English words where they matched, else of the codes."""
        words = self.scores.get(WORDS)
        return words if words is not None else self.scores.get(CODES)

    @classmethod
    def passage_fields(cls, passage: PassageFields) -> dict:
        """``passage``'s shared fields by name, to build another kind of passage from it."""
        return {name: getattr(passage, name) for name in _SHARED}


_SHARED = tuple(PassageFields.__dataclass_fields__)


@dataclass(frozen=True, kw_only=True)
class Passage(PassageFields):
    """One retrieved chunk with where it came from and why it ranked where it did."""

    source_name: str
    char_start: int
    char_end: int
    rank: int  # 1-based position in the result


@dataclass(frozen=True)
class Retrieval:
    """What ``retrieve`` found and how: the passages plus the plan taken (for logs and tests)."""

    passages: list[Passage]
    plan: str
    population: int = 0  # readable searchable chunks counted (capped at exact_below)
    notes: dict = field(default_factory=dict)
