"""Turn an uploaded file into text with its structure kept (no Django imports).

``parse(data, filename)`` sniffs what the bytes are (never trusting the name alone), refuses what
it cannot read safely, and returns a ``ParsedDocument`` whose sections carry heading paths and, for
PDFs, page numbers. Every refusal is a ``ParseError(code, message)`` whose message a curator can act
on; the caller records it on that version only.

Formats: PDF (pypdf; pages, and the bookmarks as headings), DOCX (python-docx; heading styles),
HTML (BeautifulSoup; headings; scripts, styles and other active content dropped: only text is
kept), Markdown (markdown-it-py finds the headings; YAML front matter gives the title and is not
indexed), plain text (numbered or underlined headings).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from .types import ParsedDocument, Section


class ParseError(Exception):
    """A file we will not ingest; ``message`` is plain English for the curator."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost us. The service fills these from settings."""

    max_bytes: int = 25 * 1024 * 1024
    max_pages: int = 500
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: int = 100
    max_zip_entries: int = 5_000
    max_text_chars: int = 5_000_000


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


# --- Building text with sections -----------------------------------------------------------------


class _Builder:
    """Accumulates text and sections: a new section at each heading and each page."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.sections: list[Section] = []
        self._spans: list[tuple[int, int, tuple[str, ...], int | None]] = []
        self.path: list[tuple[int, str]] = []
        self._open: tuple[int, tuple[str, ...], int | None] | None = None

    def _append(self, text: str) -> tuple[int, int]:
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        start = self.length
        self.parts.append(text)
        self.length += len(text)
        return start, self.length

    def _close(self) -> None:
        if self._open is not None:
            start, path, page = self._open
            if self.length > start:
                self._spans.append((start, self.length, path, page))
            self._open = None

    def heading(self, level: int, text: str) -> None:
        text = _squash(text)
        if not text:
            return
        self._close()
        self.path = [(lvl, t) for lvl, t in self.path if lvl < level]
        self.path.append((level, text))
        self._append(text)

    def paragraph(self, text: str, page: int | None = None) -> None:
        text = text.strip()
        if not text:
            return
        path = tuple(t for _, t in self.path)
        if self._open is not None and (self._open[1] != path or self._open[2] != page):
            self._close()
        start, _ = self._append(text)
        if self._open is None:
            self._open = (start, path, page)

    def set_path(self, path: list[tuple[int, str]]) -> None:
        self.path = list(path)

    def text(self) -> str:
        """The whole text; fills ``sections`` (call once, at the end)."""
        self._close()
        text = "".join(self.parts)
        self.sections = [
            Section(text=text[start:end], heading_path=path, page=page, char_start=start, char_end=end)
            for start, end, path, page in self._spans
        ]
        return text


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- PDF ---------------------------------------------------------------------------------------


def _parse_pdf(data: bytes, limits: ParseLimits) -> tuple[str, str, list[Section], int]:
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
    builder = _Builder()
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
        title = _squash(str((reader.metadata or {}).get("/Title") or ""))
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
                title = _squash(str(item.title))
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


# --- DOCX --------------------------------------------------------------------------------------


def _check_zip(data: bytes, limits: ParseLimits) -> None:
    """Refuse zip and decompression bombs before anything inflates a byte."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ParseError("corrupt", "The Word document could not be opened: it looks damaged.") from None
    if len(infos) > limits.max_zip_entries:
        raise ParseError("bomb", "The Word document holds an unreasonable number of parts.")
    uncompressed = sum(info.file_size for info in infos)
    compressed = sum(info.compress_size for info in infos) or 1
    if uncompressed > limits.max_uncompressed_bytes:
        raise ParseError(
            "bomb",
            f"The Word document would expand to {uncompressed // (1024 * 1024)} MB; "
            f"the most we accept is {limits.max_uncompressed_bytes // (1024 * 1024)} MB.",
        )
    if uncompressed > 1024 * 1024 and uncompressed / compressed > limits.max_compression_ratio:
        raise ParseError("bomb", "The Word document expands to far more data than its size suggests.")


