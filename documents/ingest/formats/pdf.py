"""PDF (pypdf): the text of each page, with the bookmarks as headings; scanned pages read by OCR.

A PDF without bookmarks (most printed from a browser or a word processor without them) has its
headings found by size instead: a line set larger than the body text is a heading, the largest size
the first level. Otherwise its title and headings would run into the first sentence below them, in
its passages and in the answers quoting them.

A page with no text layer of its own is read by Tesseract (``formats.ocr``) when OCR is on, and its
sections say so: "page 3 (text recognised from a scan)". The pages read that way are listed in the
metadata as ``ocr_pages``.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter

from ..types import Section
from .base import ParseError, ParseLimits, PlacedBuilder, squash
from .ocr import Progress, find_scans, read_scans, scan_place


def parse_pdf(
    data: bytes, limits: ParseLimits, progress: Progress | None = None
) -> tuple[str, str, list[Section], int, dict]:
    """Title, text, sections, page count and metadata; ``progress(done, total)`` hears of each page
    read by OCR."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError, FileNotDecryptedError):
                opened = 0
            if not opened:
                raise ParseError("encrypted", "The PDF is password-protected. Upload a copy saved without a password.")
        page_count = len(reader.pages)
    except ParseError:
        raise
    except Exception:  # pypdf raises many types for damaged files
        raise ParseError("corrupt", "The PDF could not be read: it looks damaged.") from None
    if page_count > limits.max_pages:
        raise ParseError("too_many_pages", f"The PDF has {page_count} pages; the most we accept is {limits.max_pages}.")
    headings = _pdf_outline(reader)
    sized: list[list[tuple[float, str]]] = []  # without bookmarks: each page's runs of text and their size
    texts: list[str] = []
    total = 0
    for index, page in enumerate(reader.pages):
        runs: list[tuple[float, str]] | None = None if headings else []
        sized.append(runs or [])
        text = _page_text(page, index + 1, PdfReadError, DependencyError, runs=runs)
        if runs is not None:
            sized[-1] = runs
        total += len(text)
        if total > limits.max_text_chars:
            raise ParseError("too_large", "The PDF holds more text than we accept in one document.")
        texts.append(text)
    scans: list[int] = []
    if limits.ocr.enabled:
        scans = find_scans(data, texts)
    elif page_count and not any(text.strip() for text in texts):
        raise ParseError(
            "ocr_off",
            "The PDF has no text layer: it may be a scanned image, and reading scans (OCR) is switched off "
            "on this service. Upload a version with real text, or ask the service team to switch OCR on.",
        )
    scanned = set(scans)
    budget = limits.max_text_chars - sum(len(text) for i, text in enumerate(texts) if i not in scanned)
    read = read_scans(data, scans, limits.ocr, budget=budget, progress=progress)
    levels = {} if headings else heading_sizes(sized)
    builder = PlacedBuilder()
    for index, text in enumerate(texts):
        number = index + 1
        path = [h for h in headings if h[0] <= index]
        if path:
            builder.set_path(path[-1][1])
        scan = read.get(index)
        builder.at(scan_place(number, unsure=scan.unsure(limits.ocr)) if scan else "")
        page_levels = {} if scan else _page_headings(sized[index], levels)
        for paragraph in re.split(r"\n\s*\n", scan.text if scan else text):
            if not page_levels:
                builder.paragraph(paragraph, page=number)
                continue
            lines: list[str] = []
            for line in paragraph.split("\n"):
                level = page_levels.get(squash(line))
                if level is None:
                    lines.append(line)
                    continue
                builder.paragraph("\n".join(lines), page=number)
                lines = []
                builder.heading(level, line)
            builder.paragraph("\n".join(lines), page=number)
    title = ""
    try:
        title = squash(str((reader.metadata or {}).get("/Title") or ""))
    except Exception:  # metadata is optional and often malformed
        title = ""
    metadata = {"ocr_pages": [index + 1 for index in scans]} if scans else {}
    tops = [line for line, level in (_page_headings(sized[0], levels) if sized else {}).items() if level == 1]
    if len(tops) == 1:  # the one line set largest on the first page stands as its title
        metadata["title_heading"] = tops[0]
    unsure = [index + 1 for index, scan in sorted(read.items()) if scan.unsure(limits.ocr)]
    if unsure:
        metadata["ocr_unsure_pages"] = unsure
    return title, builder.text(), builder.sections, page_count, metadata


