"""The text around a passage, rebuilt from its version's chunks, and the parts an answer used."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Chunk


@dataclass
class Context:
    before: str
    passage: str
    after: str
    gap_before: bool
    gap_after: bool
    parts: list[tuple[str, bool]] | None = None  # the passage cut into (text, used by the answer)


MAX_HIGHLIGHTS = 20


def highlight_spans(raw: str, length: int) -> list[tuple[int, int]]:
    """``?hl=10-55,80-120`` as spans within a passage of ``length`` characters: clipped, sorted,
    merged; anything malformed is ignored (a link is only ever a way to point at text)."""
    spans = []
    for part in (raw or "").split(",")[:MAX_HIGHLIGHTS]:
        start, _, end = part.partition("-")
        if not (start.isdigit() and end.isdigit()):
            continue
        start, end = min(int(start), length), min(int(end), length)
        if end > start:
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def passage_parts(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    parts, at = [], 0
    for start, end in spans:
        if start > at:
            parts.append((text[at:start], False))
        parts.append((text[start:end], True))
        at = end
    if at < len(text):
        parts.append((text[at:], False))
    return parts


def chunk_context(chunk: Chunk, *, window: int | None = 2) -> Context:
    """The passage with the text around it, rebuilt from its version's neighbouring chunks.

    Chunks are exact slices of the version's text with their offsets, so stitching them by offset
    gives back the original text (headings between sections may be missing: they are in no chunk).
    """
    neighbours = Chunk.objects.filter(version_id=chunk.version_id)
    if window is not None:
        neighbours = neighbours.filter(ordinal__gte=chunk.ordinal - window, ordinal__lte=chunk.ordinal + window)
    pieces = sorted(neighbours.values_list("char_start", "char_end", "text"), key=lambda p: (p[0], p[1]))
    out = ""
    spans: list[tuple[int, int, int]] = []  # (start, end) in the version's text -> start in ``out``
    end: int | None = None
    for start, stop, text in pieces:
        if end is not None and start < end:
            if stop <= end:
                continue
            text, start = text[end - start :], end
        elif end is not None and start > end:
            out += "\n\n" if start - end <= 2 else "\n\n…\n\n"  # headings between sections are in no chunk
        spans.append((start, stop, len(out)))
        out += text
        end = stop
    position = next((o + chunk.char_start - s for s, e, o in spans if s <= chunk.char_start < e), None)
    if position is None or out[position : position + len(chunk.text)] != chunk.text:  # never mis-highlight
        return Context(before="", passage=chunk.text, after="", gap_before=True, gap_after=True)
    return Context(
        before=out[:position],
        passage=chunk.text,
        after=out[position + len(chunk.text) :],
        gap_before=bool(pieces) and pieces[0][0] > 0,
        gap_after=window is not None
        and Chunk.objects.filter(version_id=chunk.version_id, ordinal__gt=chunk.ordinal + window).exists(),
    )
