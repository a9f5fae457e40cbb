"""The statement's named parts: a shared prelude, one part per channel, and the fusion that joins them.

Each part is SQL text with two kinds of hole: ``%(name)s`` is a value bound at run time, ``{name}``
is a table name or a size (a LIMIT, a threshold) written into the statement once, when it is
composed (``documents.retrieval.sql``). Sizes are written in, not bound, because they shape the
plan: each combination is its own prepared statement, planned for those sizes.

A channel also carries what is not SQL: its weight (a knob of ``RetrievalParams``, read from its
setting) and ``bind``, which gives the values its ``%(name)s`` holes are bound to for one question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tuning import RetrievalParams
    from ..wire import BinaryVector

#: ``bind(text, params, vector)``: the channel's bound values (its ``use_<name>`` flag, true when it
#: runs, and whatever it searches with) for the cleaned question ``text``, the knobs ``params`` and the
#: question's embedding ``vector`` (None when the vector channel is off).
Bind = Callable[[str, "RetrievalParams", "BinaryVector | None"], dict[str, Any]]


@dataclass(frozen=True)
class Channel:
    """One way of finding passages, and what it adds to each shared step of the statement.

    The composer lays the statement out as: the prelude (who may read what, how many chunks that
    is); every channel's ``prepare``; ``tsq``, one row with every channel's ``query`` column;
    ``small``, the small population's chunks read once, with every channel's ``small`` column;
    every channel's ``hits`` CTEs; then fusion (weighted reciprocal rank over every channel's
    ``hits_name``) and the final look-up, which returns every channel's ``score``. Every value the
    channel's SQL binds comes from its ``bind``, bar the shared ones that ``selector.retrieve`` binds
    (the prelude's and ``common_freq``, ``rrf_k``, every channel's weight, the planner's statistics).
    """

    name: str  # the key of its score in ``Passage.scores``
    weight: str  # the bound parameter its ranks are weighted by, and its ``RetrievalParams`` field (0: off)
    setting: str  # the Django setting its weight is read from (``RetrievalParams.from_settings``)
    default_weight: float  # its weight where no setting gives one (``RetrievalParams()``)
    bind: Bind  # its bound values for one question (see ``Bind``)
    prepare: str  # CTEs before ``tsq`` (each ending in a comma), or ""
    hits: str  # CTEs after ``small`` (each ending in a comma), the last one named ``hits_name``
    hits_name: str
    order: str  # how ``hits_name``'s rows are ranked, best first (ends in ``id`` for a stable order)
    score: str  # the passage's score by this channel, over the looked-up row ``x`` and ``tsq``
    lookup: str  # the chunk columns ``score`` reads, selected in the final look-up of ``ch``
    query: tuple[str, str] | None = None  # a column of ``tsq``: (name, expression)
    small: tuple[str, str] | None = None  # a column of ``small``: (name, expression over ``ch``, ``tsq``)
