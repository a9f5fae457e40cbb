"""The statement's named parts: a shared prelude, one part per channel, and the fusion that joins them.

Each part is SQL text with two kinds of hole: ``%(name)s`` is a value bound at run time, ``{name}``
is a table name or a size (a LIMIT, a threshold) written into the statement once, when it is
composed (``documents.retrieval.sql``). Sizes are written in, not bound, because they shape the
plan: each combination is its own prepared statement, planned for those sizes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    """One way of finding passages, and what it adds to each shared step of the statement.

    The composer lays the statement out as: the prelude (who may read what, how many chunks that
    is); every channel's ``prepare``; ``tsq``, one row with every channel's ``query`` column;
    ``small``, the small population's chunks read once, with every channel's ``small`` column;
    every channel's ``hits`` CTEs; then fusion (weighted reciprocal rank over every channel's
    ``hits_name``) and the final look-up, which returns every channel's ``score``.
    """

    name: str  # the key of its score in ``Passage.scores``
    weight: str  # the bound parameter its ranks are weighted by (0: the channel is off)
    prepare: str  # CTEs before ``tsq`` (each ending in a comma), or ""
    hits: str  # CTEs after ``small`` (each ending in a comma), the last one named ``hits_name``
    hits_name: str
    order: str  # how ``hits_name``'s rows are ranked, best first (ends in ``id`` for a stable order)
    score: str  # the passage's score by this channel, over the looked-up row ``x`` and ``tsq``
    lookup: str  # the chunk columns ``score`` reads, selected in the final look-up of ``ch``
    query: tuple[str, str] | None = None  # a column of ``tsq``: (name, expression)
    small: tuple[str, str] | None = None  # a column of ``small``: (name, expression over ``ch``, ``tsq``)
