"""Plain data passed between the ingestion stages (no Django imports).

parse (file -> ParsedDocument) -> chunk (ParsedDocument -> list[ChunkDraft]) -> embed -> store.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class ParsedDocument:
    """A document as text, with its structure kept: sections in reading order."""

    title: str
    text: str
    sections: list[Section]
    content_type: str
    page_count: int | None = None
    metadata: dict = field(default_factory=dict)


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
