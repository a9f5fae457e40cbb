"""``chunks|ocr_pages``: the pages of a version whose text was recognised from a scan (OCR), and
``chunks|ocr_unsure_pages``: those of them Tesseract found hard to read.

Read from the chunks' anchors (``documents.ingest.formats.ocr.scan_place``), which is all a version
keeps of how its pages were read; a scanned page on which OCR found nothing has no chunk and is not
counted. The chunks are the ones the page lists anyway, so this costs no query of its own.
"""

from __future__ import annotations

from django import template

from ..ingest.formats.ocr import scan_place, scan_prefix

register = template.Library()


@register.filter
def ocr_pages(chunks) -> list[int]:
    return sorted({c.page for c in chunks if c.page is not None and c.anchor.startswith(scan_prefix(c.page))})


@register.filter
def ocr_unsure_pages(chunks) -> list[int]:
    return sorted(
        {c.page for c in chunks if c.page is not None and c.anchor.startswith(scan_place(c.page, unsure=True))}
    )
