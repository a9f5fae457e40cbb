"""The words channel: PostgreSQL full text in the ``english`` configuration, each of the question's
words weighed by its rarity from the planner's statistics, the rarest kept within a budget."""

from ..query import or_semantics
from ..types import WORDS
from . import Channel


def bind(text, params, vector) -> dict:
    """The cleaned question, and whether its words are searched as any-of (with the rarest kept)."""
    return {"use_keyword": params.weights[WORDS] > 0, "text": text, "or_semantics": or_semantics(text)}


# The rank, computed where each match is read (its tsvector is in the row).
RANK = (
    "CASE WHEN %(or_semantics)s THEN ts_rank(ch.search_vector, tsq.english, {rank_norm})"
    " ELSE ts_rank_cd(ch.search_vector, tsq.english, {rank_norm}) END"
)

PREPARE = """
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
           freq_before * (SELECT n FROM table_size) < {keyword_budget}
           OR (SELECT n FROM population) < {exact_below}))
),"""

QUERY = """CASE WHEN %(or_semantics)s
            THEN (SELECT string_agg(quote_literal(word), ' | ')::tsquery FROM kept_terms)
            ELSE websearch_to_tsquery('english', %(text)s)
        END"""

HITS = (
    """
keyword_candidates AS MATERIALIZED (
    -- A hard cap on rows ranked, whatever the statistics said. Three ways in, chosen at run time by
    -- how much the user may read: a large share starts from the full-text index, the access filter
    -- ("+ 0": not indexable) applied to its matches; a middling one intersects the full-text index's
    -- matches with the index of the user's collections before reading a row (a bitmap AND), so a
    -- common word's matches elsewhere are never fetched; a small population (the exact plan, where
    -- every word is kept and their matches together can be tens of thousands) starts from the
    -- user's own chunks and tests each (``small``). The cap applies to the first two, where
    -- only the rarest words are searched. Each match is ranked as it is read (its tsvector is in the
    -- row), not carried to a second pass.
    (SELECT ch.id, """
    + RANK
    + """ AS rank_score
    FROM {chunk} ch, tsq
    WHERE %(use_keyword)s
      AND (SELECT broad FROM population)
      AND ch.search_vector @@ tsq.english
      AND {searchable}
      AND ch.collection_id + 0 = ANY(ARRAY(SELECT id FROM readable))
    LIMIT {keyword_scan_limit})
    UNION ALL
    (SELECT ch.id, """
    + RANK
    + """ AS rank_score
    FROM {chunk} ch, tsq
    WHERE %(use_keyword)s
      AND (SELECT n >= {exact_below} AND NOT broad FROM population)
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
      AND ch.search_vector @@ tsq.english
      AND {searchable}
    LIMIT {keyword_scan_limit})
    UNION ALL
    SELECT id, rank_score FROM small WHERE rank_score IS NOT NULL
),
keyword_hits AS (
    SELECT kc.id, kc.rank_score FROM keyword_candidates kc
    ORDER BY kc.rank_score DESC, kc.id
    LIMIT {keyword_depth}
),"""
)

CHANNEL = Channel(
    name=WORDS,
    weight="keyword_weight",
    setting="HUMPHREY_RETRIEVAL_KEYWORD_WEIGHT",
    default_weight=0.7,
    bind=bind,
    prepare=PREPARE,
    hits=HITS,
    hits_name="keyword_hits",
    order="rank_score DESC, id",
    score=(
        "CASE WHEN %(use_keyword)s AND x.search_vector @@ tsq.english THEN ts_rank_cd(x.search_vector, tsq.english) END"
    ),
    lookup="ch.search_vector",
    query=("english", QUERY),
    # Every word is kept for a small population, so every match is ranked: a cap would keep the
    # first matches of a common word and could drop every match of the rare ones.
    small=(
        "rank_score",
        "CASE WHEN %(use_keyword)s AND (ch.search_vector @@ tsq.english) IS TRUE THEN " + RANK + " END",
    ),
)
