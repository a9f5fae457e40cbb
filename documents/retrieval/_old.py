"""Hybrid, permission-safe retrieval: the one selector that chat, curators and evaluation all use.

``passages_for_user(user=..., query=...)`` runs ONE SQL statement that

1. works out which collections the user may read (their groups, active collections, a marking the
   deployment and the caller allow) inside the SQL, so nothing outside it can leak a passage;
2. searches the readable, searchable chunks two ways: by meaning (pgvector, cosine) and by words
   (PostgreSQL full text, with an ``english`` channel for prose and a ``simple`` channel that keeps
   codes such as "T&S", "MPM A.4" or "section 21" intact);
3. fuses the ranked lists by weighted reciprocal rank and returns the top ``k``.

Filtering and HNSW: an HNSW index scan visits ``hnsw.ef_search`` candidates and *then* applies the
WHERE clause, so with a selective filter it can silently return fewer rows than asked. pgvector 0.8
fixes that with iterative index scans (the scan goes on until the LIMIT is met), which the embedded
server has and which are used wherever the server has them; on an older pgvector (0.6/0.7, or with
``HUMPHREY_RETRIEVAL_ITERATIVE_SCAN=0``) ``ef_search`` is raised in proportion to the share of chunks
the user may read instead. Either way the plan is also chosen by selectivity inside the statement:
the readable population is estimated (or counted, capped); below ``HUMPHREY_RETRIEVAL_EXACT_BELOW``
chunks the distances are computed exactly (a MATERIALIZED CTE the planner cannot answer from the
index), above it the HNSW index is used, and should the index still come back short the exact scan
runs as a fallback.

Callers in async code wrap it: ``await database_sync_to_async(passages_for_user)(user=..., query=...)``.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import struct
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, transaction

from documents.embeddings import DIMENSIONS, get_embedder
from documents.models import Chunk, Collection, Document, DocumentVersion, Marking

logger = logging.getLogger(__name__)

#: The plans the statement can take, reported for tests, logs and the benchmark.
PLAN_EMPTY = "empty"  # the user can read nothing (or nothing searchable)
PLAN_EXACT = "exact"  # exact distances over the readable chunks
PLAN_HNSW = "hnsw"  # the HNSW index, filtered
PLAN_HNSW_FALLBACK = "hnsw+exact"  # the index came back short, exact scan took over

MAX_QUERY_CHARS = 4000  # longer questions are cut before they reach the full-text parser


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk with where it came from and why it ranked where it did."""

    chunk_id: int
    text: str
    document_id: int
    document_title: str
    source_name: str
    version_id: int
    version_number: int
    version_sha256: str
    collection_slug: str
    marking: str
    heading_path: str
    anchor: str
    page: int | None
    char_start: int
    char_end: int
    vector_score: float | None  # cosine similarity to the question, when the chunk has an embedding
    keyword_score: float | None  # full-text rank, when the chunk matched the words of the question
    score: float  # fused reciprocal-rank score (what the order is by)
    rank: int  # 1-based position in the result


@dataclass(frozen=True)
class RetrievalParams:
    """The knobs, from settings by default; the evaluation command and benchmark vary them."""

    rrf_k: int = 10
    vector_weight: float = 1.0
    keyword_weight: float = 0.7
    code_weight: float = 0.5
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
            "vector_weight": settings.HUMPHREY_RETRIEVAL_VECTOR_WEIGHT,
            "keyword_weight": settings.HUMPHREY_RETRIEVAL_KEYWORD_WEIGHT,
            "code_weight": settings.HUMPHREY_RETRIEVAL_CODE_WEIGHT,
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


@dataclass(frozen=True)
class Retrieval:
    """What ``retrieve`` found and how: the passages plus the plan taken (for logs and tests)."""

    passages: list[Passage]
    plan: str
    population: int = 0  # readable searchable chunks counted (capped at exact_below)
    notes: dict = field(default_factory=dict)


def passages_for_user(
    *,
    user,
    query: str,
    collections: list[str] | None = None,
    k: int = 8,
    max_marking: str | None = None,
    query_vector: list[float] | None = None,
) -> list[Passage]:
    """The ``k`` passages that best answer ``query`` from what ``user`` may read, best first.

    ``collections``: slugs to search (None = every collection the user may read; unknown or
    unreadable slugs are silently ignored, so the answer never reveals that they exist).
    ``max_marking``: the highest marking the caller may receive (e.g. the chat model's approval);
    the deployment's ``HUMPHREY_MAX_MARKING`` caps it too.
    ``query_vector``: a precomputed embedding of ``query`` (otherwise the configured embedder runs).
    """
    return retrieve(
        user=user,
        query=query,
        collections=collections,
        k=k,
        max_marking=max_marking,
        query_vector=query_vector,
    ).passages


def allowed_markings(max_marking: str | None) -> list[str]:
    """The markings a result may carry: at most the deployment's and the caller's maximum."""
    deployment = Marking.rank(settings.HUMPHREY_MAX_MARKING)
    if max_marking is None:
        ceiling = deployment
    else:
        if max_marking not in Marking.values:
            raise ValueError(f"max_marking must be one of {', '.join(Marking.values)}, not {max_marking!r}")
        ceiling = min(deployment, Marking.rank(max_marking))
    return Marking.values[: ceiling + 1]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# websearch syntax the user typed on purpose (a quoted phrase, an excluded -word): then the words are
