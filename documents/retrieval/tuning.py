"""The knobs, and the choices that only change how fast the statement is, never what it may return.

``RetrievalParams`` holds the knobs (from settings; the evaluation command and benchmark vary them).
``ef_search`` picks how wide the HNSW search is; whether pgvector can scan iteratively decides how
that width is chosen. What may be read is decided inside the SQL every time: a stale hint here makes
a search slower or a little less exact for a minute, nothing more. Why each default is what it is,
with the figures: docs/retrieval.md.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from .sql import CHANNELS
from .stats import database_key


def _channel_weights(cls: type) -> type:
    """A field per channel in ``CHANNELS`` for its weight: named by ``Channel.weight`` (``vector_weight``,
    ``keyword_weight``, ``code_weight``), defaulting to ``Channel.default_weight``; after the others."""
    for channel in CHANNELS:
        cls.__annotations__[channel.weight] = "float"
        setattr(cls, channel.weight, channel.default_weight)
    return cls


@dataclass(frozen=True)
@_channel_weights
class RetrievalParams:
    """The knobs, from settings by default; the evaluation command and benchmark vary them.

    Each channel's weight is a field named by its ``Channel.weight`` (0: the channel is off), added
    from ``sql.CHANNELS``; ``weights`` has them by channel name.
    """

    rrf_k: int = 10
    vector_depth: int = 20
    keyword_depth: int = 40
    ef_search: int = 400  # the most HNSW candidates (filtered searches); fewer when most is readable
    ef_search_min: int = 160
    ef_search_factor: float = 2.5  # candidates per result wanted, divided by the readable share
    common_term_freq: float = 0.2
    keyword_budget: int = 300  # rows the kept words are expected to match, at most
    keyword_scan_limit: int = 300  # matches ranked where only the rarest words are searched, at most
    code_scan_limit: int = 300  # a code matching more readable chunks than this is skipped
    rank_normalization: int = 1
    exact_below: int = 2_000
    iterative_scan: bool = True  # pgvector 0.8's iterative index scans, where the server has them

    @classmethod
    def from_settings(cls, **overrides) -> RetrievalParams:
        values = {
            "rrf_k": settings.HUMPHREY_RETRIEVAL_RRF_K,
            **{channel.weight: getattr(settings, channel.setting) for channel in CHANNELS},
            "vector_depth": settings.HUMPHREY_RETRIEVAL_VECTOR_DEPTH,
            "keyword_depth": settings.HUMPHREY_RETRIEVAL_KEYWORD_DEPTH,
            "ef_search": settings.HUMPHREY_RETRIEVAL_EF_SEARCH,
            "ef_search_min": settings.HUMPHREY_RETRIEVAL_EF_SEARCH_MIN,
            "common_term_freq": settings.HUMPHREY_RETRIEVAL_COMMON_TERM_FREQ,
            "keyword_budget": settings.HUMPHREY_RETRIEVAL_KEYWORD_BUDGET,
            "keyword_scan_limit": settings.HUMPHREY_RETRIEVAL_KEYWORD_SCAN_LIMIT,
            "code_scan_limit": settings.HUMPHREY_RETRIEVAL_CODE_SCAN_LIMIT,
            "exact_below": settings.HUMPHREY_RETRIEVAL_EXACT_BELOW,
            "iterative_scan": settings.HUMPHREY_RETRIEVAL_ITERATIVE_SCAN,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def weights(self) -> dict[str, float]:
        """Each channel's weight, by channel name (``Passage.scores``' keys), in ``CHANNELS`` order."""
        return {channel.name: getattr(self, channel.weight) for channel in CHANNELS}

    def without(self, *names: str) -> RetrievalParams:
        """These knobs with the named channels switched off (their weight 0)."""
        return dataclasses.replace(self, **{c.weight: 0.0 for c in CHANNELS if c.name in names})


# A user who may read at least this share of the chunks has full-text matches filtered by collection;
# below it they are intersected with the collections' index first (where the two cost the same:
# docs/retrieval.md).
BROAD_SHARE = 0.3

# What share of all chunks each (user, collections, markings) could read last time: without iterative
# scans the HNSW search needs ef_search of about depth / share candidates to keep ``depth`` after the
# access filter, so a user who reads everything is searched with a small ef_search and a user who
# reads 10% with a large one.
_SHARE_TTL = 60.0
_SHARE_MAX = 10_000
_share_hints: dict[tuple, tuple[float, float]] = {}


def share_hint(key: tuple) -> tuple[float, float] | None:
    return _share_hints.get(key)


def remember_share(key: tuple, share: float) -> None:
    if len(_share_hints) >= _SHARE_MAX:
        _share_hints.clear()
    _share_hints[key] = (share, time.monotonic())


# The ef_search defaults were chosen at 100,000 chunks; a bigger graph needs a wider search for the same
# recall, so both bounds grow with the table's size to the power 2/3 beyond that (the square root was
# too narrow at 1M chunks: docs/retrieval.md), up to pgvector's maximum.
_REFERENCE_ROWS = 100_000
_EF_SEARCH_MAX = 1000
_table_rows: dict[str, float] = {}  # the chunk table's size per database, as the last statement saw it


def table_rows(using: str) -> float | None:
    return _table_rows.get(using)


def remember_table_rows(using: str, rows: float) -> None:
    _table_rows[using] = rows


def ef_search(
    params: RetrievalParams,
    depth: int,
    hint: tuple[float, float] | None,
    table_rows: float | None = None,
    *,
    iterative: bool = False,
) -> int:
    """``params.ef_search`` is the ceiling (and the choice when nothing is known yet); with iterative
    scans the floor always (the scan itself goes on until the filter has let ``depth`` rows through)."""
    scale = (table_rows / _REFERENCE_ROWS) ** (2 / 3) if table_rows and table_rows > _REFERENCE_ROWS else 1.0
    ceiling = max(min(_EF_SEARCH_MAX, math.ceil(params.ef_search * scale)), depth)
    floor = min(ceiling, math.ceil(params.ef_search_min * scale))
    if iterative:
        # The scan goes on past ef_search until the filter has let ``depth`` rows through, so the share
        # the user reads needs no wider search. (A narrower first pass for small shares was faster at
        # 100k chunks but lost recall at 1M: docs/retrieval.md.)
        return max(depth, floor)
    if hint is None or time.monotonic() - hint[1] > _SHARE_TTL or hint[0] <= 0:
        return ceiling
    wanted = math.ceil(params.ef_search_factor * depth / min(1.0, hint[0]))
    return max(depth, min(ceiling, max(floor, wanted)))


_version_lock = threading.Lock()
_iterative: dict[tuple, bool] = {}


def has_iterative_scans(connection) -> bool:
    """pgvector 0.8+ can keep scanning the HNSW graph until the filter is satisfied."""
    key = database_key(connection)
    if key not in _iterative:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        with _version_lock:
            _iterative[key] = supports_iterative_scans(row[0] if row else "0")
    return _iterative[key]


def supports_iterative_scans(extversion: str) -> bool:
    """True for pgvector 0.8.0 and later."""
    parts = [int(p) for p in re.findall(r"\d+", extversion)[:2]] + [0, 0]
    return (parts[0], parts[1]) >= (0, 8)
