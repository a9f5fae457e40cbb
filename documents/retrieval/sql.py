"""The statement, composed from its named parts (``parts/``): the prelude, then each channel's.

To add a channel: write its part (a ``Channel`` in ``parts/<name>.py``: its SQL, its ``bind`` giving
its ``use_<name>`` flag and inputs, its weight's parameter name, setting and default) and add it to
``CHANNELS``; nothing else. ``selector.retrieve`` binds every channel's inputs through its ``bind``,
and ``RetrievalParams`` has a weight field per channel (read from its setting, which goes in
``humphrey/settings.py`` like the others). Its score arrives in ``Passage.scores[name]``.

Composing is done once; the table names and the sizes (``SIZES``) are then written in once per
combination of sizes (``statement``), by ``str.format``: the one rewriting step. (``wire.py``
turns the ``%(name)s`` placeholders into ``$n`` for the driver: a matter of the wire, not of SQL.)
"""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model

from documents.models import Chunk, Collection, Document, DocumentVersion

from .parts import Channel, codes, prelude, vector, words

#: The channels, in the order their ranks are fused (and their CTEs laid out).
CHANNELS: tuple[Channel, ...] = (vector.CHANNEL, words.CHANNEL, codes.CHANNEL)

#: Sizes written into the statement rather than bound: integers from settings or the caller (never
#: text from the user) that shape the plan, such as LIMITs.
SIZES = (
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

_PROVENANCE = (
    "ch.id AS chunk_id, ch.text, d.id AS document_id, d.title, d.source_name, v.id AS version_id,"
    " v.number, v.sha256, c.slug, c.marking, ch.heading_path, ch.anchor, ch.page, ch.char_start, ch.char_end"
)
#: The columns of each row, in order, before the channels' scores (``selector.py`` reads them so).
ROW_FIELDS = (
    "chunk_id",
    "text",
    "document_id",
    "document_title",
    "source_name",
    "version_id",
    "version_number",
    "version_sha256",
    "collection_slug",
    "marking",
    "heading_path",
    "anchor",
    "page",
    "char_start",
    "char_end",
)


def _cte(name: str, columns: list[str], body: str) -> str:
    return f"\n{name} AS MATERIALIZED (\n    SELECT {', '.join(columns)}\n    {body}\n),"


def compose(channels: tuple[Channel, ...] = CHANNELS) -> str:
    """The statement's text with ``{table}`` and ``{size}`` holes (see ``parts``)."""
    shared_queries = [f"{expression} AS {name}" for name, expression in (c.query for c in channels if c.query)]
    small_columns = [f"{expression} AS {name}" for name, expression in (c.small for c in channels if c.small)]
    ranked = "\n    UNION ALL\n".join(
        f"    SELECT id, %({c.weight})s::float8 / (%(rrf_k)s + row_number() OVER (ORDER BY {c.order})) AS part"
        f"\n    FROM {c.hits_name}"
        for c in channels
    )
    scores = ",\n    ".join(f"{c.score} AS {c.name}_score" for c in channels)
    lookups = ", ".join(c.lookup for c in channels)
    return (
        "\nWITH "
        + prelude.READABLE
        + prelude.POPULATION
        + "".join(c.prepare for c in channels)
        # The channels' full-text queries, built once for the statement (each channel's matches,
        # the small population's pass and the final scores all read them).
        + _cte("tsq", shared_queries, "")
        # A small readable population (the exact plan): each readable chunk read once, for every
        # channel that scores a chunk in place, instead of once per channel.
        + _cte("small", ["ch.id", *small_columns], "FROM {chunk} ch, tsq" + prelude.SMALL_WHERE)
        + "".join(c.hits for c in channels)
        + f"""
ranked AS (
{ranked}
),
fused AS MATERIALIZED (
    SELECT id, sum(part) AS score FROM ranked GROUP BY id ORDER BY score DESC, id LIMIT {{fetch}}
)
SELECT
    x.chunk_id, x.text, x.document_id, x.title, x.source_name, x.version_id, x.number, x.sha256, x.slug,
    x.marking, x.heading_path, x.anchor, x.page, x.char_start, x.char_end,
    {scores},
    f.score,
    (SELECT name FROM plan),
    (SELECT n FROM population),
    (SELECT n FROM table_size)
FROM fused f
CROSS JOIN tsq
-- LATERAL: look each of the few fused ids up by primary key (never scan the chunks to join them).
CROSS JOIN LATERAL (
    SELECT {_PROVENANCE}, {lookups}
    FROM {{chunk}} ch
    JOIN {{version}} v ON v.id = ch.version_id
    JOIN {{document}} d ON d.id = v.document_id
    JOIN {{collection}} c ON c.id = ch.collection_id
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
LIMIT {{k}}
"""
    )


@functools.cache
def _tables() -> dict[str, str]:
    user_model = get_user_model()
    return {
        "chunk": Chunk._meta.db_table,
        "collection": Collection._meta.db_table,
        "version": DocumentVersion._meta.db_table,
        "document": Document._meta.db_table,
        "reader_groups": Collection.reader_groups.through._meta.db_table,
        "user": user_model._meta.db_table,
        "user_groups": user_model.groups.through._meta.db_table,
    }


#: A chunk is searched while it is searchable (current, ready, active, not switched off: kept by
#: ``documents.lifecycle``) and its document has not expired (past its review date by more than its
#: collection allows): the one time-dependent condition, so it is checked here, at the moment asked.
SEARCHABLE = "ch.searchable AND (ch.search_until IS NULL OR ch.search_until > now())"


@functools.cache
def _composed() -> str:
    return compose()


@functools.lru_cache(maxsize=64)
def statement(sizes: tuple[int, ...]) -> str:
    """The statement for these sizes (in ``SIZES`` order), with ``%(name)s`` placeholders left to bind."""
    sized = {name: int(value) for name, value in zip(SIZES, sizes, strict=True)}
    return _composed().format(**_tables(), searchable=SEARCHABLE, **sized)