# ANDed as PostgreSQL documents; otherwise a question's words are ORed (a question rarely repeats
# every word of its answer). "or" is not taken as syntax: in "category 1, 2 or 3" it is English, the
# words are ORed anyway, and ANDing the rest (websearch's reading) cost ~15 ms at 100k chunks.
_OPERATORS = re.compile(r'"|(^|\s)-\w')


def clean_query(query: str) -> str:
    return _CONTROL.sub(" ", query or "").strip()[:MAX_QUERY_CHARS]


_WORD_EDGE = re.compile(r"^[^\w&]+|[^\w&]+$")


def _is_code(word: str) -> bool:
    """Form codes, section numbers and acronyms: a digit, an inner & . /, or two+ capitals.

    A hyphen alone does not make a code: "sign-on" and "third-party" are words, which the English
    channel finds (it keeps the compound and its parts), while "COVID-19" and "OFFICIAL-SENSITIVE"
    are codes by their digits or capitals. (As phrases in the unstemmed channel, hyphenated words
    cost a read of their commonest part's posting list: "on" is in nearly every chunk.)"""
    if any(ch.isdigit() for ch in word):
        return True
    if re.search(r"\w[&./]\w", word):
        return True
    return len(word) >= 2 and word.isupper()


# English function words (PostgreSQL's english stop list, in part): a number after one is prose.
_FUNCTION_WORDS = frozenset(
    (  # noqa: SIM905 - a word list reads better as words
        "a about above after again against all an and any are as at be before below between both but by can"
        " did do does during each every few for from had has have how if in into is it its more most no nor"
        " not of off on once only or other our out over own same should so some such than that the their"
        " then there these they this those through to too under until up very was we were what when where"
        " which while who why will with within would you your"
    ).split()
)


def code_spans(query: str) -> list[str]:
    """The code-like phrases of a question, each searched as a phrase without stemming or stop words.

    "Can I claim T&S under MPM A.4 or section 21?" -> ["T&S", "MPM A.4", "section 21"]. A bare
    number keeps the word before it ("point 12"), since the number alone matches too much; after a
    function word ("1, 2 or 3", "within 28") it is prose, not a reference, and is left to the English
    channel (as a phrase, "or 3" meant reading the posting list of "or": in nearly every chunk).
    """
    words = [_WORD_EDGE.sub("", w) for w in query.split()]
    spans: list[str] = []
    i = 0
    while i < len(words):
        if words[i] and _is_code(words[i]):
            start = i
            while i + 1 < len(words) and words[i + 1] and _is_code(words[i + 1]):
                i += 1
            if words[start].isdigit() and start > 0 and words[start - 1]:
                if words[start - 1].lower() in _FUNCTION_WORDS and start == i:
                    i += 1
                    continue
                start -= 1
            spans.append(" ".join(words[start : i + 1]).replace('"', ""))
        i += 1
    return list(dict.fromkeys(spans))[:12]


def retrieve(
    *,
    user,
    query: str,
    collections: list[str] | None = None,
    k: int = 8,
    max_marking: str | None = None,
    query_vector: list[float] | None = None,
    params: RetrievalParams | None = None,
    mode: str = "hybrid",
    using: str = "default",
) -> Retrieval:
    """``passages_for_user`` with the plan reported and the knobs open (``mode``: hybrid|vector|keyword)."""
    if mode not in ("hybrid", "vector", "keyword"):
        raise ValueError(f"mode must be hybrid, vector or keyword, not {mode!r}")
    if k < 1:
        raise ValueError("k must be at least 1")
    markings = allowed_markings(max_marking)
    text = clean_query(query)
    if not text or user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Retrieval(passages=[], plan=PLAN_EMPTY)
    if collections is not None and not collections:
        return Retrieval(passages=[], plan=PLAN_EMPTY)
    params = params or RetrievalParams.from_settings()
    if mode == "vector":
        params = RetrievalParams(**{**params.__dict__, "keyword_weight": 0.0, "code_weight": 0.0})
    elif mode == "keyword":
        params = RetrievalParams(**{**params.__dict__, "vector_weight": 0.0})
    codes = code_spans(text)

    if params.vector_weight > 0:
        if query_vector is None:
            query_vector = get_embedder().embed_query(text)
        if len(query_vector) != DIMENSIONS:
            raise ValueError(f"query_vector must have {DIMENSIONS} dimensions, not {len(query_vector)}")
        vector_literal = _BinaryVector(query_vector)
    else:
        vector_literal = None

    sql_params = {
        "user_id": user.pk,
        "markings": markings,
        "all_collections": collections is None,
        "slugs": list(collections or []),
        "vector": vector_literal,
        "use_vector": vector_literal is not None,
        "use_keyword": params.keyword_weight > 0,
        "use_codes": params.code_weight > 0 and bool(codes),
        "code_list": codes,
        "text": text,
        "or_semantics": not _OPERATORS.search(text),
        "common_freq": params.common_term_freq,
        "keyword_budget": params.keyword_budget,
        "keyword_scan_limit": max(params.keyword_scan_limit, params.keyword_depth),
        "code_scan_limit": params.code_scan_limit,
        "code_scan_limit_plus_one": params.code_scan_limit + 1,
        "fetch": k + 4,  # a few spare in case the final checks drop one (each costs a look-up)
        "rank_norm": params.rank_normalization,
        "exact_below": params.exact_below,
        "broad_share": _BROAD_SHARE,
        "vector_depth": max(params.vector_depth, k) if params.vector_weight > 0 else k,
        "keyword_depth": max(params.keyword_depth, k) if params.keyword_weight > 0 else k,
        # The index must find at least this many before its answer is trusted.
        "ann_minimum": k,
        "rrf_k": params.rrf_k,
        "vector_weight": params.vector_weight,
        "keyword_weight": params.keyword_weight,
        "code_weight": params.code_weight,
        "k": k,
    }
    # Sizes shape the plan (LIMITs), so they are written into the statement, not bound: each
    # combination is its own prepared statement, planned for those sizes. They are integers from
    # settings or the caller, never text from the user.
    sizes = tuple(int(sql_params.pop(name)) for name in _INLINED)
    sql = _sql_with_sizes(sizes)
    connection = connections[using]
    depth = sizes[_INLINED.index("vector_depth")]
    hint_key = (using, user.pk, None if collections is None else tuple(sorted(collections)), tuple(markings))
    iterative = params.iterative_scan and _has_iterative_scans(connection)
    ef_search = _ef_search(params, depth, _share_hints.get(hint_key), _table_rows.get(using), iterative=iterative)
    stats = _cached_planner_stats(connection)
    stats = {
        **stats,
        # Only the word lists a question uses are sent (each costs the server ~0.05 ms to read).
        **({} if sql_params["use_keyword"] and sql_params["or_semantics"] else _NO_ENGLISH),
        **({} if sql_params["use_codes"] else _NO_SIMPLE),
    }
    with connection.cursor() as cursor:
        rows, version = _execute_prepared(
            connection, cursor, sql, {**sql_params, **stats}, ef_search=ef_search, iterative=iterative
        )
        if version != stats["stats_version"]:  # analysed since the copy was read: reload, run again
            stats = _load_planner_stats(connection)
            rows, _ = _execute_prepared(
                connection, cursor, sql, {**sql_params, **stats}, ef_search=ef_search, iterative=iterative
            )

    passages: list[Passage] = []
    plan, population, table_rows = PLAN_EMPTY, 0, 0
    for rank, row in enumerate(rows, start=1):
        *values, plan, population, table_rows = row
        passages.append(Passage(*values, rank=rank))
    if not rows:
        plan = PLAN_EMPTY
    elif table_rows:
        _remember_share(hint_key, population / table_rows)
        _table_rows[using] = table_rows
    notes = {"ef_search": ef_search, "iterative_scan": iterative}
    return Retrieval(passages=passages, plan=plan, population=population, notes=notes)