def _page_text(page, number: int, *errors: type[Exception], runs: list | None = None) -> str:
    """The page's text layer; ``errors`` are pypdf's own for a damaged page. ``runs``, if given, gets
    each run of text with the size it is set in."""

    def visit(text, cm, tm, font, size) -> None:
        if text.strip():
            # Browsers set text at size 1 and scale it with the text and page matrices.
            scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3])
            runs.append((round(size * scale, 1), text))

    try:
        return page.extract_text(visitor_text=visit if runs is not None else None) or ""
    except (*errors, ValueError, KeyError, TypeError, AttributeError):
        raise ParseError("corrupt", f"Page {number} of the PDF could not be read: it looks damaged.") from None
    except Exception as exc:
        if type(exc).__name__ == "LimitReachedError":
            raise ParseError("bomb", "The PDF expands to far more data than its size suggests.") from None
        raise ParseError("corrupt", f"Page {number} of the PDF could not be read: it looks damaged.") from None


def _pdf_outline(reader) -> list[tuple[int, list[tuple[int, str]]]]:
    """Bookmarks as (page index, heading path), in page order; empty if the PDF has none."""
    found: list[tuple[int, list[tuple[int, str]]]] = []

    def walk(items, trail: list[tuple[int, str]]) -> None:
        last: list[tuple[int, str]] | None = None
        for item in items:
            if isinstance(item, list):
                if last is not None:
                    walk(item, last)
                continue
            try:
                page = reader.get_destination_page_number(item)
                title = squash(str(item.title))
            except Exception:  # noqa: S112 - a broken bookmark is not worth failing the file for
                continue
            last = [*trail, (len(trail) + 1, title)]
            if page is not None and page >= 0:
                found.append((page, last))

    try:
        walk(reader.outline, [])
    except Exception:
        return []
    found.sort(key=lambda item: item[0])
    return found


# A heading is set at least this much larger than the body text; at most this many sizes are levels.
HEADING_SIZE_RATIO = 1.15
HEADING_LEVELS = 3
MAX_HEADING_CHARS = 120


def heading_sizes(pages: list[list[tuple[float, str]]]) -> dict[float, int]:
    """The sizes that mark headings in a PDF without bookmarks, each with its level (1: largest): those
    larger than the body's (the size most of its characters are set in) by ``HEADING_SIZE_RATIO``.
    None when larger text is not rare (a leaflet set large throughout has no headings to find)."""
    chars: Counter[float] = Counter()
    for runs in pages:
        for size, text in runs:
            chars[size] += len(text.strip())
    if not chars:
        return {}
    body = chars.most_common(1)[0][0]
    large = sorted((size for size in chars if size >= body * HEADING_SIZE_RATIO), reverse=True)
    if sum(chars[size] for size in large) > 0.4 * sum(chars.values()):
        return {}
    return {size: min(i + 1, HEADING_LEVELS) for i, size in enumerate(large)}


def _page_headings(runs: list[tuple[float, str]], levels: dict[float, int]) -> dict[str, int]:
    """The page's heading lines (as ``squash`` leaves them) and their levels: runs of text in a heading
    size, consecutive runs of one size joined (a heading may be set in several pieces)."""
    found: dict[str, int] = {}
    pieces: list[str] = []
    current: float | None = None

    def flush() -> None:
        line = squash("".join(pieces))
        if current in levels and line and len(line) <= MAX_HEADING_CHARS and any(c.isalpha() for c in line):
            found.setdefault(line, levels[current])

    for size, text in runs:
        if size != current:
            flush()
            pieces, current = [], size
        pieces.append(text)
    flush()
    return found
