"""Word documents (python-docx): paragraphs under their heading styles, and tables row by row, each row
with its header (``documents.ingest.formats.table``), as other formats' tables; and the
document's own review date, from a custom property (``docx_review_by``).

A .docx is a zip: it is checked for zip and decompression bombs before anything inflates.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

from ..types import Section, is_review_date_name, review_date_value
from .base import Builder, ParseError, ParseLimits, check_zip, squash
from .table import cell_text, table_lines


def parse_docx(data: bytes, limits: ParseLimits) -> tuple[str, str, list[Section]]:
    check_zip(data, limits, "The Word document")
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception:
        raise ParseError("corrupt", "The Word document could not be read: it looks damaged.") from None
    builder = Builder()
    title = squash(document.core_properties.title or "")
    first_heading = ""
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            level = _docx_heading_level(block)
            text = block.text
            if level is not None:
                if level == 0:  # the Title style sits above Heading 1
                    title = title or squash(text)
                first_heading = first_heading or squash(text)
                builder.heading(level, text)
            elif _is_list_item(block) and text.strip():
                builder.paragraph("- " + text.strip())  # a list item, known as one (as in a web page)
            else:
                builder.paragraph(text)
        elif isinstance(block, Table):
            lines = table_lines([_row_cells(row) for row in block.rows])
            if lines:
                builder.paragraph("\n".join(lines))
    return title or first_heading, builder.text(), builder.sections


def _row_cells(row) -> list[str]:
    """A table row's cell texts; a merged cell, which python-docx repeats in each column it spans,
    counts once (the columns it covers are left empty, so each value keeps its own header)."""
    cells: list[str] = []
    previous = None
    for cell in row.cells:
        cells.append("" if cell._tc is previous else cell_text(cell.text))
        previous = cell._tc
    return cells


def _is_list_item(paragraph) -> bool:
    """A bullet or numbered paragraph: Word's list styles, or numbering set on the paragraph itself."""
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.startswith("List"):
        return True
    properties = paragraph._p.pPr
    return properties is not None and properties.numPr is not None


def _docx_heading_level(paragraph) -> int | None:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name == "Title":
        return 0
    match = re.match(r"Heading (\d)", name)
    return int(match.group(1)) if match else None


_CUSTOM_PROPERTIES = "docProps/custom.xml"
_CUSTOM_PROPERTIES_MAX_BYTES = 1024 * 1024  # a few properties; anything bigger is not a review date


def docx_review_by(data: bytes, limits: ParseLimits) -> dt.date | None:
    """The review date in a Word document's custom properties (File > Info > Properties > Advanced >
    Custom: "review_by", "Review by" or "ReviewDate", as a date or ISO text), or None.

    Core properties have no review field, so it is read from ``docProps/custom.xml``: after the same
    zip checks as the text, only if that part is small, and parsed without DTDs, entities or network.
    A document whose properties cannot be read simply has no date from the file."""
    check_zip(data, limits, "The Word document")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            try:
                info = archive.getinfo(_CUSTOM_PROPERTIES)
            except KeyError:
                return None
            if info.file_size > _CUSTOM_PROPERTIES_MAX_BYTES:
                return None
            with archive.open(info) as handle:
                xml = handle.read(_CUSTOM_PROPERTIES_MAX_BYTES + 1)
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError):
        return None
    if len(xml) > _CUSTOM_PROPERTIES_MAX_BYTES:
        return None
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError:
        return None
    for prop in root:
        if not isinstance(prop.tag, str) or etree.QName(prop).localname != "property":
            continue
        if not is_review_date_name(prop.get("name", "")):
            continue
        for value in prop:
            day = review_date_value((value.text or "").strip())
            if day is not None:
                return day
    return None