def _parse_docx(data: bytes, limits: ParseLimits) -> tuple[str, str, list[Section]]:
    _check_zip(data, limits)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise ParseError(
            "corrupt", f"The Word document could not be read: it looks damaged ({type(exc).__name__})."
        ) from None
    builder = _Builder()
    title = _squash(document.core_properties.title or "")
    first_heading = ""
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            level = _docx_heading_level(block)
            text = block.text
            if level is not None:
                if level == 0:  # the Title style sits above Heading 1
                    title = title or _squash(text)
                first_heading = first_heading or _squash(text)
                builder.heading(level, text)
            else:
                builder.paragraph(text)
        elif isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = _squash(cell.text)
                    if not cells or cells[-1] != value:  # merged cells repeat
                        cells.append(value)
                rows.append(" | ".join(cells))
            builder.paragraph("\n".join(rows))
    return title or first_heading, builder.text(), builder.sections


def _docx_heading_level(paragraph) -> int | None:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name == "Title":
        return 0
    match = re.match(r"Heading (\d)", name)
    return int(match.group(1)) if match else None


# --- HTML --------------------------------------------------------------------------------------

_DROP = ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas", "form", "nav"]
_BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption", "address"]
_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]


def _parse_html(text: str) -> tuple[str, str, list[Section]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")
    for tag in soup(_DROP):
        tag.decompose()
    title = _squash(soup.title.get_text()) if soup.title else ""
    root = soup.body or soup
    builder = _Builder()
    wanted = set(_BLOCKS) | set(_HEADINGS)
    found_any = False
    first_h1 = ""
    for element in root.find_all([*_HEADINGS, *_BLOCKS]):
        if any(parent.name in wanted for parent in element.parents):
            continue  # its text is taken with the enclosing block
        found_any = True
        if element.name in _HEADINGS:
            if element.name == "h1" and not first_h1:
                first_h1 = _squash(element.get_text(" "))
            builder.heading(int(element.name[1]), element.get_text(" "))
        elif element.name == "pre":
            builder.paragraph(element.get_text())
        else:
            builder.paragraph(_squash(element.get_text(" ")))
    if not found_any:
        for paragraph in re.split(r"\n\s*\n", root.get_text("\n")):
            builder.paragraph(paragraph)
    return title or first_h1, builder.text(), builder.sections


# --- Markdown ----------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_RAW_ACTIVE = re.compile(r"<(script|style|iframe|object|embed|template)\b.*?(</\1\s*>|\Z)", re.I | re.S)


def _front_matter(text: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        meta = None
    return (meta if isinstance(meta, dict) else {}), text[match.end() :]


def _parse_markdown(text: str) -> tuple[str, str, list[Section], dict]:
    from markdown_it import MarkdownIt

    meta, body = _front_matter(text)
    # Active HTML embedded in Markdown is never kept, even as text nobody renders.
    body = _RAW_ACTIVE.sub("", body).replace("\r\n", "\n")
    lines = body.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(line: int) -> int:
        return min(starts[min(line, len(lines))], len(body))

    tokens = MarkdownIt("commonmark").parse(body)
    headings: list[tuple[int, int, int, str]] = []  # (start line, end line, level, text)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            inline = tokens[index + 1]
            headings.append((token.map[0], token.map[1], int(token.tag[1]), _squash(_strip_inline(inline.content))))
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    boundaries = [(0, 0, None)] + [(h[0], h[1], h) for h in headings]
    for i, (_, body_start_line, heading) in enumerate(boundaries):
        if heading is not None:
            level, title = heading[2], heading[3]
            path = [(lvl, t) for lvl, t in path if lvl < level]
            path.append((level, title))
        end_line = boundaries[i + 1][0] if i + 1 < len(boundaries) else len(lines)
        start, end = offset(body_start_line), offset(end_line)
        chunk = body[start:end]
        stripped_start = start + (len(chunk) - len(chunk.lstrip()))
        stripped_end = start + len(chunk.rstrip())
        if stripped_end > stripped_start:
            sections.append(
                Section(
                    text=body[stripped_start:stripped_end],
                    heading_path=tuple(t for _, t in path),
                    char_start=stripped_start,
                    char_end=stripped_end,
                )
            )
    title = _squash(str(meta.get("title") or "")) if meta else ""
    if not title:
        title = next((h[3] for h in headings if h[2] == 1), "")
    safe_meta = {k: v for k, v in (meta or {}).items() if isinstance(v, str | int | float | bool)}
    return title, body, sections, safe_meta


def _strip_inline(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]+", "", text)


# --- Plain text --------------------------------------------------------------------------------

_NUMBERED = re.compile(r"^(\d+(\.\d+)*)\.?\s+\S.{0,100}$")
_UNDERLINE = re.compile(r"^(=+|-+)\s*$")


def _parse_text(text: str) -> tuple[str, str, list[Section]]:
    """Paragraphs under headings: a short numbered line ("3.2 Expenses") or an underlined line."""
    text = text.replace("\r\n", "\n")
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    title = ""
    block_start: int | None = None
    block_end = 0
    pos = 0
    lines = text.split("\n")

    def close(end: int) -> None:
        nonlocal block_start
        if block_start is not None:
            body = text[block_start:end].rstrip()
            if body.strip():
                sections.append(
                    Section(
                        text=body,
                        heading_path=tuple(t for _, t in path),
                        char_start=block_start,
                        char_end=block_start + len(body),
                    )
                )
        block_start = None

    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        prev_blank = i == 0 or not lines[i - 1].strip()
        level = None
        consumed = 1
        if line.strip() and _UNDERLINE.match(nxt) and len(nxt.strip()) >= 3 and len(line) <= 120:
            level = 0 if nxt.strip().startswith("=") else 1  # "=" marks a title, above "1 Scope"
            consumed = 2
        elif prev_blank and _NUMBERED.match(line.strip()) and not line.rstrip().endswith((".", ":", ";", ",")):
            level = line.strip().split()[0].rstrip(".").count(".") + 1
        if level is not None:
            close(pos)
            if level == 0 and not title:
                title = _squash(line)
            path = [(lvl, t) for lvl, t in path if lvl < level]
            path.append((level, _squash(line)))
            for _ in range(consumed):
                pos += len(lines[i]) + 1
                i += 1
            continue
        if line.strip() and block_start is None:
            block_start = pos
        pos += len(line) + 1
        block_end = pos
        i += 1
    close(min(block_end, len(text)))
    return title, text, sections


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
        title, text, sections, page_count = _parse_pdf(data, limits)
    elif kind == DOCX:
        title, text, sections = _parse_docx(data, limits)
    else:
        decoded = _decode(data)
        if len(decoded) > limits.max_text_chars:
            raise ParseError("too_large", "The file holds more text than we accept in one document.")
        if kind == HTML:
            title, text, sections = _parse_html(decoded)
        elif kind == MARKDOWN:
            title, text, sections, metadata = _parse_markdown(decoded)
        else:
            title, text, sections = _parse_text(decoded)
    if len(text) > limits.max_text_chars:
        raise ParseError("too_large", "The file holds more text than we accept in one document.")
    if not text.strip():
        hint = " It may be a scanned image: upload a version with real text." if kind == PDF else ""
        raise ParseError("no_text", f"No text could be found in the file.{hint}")
    title = title or _title_from_name(name)
    return ParsedDocument(
        title=title[:300],
        text=text,
        sections=sections,
        content_type=CONTENT_TYPES[kind],
        page_count=page_count,
        metadata=metadata,
    )


def _title_from_name(name: str) -> str:
    stem = PurePath(name).stem
    stem = re.sub(r"^\d+[-_ ]+", "", stem)
    return _squash(re.sub(r"[-_]+", " ", stem)).capitalize() or "Untitled"
