"""Who may read what, and how many chunks that is: every channel searches within ``readable`` and
chooses its plan by ``population``."""

READABLE = """readable AS MATERIALIZED (
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
),"""

POPULATION = """
table_size AS MATERIALIZED (
    SELECT greatest(reltuples, 1) AS n FROM pg_class WHERE oid = '{chunk}'::regclass
),
collection_stats AS MATERIALIZED (
    -- Each common collection's share of chunks, and the rest's: the planner's own statistics
    -- (pg_stats), read once per process and sent with the question (``stats.py``).
    SELECT %(collection_ids)s::bigint[] AS ids, %(collection_freqs)s::float4[] AS freqs,
        CASE WHEN %(collection_n_distinct)s::float4 < 0
            THEN -%(collection_n_distinct)s::float4 * (SELECT n FROM table_size)
            ELSE %(collection_n_distinct)s::float4 END AS distinct_ids
    WHERE %(collection_ids)s::bigint[] IS NOT NULL
),
estimated AS MATERIALIZED (
    -- How many chunks the user may search, in a big table: estimated from the statistics (no scan).
    SELECT CASE
        WHEN (SELECT n FROM table_size) > {exact_below} AND EXISTS (SELECT 1 FROM collection_stats)
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
    SELECT p.n, p.n >= {exact_below} AND p.n >= %(broad_share)s * (SELECT n FROM table_size) AS broad
    FROM (SELECT CASE
        WHEN (SELECT n FROM estimated) >= {exact_below} THEN (SELECT n FROM estimated)
        ELSE (
            SELECT count(*) FROM (
                SELECT 1 FROM {chunk} ch
                WHERE {searchable} AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
                LIMIT {exact_below}
            ) counted
        )
    END AS n OFFSET 0) p  -- OFFSET 0: kept a subquery, so the count runs once (inlined, it ran twice)
),"""

SMALL_WHERE = """
    WHERE (SELECT n FROM population) BETWEEN 1 AND {exact_below} - 1
      AND ch.collection_id = ANY(ARRAY(SELECT id FROM readable))
      AND {searchable}"""