# What share of all chunks each (user, collections, markings) could read last time: the HNSW search
# needs ef_search of about depth / share candidates to keep ``depth`` after the access filter, so a
# user who reads everything is searched with a small ef_search and a user who reads 10% with a large
# one. Only the speed of the search depends on it (a stale share makes it slower or a little less
# exact for a minute); what may be read is decided inside the SQL every time.
_SHARE_TTL = 60.0
_SHARE_MAX = 10_000
_share_hints: dict[tuple, tuple[float, float]] = {}


def _remember_share(key: tuple, share: float) -> None:
    if len(_share_hints) >= _SHARE_MAX:
        _share_hints.clear()
    _share_hints[key] = (share, time.monotonic())


# The ef_search defaults were chosen at 100,000 chunks; a bigger graph needs a wider search for the same
# recall, so both bounds grow with the table's size to the power 2/3 beyond that, up to pgvector's
# maximum. Measured at 1,000,000 chunks (docs/retrieval.md): the square root's floor, 506, gave recall@10
# 0.945 / 0.932 (all / 10% readers); this one's, 743, gives 0.982 / 0.973.
_REFERENCE_ROWS = 100_000
_EF_SEARCH_MAX = 1000
_table_rows: dict[str, float] = {}  # the chunk table's size per database, as the last statement saw it


