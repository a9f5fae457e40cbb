"""Scanned PDF pages read by OCR: pypdfium2 draws the page, Tesseract (pytesseract) reads it (no Django).

``find_scans`` says which pages of a PDF are scans: pages whose text layer holds (almost) nothing
but that have something drawn on them, and pages mostly covered by pictures with no more text than
a header or a stamp. ``read_scans`` reads only those, one at a time, telling ``progress(done, total)``
after each. Every failure is a ``ParseError`` a curator or the service team can act on: Tesseract or
its language data not installed (naming the Debian packages), a page over its time limit, a page
whose pictures are far larger than any scan. Pages are drawn at ``OcrOptions.dpi`` but never with
more than ``max_render_pixels``, so a page's stated size cannot make us allocate without bound.
How it works and what it costs: docs/ocr.md.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from .base import OcrOptions, ParseError

#: Said after the page number wherever a passage from an OCR'd page is cited.
SCAN_NOTE = "text recognised from a scan"
#: Added when Tesseract was unsure of the page's words (``OcrOptions.min_confidence``).
UNSURE_NOTE = "hard to read, some words may be misread"
#: A text layer with fewer visible characters than this is no text layer (a page number, a stamp).
NO_TEXT_CHARS = 20
#: A page mostly covered by pictures whose text layer is shorter than this is a scan with a header on it.
STAMP_CHARS = 200
PICTURE_COVER = 0.5

Progress = Callable[[int, int], None]

_PACKAGES = "Debian's tesseract-ocr and tesseract-ocr-eng packages (`make ocr` installs them)"


def scan_prefix(number: int) -> str:
    """How every citation of scanned page ``number`` begins, sure or not."""
    return f"page {number} ({SCAN_NOTE}"


def scan_place(number: int, *, unsure: bool = False) -> str:
    """Where a passage read from scanned page ``number`` is, for citations; ``unsure``: Tesseract's
    confidence in the page's words was low, so the quote may hold misread words."""
    return scan_prefix(number) + (f", {UNSURE_NOTE}" if unsure else "") + ")"


@dataclass(frozen=True)
class ScanText:
    """What OCR read on one page: its text, and Tesseract's mean confidence in its words (0-100,
    each word weighted by its length; None when it found no words)."""

    text: str
    confidence: float | None = None

    def unsure(self, options: OcrOptions) -> bool:
        return self.confidence is not None and self.confidence < options.min_confidence


def visible_chars(text: str) -> int:
    return len(re.sub(r"\s+", "", text))


def _pdfium():
    try:
        import pypdfium2
    except ImportError:
        raise ParseError(
            "ocr_unavailable",
            "The PDF has scanned pages, and reading them needs the Python package pypdfium2, which is not "
            "installed on the server. Tell the service team.",
        ) from None
    return pypdfium2


def _open(data: bytes):
    pdfium = _pdfium()
    try:
        return pdfium.PdfDocument(data)
    except Exception:  # pdfium refuses some files pypdf reads
        raise ParseError("corrupt", "The PDF's scanned pages could not be drawn: it looks damaged.") from None


def find_scans(data: bytes, texts: list[str]) -> list[int]:
    """The indexes of the pages to read by OCR, given each page's text layer. A PDF that pypdf reads
    but PDFium cannot open keeps its text layer and is not read by OCR (its pages cannot be drawn);
    with no text layer either, it is refused as damaged."""
    candidates = [i for i, text in enumerate(texts) if visible_chars(text) < STAMP_CHARS]
    if not candidates:
        return []
    try:
        document = _open(data)
    except ParseError:
        if any(visible_chars(text) for text in texts):
            return []
        raise
    import pypdfium2.raw as pdfium_c

    try:
        return [i for i in candidates if _is_scan(document[i], visible_chars(texts[i]), pdfium_c)]
    finally:
        document.close()


def _is_scan(page, chars: int, pdfium_c) -> bool:
    if chars < NO_TEXT_CHARS:  # anything drawn at all: stop at the first picture or path
        drawn = (pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_SHADING)
        return next(iter(page.get_objects(filter=drawn)), None) is not None
    width, height = page.get_size()
    if width * height <= 0:
        return False
    covered = 0.0
    for item in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
        left, bottom, right, top = item.get_bounds()
        covered += max(0.0, min(right, width) - max(left, 0.0)) * max(0.0, min(top, height) - max(bottom, 0.0))
    return covered / (width * height) >= PICTURE_COVER


def _not_installed() -> ParseError:
    return ParseError(
        "ocr_unavailable",
        "The PDF has scanned pages (no text layer), and reading them needs Tesseract, which is not "
        f"installed on the server: the service team can install {_PACKAGES}, or switch OCR off.",
    )


def _tesseract(options: OcrOptions):
    """pytesseract, once Tesseract and every language asked for are known to be installed."""
    try:
        import pytesseract
    except ImportError:
        raise ParseError(
            "ocr_unavailable",
            "The PDF has scanned pages, and reading them needs the Python package pytesseract, which is not "
            "installed on the server. Tell the service team.",
        ) from None
    try:
        installed = set(pytesseract.get_languages(config=""))
    except pytesseract.TesseractNotFoundError:
        raise _not_installed() from None
    except (pytesseract.TesseractError, OSError) as exc:
        raise ParseError("ocr_unavailable", f"Tesseract, which reads scanned pages, did not start ({exc}).") from None
    missing = [lang for lang in options.languages.split("+") if lang and lang not in installed]
    if missing:
        packages = ", ".join(f"tesseract-ocr-{lang.lower().replace('_', '-')}" for lang in missing)
        raise ParseError(
            "ocr_unavailable",
            f"The PDF has scanned pages, and Tesseract has no language data for {', '.join(missing)}: the "
            f"service team can install Debian's {packages}, or change HUMPHREY_OCR_LANGUAGES.",
        )
    return pytesseract


