"""Hybrid, permission-safe retrieval: the one selector that chat, curators and evaluation all use.

``passages_for_user(user=..., query=...)`` runs ONE SQL statement that

1. works out which collections the user may read (their groups, active collections, a marking the
   deployment and the caller allow) inside the SQL, so nothing outside it can leak a passage;
2. searches the readable, searchable chunks by each channel: by meaning (pgvector, cosine), by the
   English words (full text) and by code-like phrases such as "T&S", "MPM A.4" or "section 21"
   (full text, unstemmed);
3. fuses the ranked lists by weighted reciprocal rank and returns the top ``k``, each passage with
   every channel's score in ``Passage.scores``.

The vector plan is chosen by selectivity inside the statement: the readable population is estimated
(or counted, capped); below ``HUMPHREY_RETRIEVAL_EXACT_BELOW`` chunks the distances are computed
exactly, above it the HNSW index is used (with pgvector 0.8's iterative scans where the server has
them, else a wider ``ef_search``), and should the index still come back short the exact scan runs as
a fallback. docs/retrieval.md has the why and the figures.

The modules:

- ``selector``: ``passages_for_user``, ``retrieve``, ``allowed_markings``;
- ``types``: ``Passage``, ``Retrieval`` and the plans (plain Python, shared with ``assistant.core``);
- ``query``: the question cleaned and its code-like phrases (plain Python);
- ``sql`` and ``parts/``: the statement, composed from a prelude and one part per channel;
- ``tuning``: the knobs (``RetrievalParams``) and ``ef_search``;
- ``stats``: the planner's statistics, kept per process;
- ``wire``: binary parameters and the prepared, pipelined execution.

Callers in async code wrap it: ``await database_sync_to_async(passages_for_user)(user=..., query=...)``.

Importing this package loads no Django: ``assistant.core`` (no Django) builds on ``types``. The
names from Django-bound modules are loaded when first asked for (``__getattr__`` below).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .query import MAX_QUERY_CHARS, clean_query, code_spans
from .types import (
    PLAN_EMPTY,
    PLAN_EXACT,
    PLAN_HNSW,
    PLAN_HNSW_FALLBACK,
    Passage,
    PassageFields,
    Retrieval,
)

if TYPE_CHECKING:
    from .selector import allowed_markings, passages_for_user, retrieve
    from .stats import planner_statistics_refresh
    from .tuning import RetrievalParams, supports_iterative_scans

_DJANGO_BOUND = {
    "passages_for_user": "selector",
    "retrieve": "selector",
    "allowed_markings": "selector",
    "RetrievalParams": "tuning",
    "supports_iterative_scans": "tuning",
    "planner_statistics_refresh": "stats",
}

__all__ = [
    "MAX_QUERY_CHARS",
    "PLAN_EMPTY",
    "PLAN_EXACT",
    "PLAN_HNSW",
    "PLAN_HNSW_FALLBACK",
    "Passage",
    "PassageFields",
    "Retrieval",
    "RetrievalParams",
    "allowed_markings",
    "clean_query",
    "code_spans",
    "passages_for_user",
    "planner_statistics_refresh",
    "retrieve",
    "supports_iterative_scans",
]


def __getattr__(name: str):
    if name in _DJANGO_BOUND:
        value = getattr(importlib.import_module(f".{_DJANGO_BOUND[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
