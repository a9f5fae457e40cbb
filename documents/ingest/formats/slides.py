"""PowerPoint decks (python-pptx): each slide is a section ("slide 4"), its title the heading; the
text of its shapes in reading order, its tables row by row with their header
(``documents.ingest.formats.table``), and its speaker notes, marked as notes.

A deck is a zip, checked for bombs before anything inflates; slides are capped (``ParseLimits``).
Only text is read: pictures, media, charts' data and embedded objects (OLE packages, other files)
are never opened, and a macro-enabled deck is refused (``parse.py``).
"""

from __future__ import annotations

import io

from ..types import Section
from .base import ParseError, ParseLimits, PlacedBuilder, check_zip, squash
from .table import cell_text, table_lines


def parse_pptx(data: bytes, limits: ParseLimits) -> tuple[str, str, list[Section], int]:
    check_zip(data, limits, "The presentation")
    from pptx import Presentation

    try:
        deck = Presentation(io.BytesIO(data))
        slides = list(deck.slides)
    except Exception:  # python-pptx raises many types for damaged files
        raise ParseError("corrupt", "The presentation could not be read: it looks damaged.") from None
    if len(slides) > limits.max_slides:
        raise ParseError(
            "too_many_pages", f"The presentation has {len(slides)} slides; the most we accept is {limits.max_slides}."
        )
    builder = PlacedBuilder()
    first_title = ""
    for number, slide in enumerate(slides, start=1):
        try:
            title_shape = slide.shapes.title
            title = (
                squash(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
            )
            builder.at(f"slide {number}")
            builder.set_path([])
            if title:
                builder.heading(1, title)
            first_title = first_title or title
            for shape in _reading_order(slide.shapes):
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                _shape_text(builder, shape)
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame
                text = notes.text.strip() if notes is not None else ""
                if text:
                    builder.paragraph("Speaker notes: " + text)
        except ParseError:
            raise
        except Exception:
            raise ParseError(
                "corrupt", f"Slide {number} of the presentation could not be read: it looks damaged."
            ) from None
    title = squash(deck.core_properties.title or "")
    return title or first_title, builder.text(), builder.sections, len(slides)


def _reading_order(shapes) -> list:
    """Top to bottom, then left to right (placeholders without a position keep their order)."""
    indexed = list(enumerate(shapes))
    indexed.sort(key=lambda item: ((item[1].top or 0) // 50_000, item[1].left or 0, item[0]))
    return [shape for _, shape in indexed]


def _shape_text(builder: PlacedBuilder, shape, depth: int = 0) -> None:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if depth > 20:
        return
    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for inner in _reading_order(shape.shapes):
            _shape_text(builder, inner, depth + 1)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell_text(cell.text) for cell in row.cells] for row in shape.table.rows]
        lines = table_lines(rows)
        if lines:
            builder.paragraph("\n".join(lines))
        return
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        lines = [(paragraph.level, squash(paragraph.text)) for paragraph in shape.text_frame.paragraphs]
        lines = [(level, text) for level, text in lines if text]
        if len(lines) == 1:
            builder.paragraph(lines[0][1])
        elif lines:  # a slide's lines are points: each one item (indented by its level)
            builder.paragraph("\n".join("  " * min(level, 8) + "- " + text for level, text in lines))
