"""The selector: who is asking, what the statement is given, and the passages it returns."""

from __future__ import annotations

from django.conf import settings
from django.db import connections

from documents.embeddings import DIMENSIONS, get_embedder, query_embedding_refusal
from documents.models import Marking

from . import sql, stats, tuning
from .query import clean_query
from .tuning import RetrievalParams
from .types import PLAN_EMPTY, VECTOR, WORDS, Passage, Retrieval
from .wire import BinaryVector, execute_prepared


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
    ``query_vector``: a precomputed embedding of ``query`` (otherwise the configured embedder runs,
    unless the question is asked of a collection above its marking ceiling: then words only).
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
        params = params.without(*(channel.name for channel in sql.CHANNELS if channel.name != VECTOR))
    elif mode == "keyword":
        params = params.without(VECTOR)
    if (
        params.weights[VECTOR] > 0
        and query_vector is None
        and query_embedding_refusal(user=user, collections=collections, max_marking=max_marking)
    ):
        # Asked of a collection above the embedder's approval: the question is not sent to it,
        # whoever calls (the chat decides this earlier itself, and records it).
        params = params.without(VECTOR)

    if params.weights[VECTOR] > 0:
        if query_vector is None:
            query_vector = get_embedder().embed_query(text)
        if len(query_vector) != DIMENSIONS:
            raise ValueError(f"query_vector must have {DIMENSIONS} dimensions, not {len(query_vector)}")
        vector = BinaryVector(query_vector)
    else:
        vector = None

    bound = {
        # The prelude: who may read what.
        "user_id": user.pk,
        "markings": markings,
        "all_collections": collections is None,
        "slugs": list(collections or []),
        "broad_share": tuning.BROAD_SHARE,
        "common_freq": params.common_term_freq,
        # Fusion.
        "rrf_k": params.rrf_k,
        **{channel.weight: getattr(params, channel.weight) for channel in sql.CHANNELS},
    }
    for channel in sql.CHANNELS:
        # Each channel's inputs, and whether it runs (its ``use_<name>`` flag).
        bound.update(channel.bind(text, params, vector))
    sizes = {
        "keyword_budget": params.keyword_budget,
        "keyword_scan_limit": max(params.keyword_scan_limit, params.keyword_depth),
        "code_scan_limit": params.code_scan_limit,
        "code_scan_limit_plus_one": params.code_scan_limit + 1,
        "fetch": k + 4,  # a few spare in case the final checks drop one (each costs a look-up)
        "rank_norm": params.rank_normalization,
        "exact_below": params.exact_below,
        "vector_depth": max(params.vector_depth, k) if params.weights[VECTOR] > 0 else k,
        "keyword_depth": max(params.keyword_depth, k) if params.weights[WORDS] > 0 else k,
        # The index must find at least this many before its answer is trusted.
        "ann_minimum": k,
        "k": k,
    }
    statement = sql.statement(tuple(int(sizes[name]) for name in sql.SIZES))
    connection = connections[using]
    hint_key = (using, user.pk, None if collections is None else tuple(sorted(collections)), tuple(markings))
    iterative = params.iterative_scan and tuning.has_iterative_scans(connection)
    ef_search = tuning.ef_search(
        params,
        sizes["vector_depth"],
        tuning.share_hint(hint_key),
        tuning.table_rows(using),
        iterative=iterative,
    )

    def run(planner_stats: dict) -> tuple[list[tuple], str]:
        unused = {
            # Only the word lists a question uses are sent (each costs the server a read).
            **({} if bound["use_keyword"] and bound["or_semantics"] else stats.NO_ENGLISH),
            **({} if bound["use_codes"] else stats.NO_SIMPLE),
        }
        return execute_prepared(
            connection,
            cursor,
            statement,
            {**bound, **planner_stats, **unused},
            ef_search=ef_search,
            iterative=iterative,
            version_sql=stats.stats_version_sql(),
        )

    planner_stats = stats.cached_planner_stats(connection)
    with connection.cursor() as cursor:
        rows, version = run(planner_stats)
        if version != planner_stats["stats_version"]:  # analysed since the copy was read: reload, run again
            rows, _ = run(stats.load_planner_stats(connection))

    passages: list[Passage] = []
    plan, population, table_rows = PLAN_EMPTY, 0, 0
    provenance, channels = len(sql.ROW_FIELDS), len(sql.CHANNELS)
    for rank, row in enumerate(rows, start=1):
        scores = row[provenance : provenance + channels]
        score, plan, population, table_rows = row[provenance + channels :]
        passages.append(
            Passage(
                **dict(zip(sql.ROW_FIELDS, row[:provenance], strict=True)),
                scores={channel.name: value for channel, value in zip(sql.CHANNELS, scores, strict=True)},
                score=score,
                rank=rank,
            )
        )
    if not rows:
        plan = PLAN_EMPTY
    elif table_rows:
        tuning.remember_share(hint_key, population / table_rows)
        tuning.remember_table_rows(using, table_rows)
    notes = {"ef_search": ef_search, "iterative_scan": iterative}
    return Retrieval(passages=passages, plan=plan, population=population, notes=notes)