def read_scans(
    data: bytes,
    scans: list[int],
    options: OcrOptions,
    *,
    budget: int,
    progress: Progress | None = None,
) -> dict[int, ScanText]:
    """What OCR read on each scanned page, by index, read in page order. ``budget`` is how many characters
    the document may still hold; OCR'd text counts toward it like any other."""
    if not scans:
        return {}
    pytesseract = _tesseract(options)
    document = _open(data)
    read: dict[int, ScanText] = {}
    try:
        with _one_thread(pytesseract):
            _read_each(document, scans, options, pytesseract, read, budget, progress)
    finally:
        document.close()
    return read


def _read_each(document, scans, options, pytesseract, read, budget, progress) -> None:
    if progress is not None:
        progress(0, len(scans))
    for done, index in enumerate(scans, start=1):
        page = _read_page(document[index], index + 1, options, pytesseract)
        budget -= len(page.text)
        if budget < 0:
            raise ParseError("too_large", "The PDF holds more text than we accept in one document.")
        read[index] = page
        if progress is not None:
            progress(done, len(scans))


@contextlib.contextmanager
def _one_thread(pytesseract):
    """Tesseract runs on one thread unless the worker's environment sets ``OMP_THREAD_LIMIT``: its
    OpenMP threads spin while they wait for each other, which on a small machine shared with the site
    costs far more time than it saves (docs/ocr.md has the measurements). Only Tesseract's own
    environment is changed (pytesseract hands ``pytesseract.pytesseract.environ`` to it), not the
    worker's, whose embedding libraries keep their threads."""
    module = pytesseract.pytesseract
    saved = getattr(module, "environ", None)
    if saved is None or "OMP_THREAD_LIMIT" in saved:
        yield
        return
    module.environ = {**saved, "OMP_THREAD_LIMIT": "1"}
    try:
        yield
    finally:
        module.environ = saved


def _read_page(page, number: int, options: OcrOptions, pytesseract) -> ScanText:
    image = _draw(page, number, options)
    try:
        found = pytesseract.image_to_data(
            image, lang=options.languages, timeout=options.page_timeout, output_type=pytesseract.Output.DICT
        )
    except RuntimeError as exc:
        if "timeout" not in str(exc).lower():
            raise
        raise ParseError(
            "ocr_timeout",
            f"Page {number} of the PDF is a scan that took longer than {options.page_timeout} seconds to read. "
            "Upload a clearer scan, fewer pages at a time, or a version with real text.",
        ) from None
    except pytesseract.TesseractNotFoundError:
        raise _not_installed() from None
    except pytesseract.TesseractError as exc:
        raise ParseError(
            "ocr_failed", f"Page {number} of the PDF could not be read by OCR (Tesseract: {str(exc)[:200]})."
        ) from None
    finally:
        image.close()
    return page_text(found)


def page_text(found: dict[str, list]) -> ScanText:
    """The page's text from Tesseract's word table (``image_to_data``), laid out as its plain text
    output is: a line's words joined by spaces, a paragraph's lines by line breaks, paragraphs and
    blocks by a blank line; and the mean confidence of its words."""
    paragraphs: dict[tuple[int, int], dict[int, list[str]]] = {}
    weighted = length = 0.0
    for i, word in enumerate(found.get("text", [])):
        word = str(word).strip()
        if not word:
            continue
        paragraph = (int(found["block_num"][i]), int(found["par_num"][i]))
        paragraphs.setdefault(paragraph, {}).setdefault(int(found["line_num"][i]), []).append(word)
        confidence = float(found["conf"][i])
        if confidence >= 0:  # -1: not a word Tesseract scored
            weighted += confidence * len(word)
            length += len(word)
    text = "\n\n".join("\n".join(" ".join(words) for words in lines.values()) for lines in paragraphs.values())
    return ScanText(text, round(weighted / length, 1) if length else None)


def _draw(page, number: int, options: OcrOptions):
    """The page as a greyscale picture at the configured resolution, or smaller for an outsized page."""
    import pypdfium2.raw as pdfium_c

    pixels = 0
    for item in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
        width, height = item.get_px_size()
        pixels += width * height
    if pixels > options.max_image_pixels:
        raise ParseError(
            "bomb",
            f"Page {number} of the PDF holds pictures of {pixels // 1_000_000} million pixels, far more than "
            "a scanned page needs; we do not read it.",
        )
    width, height = page.get_size()
    scale = options.dpi / 72
    # pdfium rounds each side up to whole pixels: shrink until the rounded picture fits too.
    while math.ceil(width * scale) * math.ceil(height * scale) > options.max_render_pixels:
        scale = min(scale * 0.999, (options.max_render_pixels / (width * height)) ** 0.5)
    try:
        image = page.render(scale=scale, grayscale=True).to_pil()
    except Exception:  # pdfium raises its own error types for pages it cannot draw
        raise ParseError("corrupt", f"Page {number} of the PDF could not be drawn: it looks damaged.") from None
    # pytesseract hands Tesseract a file in the picture's format; uncompressed is quicker to write and read.
    image.format = "PPM"
    return image
