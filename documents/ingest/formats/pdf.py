"""PDF (pypdf): the text of each page, with the bookmarks as headings; scanned pages read by OCR.

A page with no text layer of its own is read by Tesseract (``formats.ocr``) when OCR is on, and its
sections say so: "page 3 (text recognised from a scan)". The pages read that way are listed in the
metadata as ``ocr_pages``.
"""

from __future__ import annotations

import io
import re

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
    except Exception as exc:  # pypdf raises many types for damaged files
        raise ParseError("corrupt", f"The PDF could not be read: it looks damaged ({type(exc).__name__}).") from None
    if page_count > limits.max_pages:
        raise ParseError("too_many_pages", f"The PDF has {page_count} pages; the most we accept is {limits.max_pages}.")
    texts: list[str] = []
    total = 0
    for index, page in enumerate(reader.pages):
        text = _page_text(page, index + 1, PdfReadError, DependencyError)
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
    headings = _pdf_outline(reader)
    builder = PlacedBuilder()
    for index, text in enumerate(texts):
        number = index + 1
        path = [h for h in headings if h[0] <= index]
        if path:
            builder.set_path(path[-1][1])
        scan = read.get(index)
        builder.at(scan_place(number, unsure=scan.unsure(limits.ocr)) if scan else "")
        for paragraph in re.split(r"\n\s*\n", scan.text if scan else text):
            builder.paragraph(paragraph, page=number)
    title = ""
    try:
        title = squash(str((reader.metadata or {}).get("/Title") or ""))
    except Exception:  # metadata is optional and often malformed
        title = ""
    metadata = {"ocr_pages": [index + 1 for index in scans]} if scans else {}
    unsure = [index + 1 for index, scan in sorted(read.items()) if scan.unsure(limits.ocr)]
    if unsure:
        metadata["ocr_unsure_pages"] = unsure
    return title, builder.text(), builder.sections, page_count, metadata


def _page_text(page, number: int, *errors: type[Exception]) -> str:
    """The page's text layer; ``errors`` are pypdf's own for a damaged page."""
    try:
        return page.extract_text() or ""
    except (*errors, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ParseError("corrupt", f"Page {number} of the PDF could not be read ({type(exc).__name__}).") from None
    except Exception as exc:
        if type(exc).__name__ == "LimitReachedError":
            raise ParseError("bomb", "The PDF expands to far more data than its size suggests.") from None
        raise ParseError("corrupt", f"Page {number} of the PDF could not be read ({type(exc).__name__}).") from None


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
