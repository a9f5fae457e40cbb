"""Plain data passed between the ingestion stages (no Django imports).

parse (file -> ParsedDocument) -> chunk (ParsedDocument -> list[ChunkDraft]) -> embed -> store.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, on one page where the format has pages.

    ``char_start``/``char_end`` are offsets into ``ParsedDocument.text``.
    """

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    char_start: int = 0
    char_end: int = 0
    #: Where it is, for formats whose unit is not a page: "slide 4", "sheet Rates" (else "").
    place: str = ""
    #: Small sections joined into one (``chunk._merge_small``) share ``heading_path``, what their headings
    #: have in common; this is the first one's own path, for saying where the text starts.
    lead_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedDocument:
    """A document as text, with its structure kept: sections in reading order."""

    title: str
    text: str
    sections: list[Section]
    content_type: str
    page_count: int | None = None
    metadata: dict = field(default_factory=dict)
    #: Files inside this one that are documents in their own right (an email's attachments), to be
    #: ingested each as its own document; what they are is not checked here.
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(frozen=True)
class Attachment:
    """A file carried inside another (an email's attachment): its name and its bytes."""

    filename: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: what ``documents.models.Chunk`` will hold, minus the embedding.

    ``embed_text`` is what the embedder sees (it may carry the title and headings for context);
    ``text`` is what is stored, shown and quoted, an exact slice of the parsed text.
    """

    ordinal: int
    text: str
    embed_text: str
    heading_path: tuple[str, ...]
    anchor: str
    page: int | None
    char_start: int
    char_end: int
    token_count: int


#: Names a file's own review date goes by (front matter keys, DOCX custom properties), compared
#: lower-cased with spaces, hyphens and underscores removed.
REVIEW_DATE_NAMES = frozenset({"reviewby", "reviewdate", "nextreview", "nextreviewdate"})

_ISO_DAY = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})")


def is_review_date_name(name: str) -> bool:
    return re.sub(r"[\s_-]+", "", str(name)).lower() in REVIEW_DATE_NAMES


def review_date_value(value) -> dt.date | None:
    """A review date from a file's metadata: a date, a datetime, or text starting ``YYYY-MM-DD``
    (an ISO date or date-time); None for anything else, or for an impossible date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    match = _ISO_DAY.match(value)
    if not match:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
