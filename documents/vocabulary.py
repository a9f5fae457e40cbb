"""How common each word is in the guidance: the weights the answer pipeline gives a question's words.

Read from PostgreSQL's own statistics of the chunks' English search vectors (``pg_stats``, kept by
ANALYZE and autovacuum; ``ingest --wait`` analyses at once): the most common stems with the share of
chunks holding each, and the smallest share listed. A word not listed is rarer than that. Nothing is
counted per question; the figures are cached per process for a few minutes.
"""

from __future__ import annotations

import threading
import time

from django.db import connections

from .models import Chunk

_TTL = 300.0  # seconds a process keeps its copy
_cache: dict[str, tuple[float, tuple[dict[str, float], float]]] = {}
_lock = threading.Lock()


def word_shares(using: str = "default") -> tuple[dict[str, float], float]:
    """Each common stem's share of chunks, and the smallest share listed (no words before ANALYZE)."""
    cached = _cache.get(using)
    if cached is not None and time.monotonic() - cached[0] < _TTL:
        return cached[1]
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE schemaname = current_schema() AND tablename = %s AND attname = 'search_vector'",
            [Chunk._meta.db_table],
        )
        row = cursor.fetchone()
    shares: tuple[dict[str, float], float] = ({}, 0.002)
    if row and row[0]:
        words, freqs = row[0], row[1]
        # After the words' own shares come their minimum, maximum and the null share.
        floor = float(freqs[len(words)]) if len(freqs) > len(words) else 0.002
        shares = (dict(zip(words, freqs[: len(words)], strict=True)), floor)
    with _lock:
        _cache[using] = (time.monotonic(), shares)
    return shares


def word_shares_forget() -> None:
    """Drop the cached figures (tests; after a bulk load the next question reads them again)."""
    _cache.clear()
