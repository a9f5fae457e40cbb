"""The vector channel: cosine distance to the question (pgvector), with the plan chosen by the
readable population. Its plan is the statement's reported plan (``PLAN_*`` in ``types.py``)."""

from ..types import VECTOR
from . import Channel


def bind(text, params, vector) -> dict:
    """The question's embedding, already checked and encoded by the caller (None: the channel is off)."""
    return {"vector": vector, "use_vector": vector is not None}


PREPARE = """
ann AS MATERIALIZED (
    -- Large population: the HNSW index (ef_search raised by the caller), filtered.
    SELECT ch.id, ch.embedding <=> %(vector)s::vector AS distance
    FROM {chunk} ch
    WHERE %(use_vector)s
      AND (SELECT n FROM population) >= {exact_below}
      AND {searchable}
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
    ORDER BY ch.embedding <=> %(vector)s::vector
    LIMIT {vector_depth}
),
plan AS MATERIALIZED (
    SELECT
        CASE
            WHEN (SELECT n FROM population) = 0 THEN 'empty'
            WHEN NOT %(use_vector)s THEN 'keyword'
            WHEN (SELECT n FROM population) < {exact_below} THEN 'exact'
            WHEN (SELECT count(*) FROM ann) < LEAST({ann_minimum}, (SELECT n FROM population)) THEN 'hnsw+exact'
            ELSE 'hnsw'
        END AS name
),"""

HITS = """
exact AS MATERIALIZED (
    -- The index came back short: every readable distance, computed (a small population's are in ``small``).
    SELECT ch.id, ch.embedding <=> %(vector)s::vector AS distance
    FROM {chunk} ch
    WHERE (SELECT name FROM plan) = 'hnsw+exact'
      AND {searchable}
      AND ch.embedding IS NOT NULL
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
    UNION ALL
    SELECT id, distance FROM small WHERE (SELECT name FROM plan) = 'exact' AND distance IS NOT NULL
),
vector_hits AS (
    SELECT id, distance FROM ann WHERE (SELECT name FROM plan) = 'hnsw'
    UNION ALL
    (SELECT id, distance FROM exact ORDER BY distance LIMIT {vector_depth})
),"""

CHANNEL = Channel(
    name=VECTOR,
    weight="vector_weight",
    setting="HUMPHREY_RETRIEVAL_VECTOR_WEIGHT",
    default_weight=1.0,
    bind=bind,
    prepare=PREPARE,
    hits=HITS,
    hits_name="vector_hits",
    order="distance, id",
    score="CASE WHEN %(use_vector)s AND x.has_embedding THEN 1 - (x.embedding <=> %(vector)s::vector) END",
    lookup="ch.embedding IS NOT NULL AS has_embedding, ch.embedding",
    # A small population's distances are computed for every chunk (a MATERIALIZED CTE: the planner
    # cannot hand this ORDER BY to the HNSW index), in the pass that also ranks its words.
    small=(
        "distance",
        "CASE WHEN %(use_vector)s AND ch.embedding IS NOT NULL THEN ch.embedding <=> %(vector)s::vector END",
    ),
)
