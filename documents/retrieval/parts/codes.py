"""The codes channel: code-like phrases of the question ("T&S", "MPM A.4", "section 21") searched as
phrases in the ``simple`` configuration (no stemming, no stop words), on its own tsvector."""

from ..query import code_spans
from ..types import CODES
from . import Channel


def bind(text, params, vector) -> dict:
    """The question's code-like phrases (the channel runs only when it has some)."""
    codes = code_spans(text)
    return {"use_codes": params.weights[CODES] > 0 and bool(codes), "code_list": codes}


PREPARE = """
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
      AND f.freq * (SELECT n FROM population) <= {code_scan_limit}
      AND f.freq <= %(common_freq)s
),"""

QUERY = """websearch_to_tsquery('simple', (SELECT string_agg('"' || phrase || '"', ' or ') FROM kept_codes))"""

HITS = """
code_candidates AS MATERIALIZED (
    -- Codes and numbers, unstemmed, as phrases: "T&S" is two English stop words otherwise. At most
    -- one row past the cap is read: a "code" in more chunks than that ("AI" in guidance about AI)
    -- tells nothing, and ranking its thousands of matches is what made this channel slow. The ways
    -- in are the first two of the words channel's (only rare codes are searched, so intersecting
    -- their matches with the user's collections is cheap however few those are).
    (SELECT ch.id, ch.search_vector_simple
    FROM {chunk} ch, tsq
    WHERE %(use_codes)s
      AND (SELECT broad FROM population)
      AND ch.search_vector_simple @@ tsq.codes
      AND {searchable}
      AND ch.collection_id + 0 = ANY(ARRAY(SELECT id FROM readable))
    LIMIT {code_scan_limit_plus_one})
    UNION ALL
    (SELECT ch.id, ch.search_vector_simple
    FROM {chunk} ch, tsq
    WHERE %(use_codes)s
      AND (SELECT n >= 1 AND NOT broad FROM population)
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
      AND ch.search_vector_simple @@ tsq.codes
      AND {searchable}
    LIMIT {code_scan_limit_plus_one})
),
code_hits AS (
    SELECT cc.id, ts_rank_cd(cc.search_vector_simple, tsq.codes) AS rank_score
    FROM code_candidates cc, tsq
    WHERE (SELECT count(*) FROM code_candidates) <= {code_scan_limit}
    ORDER BY rank_score DESC, cc.id
    LIMIT {keyword_depth}
),"""

CHANNEL = Channel(
    name=CODES,
    weight="code_weight",
    setting="HUMPHREY_RETRIEVAL_CODE_WEIGHT",
    default_weight=0.5,
    bind=bind,
    prepare=PREPARE,
    hits=HITS,
    hits_name="code_hits",
    order="rank_score DESC, id",
    score=(
        "CASE WHEN %(use_codes)s AND x.search_vector_simple @@ tsq.codes"
        " THEN ts_rank_cd(x.search_vector_simple, tsq.codes) END"
    ),
    lookup="ch.search_vector_simple",
    query=("codes", QUERY),
)
