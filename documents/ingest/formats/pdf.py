"""PDF (pypdf): the text of each page, with the bookmarks as headings."""

from __future__ import annotations

import io
import re

from ..types import Section
from .base import Builder, ParseError, ParseLimits, squash


def parse_pdf(data: bytes, limits: ParseLimits) -> tuple[str, str, list[Section], int]:
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
    headings = _pdf_outline(reader)
    builder = Builder()
    total = 0
    for index, page in enumerate(reader.pages):
        number = index + 1
        path = [h for h in headings if h[0] <= index]
        if path:
            builder.set_path(path[-1][1])
        try:
            text = page.extract_text() or ""
        except (PdfReadError, DependencyError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ParseError("corrupt", f"Page {number} of the PDF could not be read ({type(exc).__name__}).") from None
        except Exception as exc:
            if type(exc).__name__ == "LimitReachedError":
                raise ParseError("bomb", "The PDF expands to far more data than its size suggests.") from None
            raise ParseError("corrupt", f"Page {number} of the PDF could not be read ({type(exc).__name__}).") from None
        total += len(text)
        if total > limits.max_text_chars:
            raise ParseError("too_large", "The PDF holds more text than we accept in one document.")
        for paragraph in re.split(r"\n\s*\n", text):
            builder.paragraph(paragraph, page=number)
    title = ""
    try:
        title = squash(str((reader.metadata or {}).get("/Title") or ""))
    except Exception:  # metadata is optional and often malformed
        title = ""
    return title, builder.text(), builder.sections, page_count


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