def _ef_search(
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
        # the user reads needs no wider search. (A narrower first pass for small shares saved 0.4 ms at
        # 100k chunks but cost recall at 1M: 0.86 for a 10% reader. docs/retrieval.md)
        return max(depth, floor)
    if hint is None or time.monotonic() - hint[1] > _SHARE_TTL or hint[0] <= 0:
        return ceiling
    wanted = math.ceil(params.ef_search_factor * depth / min(1.0, hint[0]))
    return max(depth, min(ceiling, max(floor, wanted)))


# A user who may read at least this share of the chunks has full-text matches filtered by collection;
# below it they are intersected with the collections' index first (measured: docs/retrieval.md).
_BROAD_SHARE = 0.3

_INLINED = (
    "keyword_budget",
    "keyword_scan_limit",
    "code_scan_limit",
    "code_scan_limit_plus_one",
    "fetch",
    "rank_norm",
    "exact_below",
    "vector_depth",
    "keyword_depth",
    "ann_minimum",
    "k",
)


@functools.lru_cache(maxsize=64)
def _sql_with_sizes(sizes: tuple[int, ...]) -> str:
    sql = _sql()
    for name, value in zip(_INLINED, sizes, strict=True):
        sql = sql.replace(f"%({name})s", str(int(value)))
    return sql


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@functools.lru_cache(maxsize=64)
def _native_statement(sql: str) -> tuple[str, tuple[str, ...]]:
    """The statement with PostgreSQL's own ``$n`` placeholders, and the parameter names in order.

    psycopg parses a ``%(name)s`` query for its placeholders on every run unless it is short (its
    cache stops at 4 KB; this statement is about 15 KB): converted once here, it is sent through a
    ``RawCursor`` as it is (about 0.2 ms a question)."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


class _BinaryParam:
    """A parameter already in PostgreSQL's binary wire format, sent with an unknown type: the
    statement's cast (``::vector``, ``::text[]``) makes the server read it with that type's own
    receive function. ``value`` is the plain Python value, for a driver without binary parameters."""

    __slots__ = ("data", "value")

    def __init__(self, data: bytes, value) -> None:
        self.data = data
        self.value = value


class _BinaryVector(_BinaryParam):
    """The query vector in pgvector's binary format (dimensions, unused, big-endian float4s).

    Formatting 384 floats as text cost about 0.4 ms a question (Python's float repr); packing them
    costs microseconds, and the server reads them without parsing."""

    __slots__ = ()

    def __init__(self, values) -> None:
        if hasattr(values, "astype"):  # numpy
            data = struct.pack(">HH", len(values), 0) + values.astype(">f4", copy=False).tobytes()
        else:
            data = struct.pack(f">HH{len(values)}f", len(values), 0, *values)
        super().__init__(data, None)

    def __str__(self) -> str:  # the text form, for a driver that cannot send binary parameters
        count = struct.unpack_from(">H", self.data)[0]
        return "[" + ",".join(repr(x) for x in struct.unpack_from(f">{count}f", self.data, 4)) + "]"


_ELEMENT_TYPES = {"text": 25, "int8": 20, "float4": 700}


def _binary_array(values: list, element: str) -> _BinaryParam:
    """A one-dimensional array without NULLs in PostgreSQL's binary format (``array_send``)."""
    parts = [struct.pack(">iiiii", 1, 0, _ELEMENT_TYPES[element], len(values), 1)]
    for value in values:
        if element == "text":
            encoded = value.encode()
            parts.append(struct.pack(">i", len(encoded)) + encoded)
        else:
            parts.append(struct.pack(">iq" if element == "int8" else ">if", 8 if element == "int8" else 4, value))
    return _BinaryParam(b"".join(parts), values)


@functools.cache
def _binary_dumper():
    from psycopg import adapt, pq

    class BinaryParamDumper(adapt.Dumper):
        format = pq.Format.BINARY
        oid = 0  # unknown: the statement's cast decides the type

        def dump(self, obj: _BinaryParam) -> bytes:
            return obj.data

    return BinaryParamDumper


# The planner's statistics on the chunk table (pg_stats: each common collection's share of chunks,
# the commonest words of each tsvector column and their shares), kept per process and sent with each
# question as binary arrays. Reading them inside the statement cost about 0.8 ms a question (the
# view's word lists are ``anyarray`` and had to go through text). Each question's first statement
# also reads when the table was last analysed; when that differs from the copy's, the copy is
# reloaded and the question run again, so no answer is ranked on statistics older than the
# server's. A copy is also reloaded after _STATS_TTL seconds whatever the server says.
_STATS_TTL = 300.0
_STATS_VERSION_SQL = (
    "coalesce(pg_stat_get_last_analyze_time('{chunk}'::regclass)::text, '') || '/' || "
    "coalesce(pg_stat_get_last_autoanalyze_time('{chunk}'::regclass)::text, '')"
)
_planner_stats: dict[tuple, tuple[float, dict]] = {}
_NO_ENGLISH = {"english_words": None, "english_freqs": None}
_NO_SIMPLE = {"simple_words": None, "simple_freqs": None}


def _database_key(connection) -> tuple:
    settings_dict = connection.settings_dict
    return (settings_dict.get("HOST"), settings_dict.get("PORT"), settings_dict["NAME"])


@functools.cache
def _stats_version_sql() -> str:
    return _STATS_VERSION_SQL.format(chunk=Chunk._meta.db_table)


def _sorted_together(keys: list, values: list) -> tuple[list, list]:
    """``keys`` sorted (text in code point order, as COLLATE "C" compares it), ``values`` alongside."""
    pairs = sorted(zip(keys, values, strict=True))
    return [key for key, _ in pairs], [value for _, value in pairs]


def _load_planner_stats(connection) -> dict:
    """The chunk table's statistics as statement parameters, with the version they were read at."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # the analyse times as they are now
        cursor.execute(
            f"SELECT {_stats_version_sql()}, s.attname, s.most_common_vals::text::bigint[], "
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
        "english_words": None,
        "english_freqs": None,
        "simple_words": None,
        "simple_freqs": None,
    }
    # Each list sorted (words in code point order, as COLLATE "C" compares them), so the statement
    # finds a value by binary search (width_bucket) instead of reading the list from the start:
    # ~0.3 ms less for a question's words against a thousand frequent ones.
    for _, attname, vals, freqs, n_distinct, elems, elem_freqs in rows:
        if attname == "collection_id":
            ids, id_freqs = _sorted_together(vals or [], freqs or [])
            params["collection_ids"] = _binary_array(ids, "int8")
            params["collection_freqs"] = _binary_array(id_freqs, "float4")
            params["collection_n_distinct"] = n_distinct
        elif attname in ("search_vector", "search_vector_simple") and elems:
            prefix = "english" if attname == "search_vector" else "simple"
            # The frequencies go on past the words: their minimum, maximum and null share.
            words, word_freqs = _sorted_together(elems, elem_freqs[: len(elems)])
            params[f"{prefix}_words"] = _binary_array(words, "text")
            params[f"{prefix}_freqs"] = _binary_array(word_freqs + elem_freqs[len(elems) :], "float4")
    _planner_stats[_database_key(connection)] = (time.monotonic(), params)
    return params


def planner_statistics_refresh(using: str = "default") -> None:
    """ANALYZE the chunks now, after a bulk load: until autovacuum gets to it (a minute or more) the
    words channel weighs words by statistics that do not know the new chunks (measured on the corpus
    just after ingesting it: keyword-only passage recall@5 0.875 instead of 0.911). The next question
    sees the new analyse time and reloads its copy."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"ANALYZE {connections[using].ops.quote_name(Chunk._meta.db_table)}")


def _cached_planner_stats(connection) -> dict:
    cached = _planner_stats.get(_database_key(connection))
    if cached is None or time.monotonic() - cached[0] > _STATS_TTL:
        return _load_planner_stats(connection)
    return cached[1]


def _execute_prepared(
    connection, cursor, sql: str, sql_params: dict, *, ef_search: int, iterative: bool
) -> tuple[list[tuple], str]:
    """Run the statement with its settings, in one round trip where the driver allows (psycopg 3);
    return its rows and the version of the planner's statistics the server has now.

    The settings (``hnsw.ef_search``, and iterative scans where pgvector has them) are ``SET LOCAL``
    in the statement's transaction, so nothing leaks to the next user of a pooled connection, and
    are sent with it in a psycopg pipeline. The statement is server-side prepared and its generic
    plan used from the first run (every choice in it is made at run time), which saves about 2 ms
    of planning a question.
    """
    settings = ["pg_stat_clear_snapshot()", "set_config('hnsw.ef_search', %s, true)"]
    if iterative:
        settings.append("set_config('hnsw.iterative_scan', 'relaxed_order', true)")
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg2
        psycopg = None
    raw = connection.connection
    if psycopg is None or not isinstance(raw, psycopg.Connection):  # pragma: no cover
        with transaction.atomic(using=connection.alias, savepoint=False):
            cursor.execute(f"SELECT {', '.join(settings)}, {_stats_version_sql()}", [str(int(ef_search))])
            version = cursor.fetchone()[-1]
            plain = {
                name: value.value if isinstance(value, _BinaryParam) else value for name, value in sql_params.items()
            }
            plain["vector"] = str(sql_params["vector"]) if sql_params["vector"] is not None else None
            cursor.execute(sql, plain)
            return cursor.fetchall(), version
    # Prepared at once (not after psycopg's threshold) unless prepared statements are off on
    # this connection (HUMPHREY_DB_PREPARE_THRESHOLD=0, for a pooler that cannot keep them).
    prepare = raw.prepare_threshold is not None
    if prepare:
        # The generic plan from the first run: every choice in the statement is made at run time
        # (one-time filters on the parameters), so planning it afresh for each question (about
        # 2 ms, which PostgreSQL's cost estimate otherwise always chose) buys nothing. Measured at
        # 100k chunks: p50 8.9 -> 6.1 ms (all readable), 9.0 -> 5.1 (10%), 11.0 -> 7.6 (1%).
        settings.append("set_config('plan_cache_mode', 'force_generic_plan', true)")
    statement, names = _native_statement(sql)
    values = [sql_params[name] for name in names]
    settings_sql = f"SELECT {', '.join(settings)}, {_stats_version_sql()}".replace("%s", "$1")
    # Outside a transaction the statement gets its own, opened and committed in the same pipeline
    # (Django's atomic() would commit in a second round trip: ~0.15 ms); inside the caller's, it
    # joins it, as a statement in atomic(savepoint=False) would.
    own_transaction = connection.get_autocommit() and not connection.in_atomic_block
    with (
        connection.wrap_database_errors,
        psycopg.RawCursor(raw) as control_cursor,
        psycopg.RawCursor(raw) as settings_cursor,
        psycopg.RawCursor(raw) as server_cursor,
    ):
        server_cursor.adapters.register_dumper(_BinaryParam, _binary_dumper())
        try:
            with raw.pipeline():
                if own_transaction:
                    control_cursor.execute("BEGIN")
                settings_cursor.execute(settings_sql, [str(int(ef_search))])
                server_cursor.execute(statement, values, prepare=prepare)
                if own_transaction:
                    control_cursor.execute("COMMIT")
        except BaseException:
            if own_transaction and raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                raw.rollback()
            raise
        return server_cursor.fetchall(), settings_cursor.fetchone()[-1]


_version_lock = threading.Lock()
_iterative: dict[tuple, bool] = {}


def _has_iterative_scans(connection) -> bool:
    """pgvector 0.8+ can keep scanning the HNSW graph until the filter is satisfied."""
    key = _database_key(connection)
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


_SQL: str | None = None


def _sql() -> str:
    """The statement, with table names taken from the models (built once)."""
    global _SQL
    if _SQL is None:
        user_model = get_user_model()
        names = {
            "chunk": Chunk._meta.db_table,
            "collection": Collection._meta.db_table,
            "version": DocumentVersion._meta.db_table,
            "document": Document._meta.db_table,
            "reader_groups": Collection.reader_groups.through._meta.db_table,
            "user": user_model._meta.db_table,
            "user_groups": user_model.groups.through._meta.db_table,
        }
        # The words channel's rank, computed where each match is read.
        names["english_rank"] = (
            "CASE WHEN %(or_semantics)s THEN ts_rank(ch.search_vector, tsq.english, %(rank_norm)s)"
            " ELSE ts_rank_cd(ch.search_vector, tsq.english, %(rank_norm)s) END"
        )
        _SQL = _SQL_TEMPLATE.format(**names)
    return _SQL


# Parameters are bound by psycopg; only model table names are formatted in.
_SQL_TEMPLATE = """
WITH readable AS MATERIALIZED (
    -- Access control: the one definition of "may read" (CollectionQuerySet.readable_by), in SQL.
    SELECT c.id
    FROM {collection} c
    WHERE c.is_active
      AND c.marking = ANY(%(markings)s::text[])
      AND (%(all_collections)s OR c.slug = ANY(%(slugs)s::text[]))
      AND c.id IN (
          SELECT rg.collection_id FROM {reader_groups} rg
          JOIN {user_groups} ug ON ug.group_id = rg.group_id
          JOIN {user} u ON u.id = ug.user_id
          WHERE ug.user_id = %(user_id)s AND u.is_active
      )
),
table_size AS MATERIALIZED (
    SELECT greatest(reltuples, 1) AS n FROM pg_class WHERE oid = '{chunk}'::regclass
),
collection_stats AS MATERIALIZED (
    -- Each common collection's share of chunks, and the rest's: the planner's own statistics
    -- (pg_stats), read once per process and sent with the question (``_planner_stats``).
    SELECT %(collection_ids)s::bigint[] AS ids, %(collection_freqs)s::float4[] AS freqs,
        CASE WHEN %(collection_n_distinct)s::float4 < 0
            THEN -%(collection_n_distinct)s::float4 * (SELECT n FROM table_size)
            ELSE %(collection_n_distinct)s::float4 END AS distinct_ids
    WHERE %(collection_ids)s::bigint[] IS NOT NULL
),
estimated AS MATERIALIZED (
    -- How many chunks the user may search, in a big table: estimated from the statistics (no scan).
    SELECT CASE
        WHEN (SELECT n FROM table_size) > %(exact_below)s AND EXISTS (SELECT 1 FROM collection_stats)
        THEN (
            SELECT CASE WHEN count(r.id) = 0 THEN 0 ELSE greatest(1, round((SELECT n FROM table_size) * sum(
                coalesce(
                    CASE WHEN cs.ids[b.i] = r.id THEN cs.freqs[b.i] END,
                    (1 - coalesce((SELECT sum(f) FROM unnest(cs.freqs) f), 0))
                        / greatest(cs.distinct_ids - coalesce(cardinality(cs.ids), 0), 1)
                )))) END
            FROM readable r, collection_stats cs, LATERAL (SELECT width_bucket(r.id, cs.ids) AS i) b
        )
    END AS n
),
population AS MATERIALIZED (
    -- Trusted when it says "large"; otherwise (a small table, no statistics yet, or an estimate
    -- below the threshold, which stale statistics can get wrong) counted, but only up to the threshold.
    -- "broad": the user may read so much of the table that filtering full-text matches by collection
    -- is cheaper than intersecting them with the collections' index.
    SELECT p.n, p.n >= %(exact_below)s AND p.n >= %(broad_share)s * (SELECT n FROM table_size) AS broad
    FROM (SELECT CASE
        WHEN (SELECT n FROM estimated) >= %(exact_below)s THEN (SELECT n FROM estimated)
        ELSE (
            SELECT count(*) FROM (
                SELECT 1 FROM {chunk} ch
                WHERE ch.searchable AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
                LIMIT %(exact_below)s
            ) counted
        )
    END AS n OFFSET 0) p  -- OFFSET 0: kept a subquery, so the count runs once (inlined, it ran twice)
),
ann AS MATERIALIZED (
    -- Large population: the HNSW index (ef_search raised by the caller), filtered.
    SELECT ch.id, ch.embedding <=> %(vector)s::vector AS distance
    FROM {chunk} ch
    WHERE %(use_vector)s
      AND (SELECT n FROM population) >= %(exact_below)s
      AND ch.searchable
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
    ORDER BY ch.embedding <=> %(vector)s::vector
    LIMIT %(vector_depth)s
),
plan AS MATERIALIZED (
    SELECT
        CASE
            WHEN (SELECT n FROM population) = 0 THEN 'empty'
            WHEN NOT %(use_vector)s THEN 'keyword'
            WHEN (SELECT n FROM population) < %(exact_below)s THEN 'exact'
            WHEN (SELECT count(*) FROM ann) < LEAST(%(ann_minimum)s, (SELECT n FROM population)) THEN 'hnsw+exact'
            ELSE 'hnsw'
        END AS name
),
term_stats AS MATERIALIZED (
    -- How common each frequent word is, from the statistics ANALYZE keeps for the tsvector column:
    -- a cheap inverse document frequency, so "drift" outweighs "model" and "use" is no signal. The
    -- frequencies are followed by their minimum: a word not among the frequent is rarer than all.
    SELECT %(english_words)s::text[] AS words, %(english_freqs)s::float4[] AS freqs,
        (%(english_freqs)s::float4[])[cardinality(%(english_words)s::text[]) + 1] / 2 AS floor
    WHERE %(or_semantics)s AND %(use_keyword)s AND %(english_words)s::text[] IS NOT NULL
),
query_words AS MATERIALIZED (
    SELECT w.word FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS w(word)
    WHERE %(or_semantics)s AND %(use_keyword)s
),
terms AS MATERIALIZED (
    -- Each word of the question looked up in the frequent words (a handful of searches of one
    -- array: cheaper than unnesting the thousand to join them).
    SELECT w.word, quote_literal(w.word)::tsquery AS q, f.freq, ln(1 + 1 / f.freq) AS idf
    FROM query_words w
    CROSS JOIN LATERAL (
        SELECT greatest(coalesce(
            (SELECT CASE WHEN ts.words[b.i] = w.word THEN ts.freqs[b.i] END
             FROM term_stats ts, LATERAL (SELECT width_bucket(w.word COLLATE "C", ts.words COLLATE "C") AS i) b),
            (SELECT ts.floor FROM term_stats ts),
            0.01
        ), 1e-6) AS freq
    ) f
),
ordered_terms AS (
    SELECT word, q, freq, idf,
        row_number() OVER (ORDER BY freq, word) AS position,
        coalesce(sum(freq) OVER (ORDER BY freq, word ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
            AS freq_before
    FROM terms
),
kept_terms AS MATERIALIZED (
    -- The rarest words first, while the rows they are expected to match stay within the budget
    -- (ranking every chunk that says "leave" is what makes full-text search slow at scale), never
    -- a word in more than HUMPHREY_RETRIEVAL_COMMON_TERM_FREQ of chunks, and always the rarest one.
    -- A small readable population is tested chunk by chunk anyway: no budget needed there.
    SELECT word, q, idf FROM ordered_terms
    WHERE position = 1
       OR (freq <= %(common_freq)s AND (
           freq_before * (SELECT n FROM table_size) < %(keyword_budget)s
           OR (SELECT n FROM population) < %(exact_below)s))
),
code_stats AS MATERIALIZED (
    SELECT %(simple_words)s::text[] AS words, %(simple_freqs)s::float4[] AS freqs,
        (%(simple_freqs)s::float4[])[cardinality(%(simple_words)s::text[]) + 1] / 2 AS floor
    WHERE %(use_codes)s AND %(simple_words)s::text[] IS NOT NULL
),
kept_codes AS MATERIALIZED (
    -- Each code phrase is expected in (its rarest word's share of chunks) x (readable chunks): one
    -- expected in more than the scan limit ("AI" in guidance about AI) tells nothing and is dropped
    -- here, from the statistics, before any row is read; so is one in more than
    -- HUMPHREY_RETRIEVAL_COMMON_TERM_FREQ of all chunks, as a word would be (for a small reader it
    -- may be under the limit, but finding its matches means reading its whole posting list).
    SELECT p.phrase
    FROM unnest(%(code_list)s::text[]) AS p(phrase)
    CROSS JOIN LATERAL (
        SELECT coalesce(min(coalesce(
            (SELECT CASE WHEN cs.words[b.i] = w.word THEN cs.freqs[b.i] END
             FROM code_stats cs, LATERAL (SELECT width_bucket(w.word COLLATE "C", cs.words COLLATE "C") AS i) b),
            (SELECT cs.floor FROM code_stats cs),
            0
        )), 0) AS freq
        FROM unnest(tsvector_to_array(to_tsvector('simple', p.phrase))) AS w(word)
    ) f
    WHERE %(use_codes)s
      AND f.freq * (SELECT n FROM population) <= %(code_scan_limit)s
      AND f.freq <= %(common_freq)s
),
tsq AS MATERIALIZED (
    SELECT
        CASE WHEN %(or_semantics)s
            THEN (SELECT string_agg(quote_literal(word), ' | ')::tsquery FROM kept_terms)
            ELSE websearch_to_tsquery('english', %(text)s)
        END AS english,
        websearch_to_tsquery('simple', (SELECT string_agg('"' || phrase || '"', ' or ') FROM kept_codes)) AS codes
),
small AS MATERIALIZED (
    -- A small readable population (the exact plan): each readable chunk read once, for both its
    -- distance (computed for every one: the planner cannot hand this to the HNSW index) and whether
    -- and how well its words match. Every word is kept for a small population, so every match is
    -- ranked: a cap would keep the first matches of a common word and could drop every match of the rare ones.
    SELECT ch.id,
        CASE WHEN %(use_vector)s AND ch.embedding IS NOT NULL THEN ch.embedding <=> %(vector)s::vector END
            AS distance,
        CASE WHEN %(use_keyword)s AND (ch.search_vector @@ tsq.english) IS TRUE THEN {english_rank} END
            AS rank_score
    FROM {chunk} ch, tsq
    WHERE (SELECT n FROM population) BETWEEN 1 AND %(exact_below)s - 1
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
      AND ch.searchable
),
exact AS MATERIALIZED (
    -- The index came back short: every readable distance, computed (a small population's are above).
    SELECT ch.id, ch.embedding <=> %(vector)s::vector AS distance
    FROM {chunk} ch
    WHERE (SELECT name FROM plan) = 'hnsw+exact'
      AND ch.searchable
      AND ch.embedding IS NOT NULL
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
    UNION ALL
    SELECT id, distance FROM small WHERE (SELECT name FROM plan) = 'exact' AND distance IS NOT NULL
),
vector_hits AS (
    SELECT id, distance FROM ann WHERE (SELECT name FROM plan) = 'hnsw'
    UNION ALL
    (SELECT id, distance FROM exact ORDER BY distance LIMIT %(vector_depth)s)
),
keyword_candidates AS MATERIALIZED (
    -- A hard cap on rows ranked, whatever the statistics said. Three ways in, chosen at run time by
    -- how much the user may read: a large share starts from the full-text index, the access filter
    -- ("+ 0": not indexable) applied to its matches; a middling one intersects the full-text index's
    -- matches with the index of the user's collections before reading a row (a bitmap AND), so a
    -- common word's matches elsewhere are never fetched; a small population (the exact plan, where
    -- every word is kept and their matches together can be tens of thousands) starts from the
    -- user's own chunks and tests each (``small``, above). The cap applies to the first two, where
    -- only the rarest words are searched. Each match is ranked as it is read (its tsvector is in the
    -- row), not carried to a second pass.
    (SELECT ch.id, {english_rank} AS rank_score
    FROM {chunk} ch, tsq
    WHERE %(use_keyword)s
      AND (SELECT broad FROM population)
      AND ch.search_vector @@ tsq.english
      AND ch.searchable
      AND ch.collection_id + 0 = ANY(ARRAY(SELECT id FROM readable))
    LIMIT %(keyword_scan_limit)s)
    UNION ALL
    (SELECT ch.id, {english_rank} AS rank_score
    FROM {chunk} ch, tsq
    WHERE %(use_keyword)s
      AND (SELECT n >= %(exact_below)s AND NOT broad FROM population)
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
      AND ch.search_vector @@ tsq.english
      AND ch.searchable
    LIMIT %(keyword_scan_limit)s)
    UNION ALL
    SELECT id, rank_score FROM small WHERE rank_score IS NOT NULL
),
keyword_hits AS (
    SELECT kc.id, kc.rank_score FROM keyword_candidates kc
    ORDER BY kc.rank_score DESC, kc.id
    LIMIT %(keyword_depth)s
),
code_candidates AS MATERIALIZED (
    -- Codes and numbers, unstemmed, as phrases: "T&S" is two English stop words otherwise. At most
    -- one row past the cap is read: a "code" in more chunks than that ("AI" in guidance about AI)
    -- tells nothing, and ranking its thousands of matches is what made this channel slow. The ways
    -- in are the first two of keyword_candidates (only rare codes are searched, so intersecting
    -- their matches with the user's collections is cheap however few those are).
    (SELECT ch.id, ch.search_vector_simple
    FROM {chunk} ch, tsq
    WHERE %(use_codes)s
      AND (SELECT broad FROM population)
      AND ch.search_vector_simple @@ tsq.codes
      AND ch.searchable
      AND ch.collection_id + 0 = ANY(ARRAY(SELECT id FROM readable))
    LIMIT %(code_scan_limit_plus_one)s)
    UNION ALL
    (SELECT ch.id, ch.search_vector_simple
    FROM {chunk} ch, tsq
    WHERE %(use_codes)s
      AND (SELECT n >= 1 AND NOT broad FROM population)
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
      AND ch.search_vector_simple @@ tsq.codes
      AND ch.searchable
    LIMIT %(code_scan_limit_plus_one)s)
),
code_hits AS (
    SELECT cc.id, ts_rank_cd(cc.search_vector_simple, tsq.codes) AS rank_score
    FROM code_candidates cc, tsq
    WHERE (SELECT count(*) FROM code_candidates) <= %(code_scan_limit)s
    ORDER BY rank_score DESC, cc.id
    LIMIT %(keyword_depth)s
),
ranked AS (
    SELECT id, %(vector_weight)s::float8 / (%(rrf_k)s + row_number() OVER (ORDER BY distance, id)) AS part
    FROM vector_hits
    UNION ALL
    SELECT id, %(keyword_weight)s::float8 / (%(rrf_k)s + row_number() OVER (ORDER BY rank_score DESC, id))
    FROM keyword_hits
    UNION ALL
    SELECT id, %(code_weight)s::float8 / (%(rrf_k)s + row_number() OVER (ORDER BY rank_score DESC, id))
    FROM code_hits
),
fused AS MATERIALIZED (
    SELECT id, sum(part) AS score FROM ranked GROUP BY id ORDER BY score DESC, id LIMIT %(fetch)s
)
SELECT
    x.chunk_id, x.text, x.document_id, x.title, x.source_name, x.version_id, x.number, x.sha256, x.slug,
    x.marking, x.heading_path, x.anchor, x.page, x.char_start, x.char_end,
    CASE WHEN %(use_vector)s AND x.has_embedding
        THEN 1 - (x.embedding <=> %(vector)s::vector) END AS vector_score,
    CASE
        WHEN %(use_keyword)s AND x.search_vector @@ tsq.english THEN ts_rank_cd(x.search_vector, tsq.english)
        WHEN %(use_codes)s AND x.search_vector_simple @@ tsq.codes THEN ts_rank_cd(x.search_vector_simple, tsq.codes)
    END AS keyword_score,
    f.score,
    (SELECT name FROM plan),
    (SELECT n FROM population),
    (SELECT n FROM table_size)
FROM fused f
CROSS JOIN tsq
-- LATERAL: look each of the few fused ids up by primary key (never scan the chunks to join them).
CROSS JOIN LATERAL (
    SELECT ch.id AS chunk_id, ch.text, d.id AS document_id, d.title, d.source_name, v.id AS version_id,
        v.number, v.sha256, c.slug, c.marking, ch.heading_path, ch.anchor, ch.page, ch.char_start, ch.char_end,
        ch.embedding IS NOT NULL AS has_embedding, ch.embedding, ch.search_vector, ch.search_vector_simple
    FROM {chunk} ch
    JOIN {version} v ON v.id = ch.version_id
    JOIN {document} d ON d.id = v.document_id
    JOIN {collection} c ON c.id = ch.collection_id
    WHERE ch.id = f.id
      -- Belt and braces: the copied-down flags must agree with the rows they were copied from.
      AND ch.searchable
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
      AND d.is_active
      AND d.current_version_id = v.id
      AND d.collection_id = ch.collection_id
    LIMIT 1  -- one row per id; also keeps the planner from flattening this into a join over every chunk
) x
ORDER BY f.score DESC, f.id
LIMIT %(k)s
"""
