"""OpenDocument text (.odt): read from its zip and XML directly (lxml, no DTDs, entities or network),
after the same zip-bomb checks as every zip-based format. Headings (``text:h`` with their outline
level) make the heading path; paragraphs, list items and tables (each row with its header:
``documents.ingest.formats.table``) are the text. Frames, images, embedded objects, annotations and
tracked deletions are never read; a password-protected file is refused.
"""

from __future__ import annotations

import io
import zipfile

from ..types import Section
from .base import Builder, ParseError, ParseLimits, check_zip, safe_xml, squash
from .table import cell_text, table_lines

ODT_MIMETYPE = "application/vnd.oasis.opendocument.text"

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
}
_TEXT = "{" + _NS["text"] + "}"
_TABLE = "{" + _NS["table"] + "}"
# Never read: where text is not the document's own body (or is not text at all).
_SKIP = {
    _TEXT + "note",  # footnotes and endnotes
    _TEXT + "tracked-changes",
    _TEXT + "sequence-decls",
    _TEXT + "variable-decls",
    _TEXT + "user-field-decls",
    _TEXT + "table-of-content",
    "{" + _NS["office"] + "}annotation",
    "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}frame",
    "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}object",
}
_PART_MAX_BYTES = 50 * 1024 * 1024


def is_odt(archive: zipfile.ZipFile) -> bool:
    """Whether the zip is an OpenDocument text file (its ``mimetype`` entry says so)."""
    try:
        info = archive.getinfo("mimetype")
        if info.file_size > 200:
            return False
        return archive.read(info).strip() == ODT_MIMETYPE.encode()
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, RuntimeError):
        return False


def _read(archive: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _PART_MAX_BYTES:
        raise ParseError("too_large", "The OpenDocument file's text part is larger than we accept.")
    with archive.open(info) as handle:
        return handle.read(_PART_MAX_BYTES + 1)


def parse_odt(data: bytes, limits: ParseLimits) -> tuple[str, str, list[Section]]:
    check_zip(data, limits, "The OpenDocument file")
    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = _read(archive, "META-INF/manifest.xml") or b""
            if b"encryption-data" in manifest:
                raise ParseError(
                    "encrypted", "The OpenDocument file is password-protected. Upload a copy saved without a password."
                )
            content = _read(archive, "content.xml")
            meta = _read(archive, "meta.xml")
    except ParseError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError):
        raise ParseError("corrupt", "The OpenDocument file could not be opened: it looks damaged.") from None
    if content is None:
        raise ParseError("corrupt", "The OpenDocument file has no text part (content.xml).")
    try:
        root = safe_xml(content)
    except etree.XMLSyntaxError:
        raise ParseError("corrupt", "The OpenDocument file's text could not be read: it looks damaged.") from None
    body = root.find("office:body/office:text", _NS)
    if body is None:
        raise ParseError("corrupt", "The OpenDocument file holds no text document.")
    builder = Builder()
    state = {"first_heading": ""}
    _walk(body, builder, state, limits, depth=0)
    title = ""
    if meta:
        try:
            found = safe_xml(meta).find(".//dc:title", _NS)
            title = squash(found.text or "") if found is not None else ""
        except etree.XMLSyntaxError:
            title = ""
    return title or state["first_heading"], builder.text(), builder.sections


def _inline(element, depth: int = 0) -> str:
    """The text of a paragraph or heading: spans, links, spaces, tabs and line breaks, nothing skipped."""
    parts: list[str] = [element.text or ""]
    for child in element:
        if not isinstance(child.tag, str) or child.tag in _SKIP:
            pass
        elif child.tag == _TEXT + "s":
            parts.append(" " * min(int(child.get(_TEXT + "c", "1") or 1), 100))
        elif child.tag in (_TEXT + "tab", _TEXT + "line-break"):
            parts.append(" ")
        elif depth < 50:
            parts.append(_inline(child, depth + 1))
        parts.append(child.tail or "")
    return "".join(parts)


def _walk(element, builder: Builder, state: dict, limits: ParseLimits, depth: int) -> None:
    if depth > 50:
        return
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIP:
            continue
        if tag == _TEXT + "h":
            level = int(child.get(_TEXT + "outline-level", "1") or 1)
            text = squash(_inline(child))
            state["first_heading"] = state["first_heading"] or text
            builder.heading(max(1, min(level, 9)), text)
        elif tag == _TEXT + "p":
            builder.paragraph(squash(_inline(child)))
        elif tag == _TEXT + "list":
            lines: list[str] = []
            _list_lines(child, lines, 0)
            builder.paragraph("\n".join(lines))
        elif tag == _TABLE + "table":
            builder.paragraph("\n".join(_table_lines(child, limits)))
        else:  # sections, index bodies and other containers: their paragraphs in order
            _walk(child, builder, state, limits, depth + 1)


def _list_lines(element, lines: list[str], depth: int) -> None:
    if depth > 20:
        return
    for item in element:
        if item.tag not in (_TEXT + "list-item", _TEXT + "list-header"):
            continue
        for child in item:
            if child.tag in (_TEXT + "p", _TEXT + "h"):
                text = squash(_inline(child))
                if text:
                    lines.append("  " * depth + "- " + text)
            elif child.tag == _TEXT + "list":
                _list_lines(child, lines, depth + 1)


def _table_lines(table, limits: ParseLimits) -> list[str]:
    rows: list[list[str]] = []
    for row in table.iter(_TABLE + "table-row"):
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (_TABLE + "table-cell", _TABLE + "covered-table-cell"):
                continue
            text = " ".join(squash(_inline(p)) for p in cell.iter(_TEXT + "p", _TEXT + "h"))
            repeat = min(int(cell.get(_TABLE + "number-columns-repeated", "1") or 1), limits.max_columns)
            cells.extend([cell_text(text)] * repeat)
            if len(cells) >= limits.max_columns:
                break
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            rows.append(cells)
        if len(rows) > limits.max_rows:
            raise ParseError(
                "too_large", f"A table has more than {limits.max_rows:,} rows; that is the most we accept."
            )
    return table_lines(rows)
