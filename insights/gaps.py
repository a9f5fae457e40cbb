"""Grouping gap questions into topics: plain Python (numpy + scikit-learn), no Django imports.

Input: the questions the guidance did not cover and the answers people rated down, each with its
embedding and an opaque asker key. Output: topics, each with its members, a centroid and its top
keywords. Privacy rules live here too, because they are part of what a topic *is*:

- a topic's asker count is computed here and only ever compared with a threshold, never shown;
- a keyword must have been used by at least ``min_askers`` distinct askers in that topic, so a
  rare word that one person typed (a name, a place) can never name a topic. Numbers are never
  keywords (reference numbers, phone numbers).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

# Words only, two letters or more: digits never become keywords.
KEYWORD_TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"  # noqa: S105 (a regular expression, not a password)


@dataclass(frozen=True)
class GapQuestion:
    """One question that is a gap: not covered (``no_answer``), its answer rated down, or answered
    from guidance that only just covered it (the answer said it may not answer exactly)."""

    key: int  # the audit event id
    text: str
    asker: Hashable | None  # who asked, as an opaque key; None = unknown (never counts as an asker)
    not_covered: bool
    rated_down: bool
    personal_data: bool = False  # the pipeline found personal data in it: never shown as an example
    only_just: bool = False  # answered, but the guidance only just covered it (``coverage.caution``)


@dataclass
class Topic:
    members: list[GapQuestion]
    centroid: np.ndarray
    distances: list[float]  # cosine distance of each member to the centroid, same order as members
    keywords: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def asker_count(self) -> int:
        """Distinct known askers: for the privacy threshold only, never for display."""
        return len({q.asker for q in self.members if q.asker is not None})

    @property
    def not_covered(self) -> int:
        return sum(1 for q in self.members if q.not_covered)

    @property
    def rated_down(self) -> int:
        return sum(1 for q in self.members if q.rated_down)

    @property
    def only_just(self) -> int:
        return sum(1 for q in self.members if q.only_just)

    def examples(self, limit: int = 3) -> list[str]:
        """Up to ``limit`` questions nearest the centroid, one per asker, none with personal data."""
        chosen: list[str] = []
        seen_askers: set = set()
        seen_texts: set[str] = set()
        for distance_order in np.argsort(self.distances, kind="stable"):
            question = self.members[int(distance_order)]
            normalised = " ".join(question.text.lower().split())
            if question.personal_data or not normalised or normalised in seen_texts:
                continue
            if question.asker is not None and question.asker in seen_askers:
                continue
            chosen.append(question.text)
            seen_texts.add(normalised)
            seen_askers.add(question.asker)
            if len(chosen) == limit:
                break
        return chosen


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def cluster_labels(vectors: np.ndarray, *, distance_threshold: float) -> np.ndarray:
    """A topic label per row: agglomerative clustering, average linkage, cosine distance.

    Rows closer than ``distance_threshold`` (on average, between groups) end up together; the
    number of topics follows from the data rather than being chosen in advance.
    """
    from sklearn.cluster import AgglomerativeClustering

    count = len(vectors)
    if count == 0:
        return np.zeros(0, dtype=int)
    if count == 1:
        return np.zeros(1, dtype=int)
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance_threshold, metric="cosine", linkage="average"
    )
    return model.fit_predict(_normalise(np.asarray(vectors, dtype=float)))


def topic_keywords(topics: Sequence[Topic], *, min_askers: int, top: int = 5) -> None:
    """Name each topic by its ``top`` TF-IDF words, each used by at least ``min_askers`` askers.

    TF-IDF is fitted on every gap question at once, so words common to all topics ("how", "can")
    weigh little and the words that set a topic apart weigh most.
    """
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    texts = [q.text for topic in topics for q in topic.members]
    if not texts:
        return
    tfidf = TfidfVectorizer(stop_words="english", token_pattern=KEYWORD_TOKEN_PATTERN, sublinear_tf=True)
    try:
        matrix = tfidf.fit_transform(texts)
    except ValueError:  # nothing but stop words and numbers
        return
    vocabulary = tfidf.get_feature_names_out()
    # Which words each question uses (binary), to count distinct askers per word.
    presence = CountVectorizer(vocabulary=tfidf.vocabulary_, token_pattern=KEYWORD_TOKEN_PATTERN, binary=True)
    used = presence.transform(texts).tocsc()
    start = 0
    for topic in topics:
        end = start + topic.size
        weights = np.asarray(matrix[start:end].mean(axis=0)).ravel()
        keywords: list[str] = []
        for index in np.argsort(-weights, kind="stable"):
            if weights[index] <= 0 or len(keywords) == top:
                break
            rows = used[start:end, index].nonzero()[0]
            askers = {topic.members[int(row)].asker for row in rows} - {None}
            if len(askers) >= min_askers:
                keywords.append(str(vocabulary[index]))
        topic.keywords = keywords
        start = end


def group_topics(
    questions: Sequence[GapQuestion],
    vectors: Sequence[Sequence[float]],
    *,
    distance_threshold: float,
    min_askers: int,
) -> list[Topic]:
    """Every topic among ``questions`` (``vectors`` in the same order), largest first.

    Small topics are *not* removed here: the caller decides what to show, using ``asker_count``.
    """
    if len(questions) != len(vectors):
        raise ValueError("questions and vectors must be the same length")
    if not questions:
        return []
    matrix = _normalise(np.asarray(vectors, dtype=float))
    labels = cluster_labels(matrix, distance_threshold=distance_threshold)
    topics: list[Topic] = []
    for label in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == label)
        centroid = matrix[rows].mean(axis=0)
        norm = np.linalg.norm(centroid)
        centroid = centroid / norm if norm else centroid
        distances = (1.0 - matrix[rows] @ centroid).tolist()
        topics.append(Topic(members=[questions[int(r)] for r in rows], centroid=centroid, distances=distances))
    topics.sort(key=lambda t: (-t.size, -t.asker_count, min(q.key for q in t.members)))
    topic_keywords(topics, min_askers=min_askers)
    return topics
