"""Turn an uploaded file into text with its structure kept (no Django imports).

``parse(data, filename)`` sniffs what the bytes are (never trusting the name alone), refuses what
it cannot read safely, and returns a ``ParsedDocument`` whose sections carry heading paths and, for
PDFs, page numbers. Every refusal is a ``ParseError(code, message)`` whose message a curator can act
on; the caller records it on that version only.

This module decides what a file is and whether to read it; each family of formats has its reader in
``documents.ingest.formats`` (which says how to add one): PDF (pypdf; pages, and the bookmarks as
headings), DOCX (python-docx; heading styles), HTML (BeautifulSoup; headings; scripts, styles and
other active content dropped: only text is kept), Markdown (markdown-it-py finds the headings; YAML
front matter gives the title and is not indexed), plain text (numbered or underlined headings).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePath

from .formats.base import ParseError, ParseLimits, squash
from .formats.markup import parse_html, parse_markdown
from .formats.pdf import parse_pdf
from .formats.plain import parse_text
from .formats.word import parse_docx
from .types import ParsedDocument

__all__ = ["CONTENT_TYPES", "EXTENSIONS", "ParseError", "ParseLimits", "parse", "sniff", "title_from_filename"]


PDF, DOCX, HTML, MARKDOWN, TEXT = "pdf", "docx", "html", "markdown", "text"
CONTENT_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    HTML: "text/html",
    MARKDOWN: "text/markdown",
    TEXT: "text/plain",
}
#: What each accepted extension may contain. Markdown and plain text are both text.
EXTENSIONS = {
    ".pdf": {PDF},
    ".docx": {DOCX},
    ".html": {HTML},
    ".htm": {HTML},
    ".md": {MARKDOWN, TEXT},
    ".markdown": {MARKDOWN, TEXT},
    ".txt": {TEXT, MARKDOWN},
    ".text": {TEXT, MARKDOWN},
}
FORMAT_NAMES = {PDF: "a PDF", DOCX: "a Word document", HTML: "a web page", MARKDOWN: "text", TEXT: "text"}


# --- Sniffing ----------------------------------------------------------------------------------

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|title)\b", re.I | re.S)


def sniff(data: bytes) -> str | None:
    """What the bytes are: pdf, docx, html, text, or None for anything else (binary, other zips)."""
    head = data[:2048]
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return DOCX  # a damaged zip: the DOCX reader says so plainly
        return DOCX if "word/document.xml" in names else None
    if b"\x00" in head:
        return None
    if _HTML_START.match(head.lstrip(b"\xef\xbb\xbf")):
        return HTML
    return TEXT


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ParseError("corrupt", "The file is not readable text (its character encoding is not recognised).")
    return str(best)


# --- Entry point -------------------------------------------------------------------------------


def parse(data: bytes, filename: str, *, limits: ParseLimits | None = None) -> ParsedDocument:
    """Parse ``data`` (the whole file) named ``filename``; raise ``ParseError`` if we will not.

    The kind is taken from the bytes. The name's extension must be one we accept and must agree
    with the bytes: a ``.pdf`` that is really a web page is refused rather than guessed at.
    """
    limits = limits or ParseLimits()
    name = PurePath(filename or "").name
    if not data:
        raise ParseError("empty", "The file is empty.")
    if len(data) > limits.max_bytes:
        raise ParseError(
            "too_large",
            f"The file is {len(data) / (1024 * 1024):.1f} MB; the most we accept is "
            f"{limits.max_bytes // (1024 * 1024)} MB.",
        )
    extension = PurePath(name).suffix.lower()
    if extension not in EXTENSIONS:
        raise ParseError(
            "unsupported_type",
            f"Files ending {extension or '(no extension)'} are not accepted. "
            "Upload PDF, Word (.docx), web page (.html), Markdown (.md) or text (.txt) files.",
        )
    kind = sniff(data)
    if kind is None:
        raise ParseError(
            "unsupported_type", "The file's content is not a PDF, Word document, web page, Markdown or text."
        )
    expected = EXTENSIONS[extension]
    if kind == TEXT and MARKDOWN in expected:
        kind = MARKDOWN if extension in (".md", ".markdown") else TEXT
    if kind not in expected:
        raise ParseError(
            "type_mismatch",
            f"The file is named {extension} but its content is {FORMAT_NAMES[kind]}. "
            "Check it is the file you meant and rename it to match.",
        )

    page_count = None
    metadata: dict = {}
    if kind == PDF:
        title, text, sections, page_count = parse_pdf(data, limits)
    elif kind == DOCX:
        title, text, sections = parse_docx(data, limits)
    else:
        decoded = _decode(data)
        if len(decoded) > limits.max_text_chars:
            raise ParseError("too_large", "The file holds more text than we accept in one document.")
        if kind == HTML:
            title, text, sections = parse_html(decoded)
        elif kind == MARKDOWN:
            title, text, sections, metadata = parse_markdown(decoded)
        else:
            title, text, sections = parse_text(decoded)
    if len(text) > limits.max_text_chars:
        raise ParseError("too_large", "The file holds more text than we accept in one document.")
    if not text.strip():
        hint = " It may be a scanned image: upload a version with real text." if kind == PDF else ""
        raise ParseError("no_text", f"No text could be found in the file.{hint}")
    title = title or title_from_filename(name)
    return ParsedDocument(
        title=title[:300],
        text=text,
        sections=sections,
        content_type=CONTENT_TYPES[kind],
        page_count=page_count,
        metadata=metadata,
    )


def title_from_filename(name: str) -> str:
    stem = PurePath(name).stem
    stem = re.sub(r"^\d+[-_ ]+", "", stem)
    return squash(re.sub(r"[-_]+", " ", stem)).capitalize() or "Untitled"
