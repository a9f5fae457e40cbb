"""The planner's statistics on the chunk table, kept per process and sent with each question.

``pg_stats`` holds each common collection's share of chunks and the commonest words of each tsvector
column with their shares: the statement estimates the readable population and weighs words by
rarity from them. Read inside the statement they cost a measurable share of a question (the view's
word lists are ``anyarray`` and had to go through text: docs/retrieval.md), so a copy is kept here
and sent as binary arrays. Each question's settings statement also reads when the table was last
analysed; when that differs from the copy's, the copy is reloaded and the question run again, so no
answer is ranked on statistics older than the server's. A copy is also reloaded after
``_STATS_TTL`` seconds whatever the server says.
"""

from __future__ import annotations

import functools
import time

from django.db import connections

from documents.models import Chunk

from .wire import binary_array

_STATS_TTL = 300.0
_STATS_VERSION_SQL = (
    "coalesce(pg_stat_get_last_analyze_time('{chunk}'::regclass)::text, '') || '/' || "
    "coalesce(pg_stat_get_last_autoanalyze_time('{chunk}'::regclass)::text, '')"
)
_planner_stats: dict[tuple, tuple[float, dict]] = {}
#: What to send instead of a word list the question does not use (each costs the server a read).
NO_ENGLISH = {"english_words": None, "english_freqs": None}
NO_SIMPLE = {"simple_words": None, "simple_freqs": None}


def database_key(connection) -> tuple:
    settings_dict = connection.settings_dict
    return (settings_dict.get("HOST"), settings_dict.get("PORT"), settings_dict["NAME"])


@functools.cache
def stats_version_sql() -> str:
    """An expression for when the chunks were last analysed (by hand or by autovacuum)."""
    return _STATS_VERSION_SQL.format(chunk=Chunk._meta.db_table)


def _sorted_together(keys: list, values: list) -> tuple[list, list]:
    """``keys`` sorted (text in code point order, as COLLATE "C" compares it), ``values`` alongside."""
    pairs = sorted(zip(keys, values, strict=True))
    return [key for key, _ in pairs], [value for _, value in pairs]


def load_planner_stats(connection) -> dict:
    """The chunk table's statistics as statement parameters, with the version they were read at."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the analyse times as they are now
        cursor.execute(
            f"SELECT {stats_version_sql()}, s.attname, s.most_common_vals::text::bigint[], "
            "s.most_common_freqs, s.n_distinct, "
            "CASE WHEN s.attname <> 'collection_id' THEN s.most_common_elems::text::text[] END, "
            "s.most_common_elem_freqs "
            "FROM (SELECT 1) one LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = %s "
            "AND s.attname IN ('collection_id', 'search_vector', 'search_vector_simple')",
            [Chunk._meta.db_table],
        )
        rows = cursor.fetchall()
    params = {
        "stats_version": rows[0][0],
        "collection_ids": None,
        "collection_freqs": None,
        "collection_n_distinct": None,
        **NO_ENGLISH,
        **NO_SIMPLE,
    }
    # Each list sorted (words in code point order, as COLLATE "C" compares them), so the statement
    # finds a value by binary search (width_bucket) instead of reading the list from the start.
    for _, attname, vals, freqs, n_distinct, elems, elem_freqs in rows:
        if attname == "collection_id":
            ids, id_freqs = _sorted_together(vals or [], freqs or [])
            params["collection_ids"] = binary_array(ids, "int8")
            params["collection_freqs"] = binary_array(id_freqs, "float4")
            params["collection_n_distinct"] = n_distinct
        elif attname in ("search_vector", "search_vector_simple") and elems:
            prefix = "english" if attname == "search_vector" else "simple"
            # The frequencies go on past the words: their minimum, maximum and null share.
            words, word_freqs = _sorted_together(elems, elem_freqs[: len(elems)])
            params[f"{prefix}_words"] = binary_array(words, "text")
            params[f"{prefix}_freqs"] = binary_array(word_freqs + elem_freqs[len(elems) :], "float4")
    _planner_stats[database_key(connection)] = (time.monotonic(), params)
    return params


def cached_planner_stats(connection) -> dict:
    cached = _planner_stats.get(database_key(connection))
    if cached is None or time.monotonic() - cached[0] > _STATS_TTL:
        return load_planner_stats(connection)
    return cached[1]


def planner_statistics_refresh(using: str = "default") -> None:
    """ANALYZE the chunks now, after a bulk load: until autovacuum gets to it (a minute or more) the
    words channel weighs words by statistics that do not know the new chunks, and ranks worse
    (docs/retrieval.md). The next question sees the new analyse time and reloads its copy."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"ANALYZE {connections[using].ops.quote_name(Chunk._meta.db_table)}")
