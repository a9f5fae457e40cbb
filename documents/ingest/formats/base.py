"""What every format's reader shares: the refusal, the limits, and building text with sections."""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from dataclasses import dataclass

from ..types import Section


class ParseError(Exception):
    """A file we will not ingest; ``message`` is plain English for the curator."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class OcrOptions:
    """How scanned PDF pages are read (``formats.ocr``). The service fills these from settings."""

    enabled: bool = True
    #: Tesseract's language packs, "+" separated ("eng", "eng+cym"); Debian's tesseract-ocr-<lang>.
    languages: str = "eng"
    dpi: int = 300
    #: Seconds Tesseract may spend on one page before the file is refused.
    page_timeout: int = 120
    #: The most pixels a page is drawn with: a page larger than A3 is drawn at a lower resolution
    #: rather than at any size its dimensions ask for.
    max_render_pixels: int = 40_000_000
    #: The most pixels the pictures on one page may hold (each is decoded to draw the page).
    max_image_pixels: int = 180_000_000
    #: Below this mean word confidence (Tesseract's, 0-100) a page's citations say it was hard to read.
    min_confidence: int = 70


@dataclass(frozen=True)
class ParseLimits:
    """What one file may cost us. The service fills these from settings."""

    max_bytes: int = 25 * 1024 * 1024
    max_pages: int = 500
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: int = 100
    max_zip_entries: int = 5_000
    max_text_chars: int = 5_000_000
    # Spreadsheets, decks and messages (their own caps: a table's cost is its cells, not its bytes).
    max_slides: int = 1_000
    max_sheets: int = 200
    max_rows: int = 200_000
    max_columns: int = 256
    max_cells: int = 2_000_000
    max_attachments: int = 50
    ocr: OcrOptions = OcrOptions()


def check_zip(data: bytes, limits: ParseLimits, what: str) -> list[zipfile.ZipInfo]:
    """Refuse zip and decompression bombs before anything inflates a byte; ``what`` names the file
    for the curator ("The workbook"). Returns the archive's entries."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ParseError("corrupt", f"{what} could not be opened: it looks damaged.") from None
    if len(infos) > limits.max_zip_entries:
        raise ParseError("bomb", f"{what} holds an unreasonable number of parts.")
    uncompressed = sum(info.file_size for info in infos)
    compressed = sum(info.compress_size for info in infos) or 1
    if uncompressed > limits.max_uncompressed_bytes:
        raise ParseError(
            "bomb",
            f"{what} would expand to {uncompressed // (1024 * 1024)} MB; "
            f"the most we accept is {limits.max_uncompressed_bytes // (1024 * 1024)} MB.",
        )
    if uncompressed > 1024 * 1024 and uncompressed / compressed > limits.max_compression_ratio:
        raise ParseError("bomb", f"{what} expands to far more data than its size suggests.")
    return infos


def safe_xml(data: bytes):
    """Parse XML from inside a file without DTDs, entities or the network (lxml)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser=parser)


class Builder:
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
        text = squash(text)
        if not text:
            return
        self._close()
        self.path = [(lvl, t) for lvl, t in self.path if lvl < level]
        self.path.append((level, text))
        # Written as Markdown writes it ("## 2. What you cannot claim"), as a Markdown file's own headings
        # are kept: a heading inside a chunk is then known as one (never quoted as a sentence, and the
        # section label of what follows it), whatever format the document came in.
        self._append("#" * max(1, min(level, 6)) + " " + text)

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


def squash(text: str) -> str:
    """Runs of whitespace as one space, trimmed."""
    return re.sub(r"\s+", " ", text).strip()


class PlacedBuilder(Builder):
    """A ``Builder`` whose sections also say where they are when the format's unit is not a page
    ("slide 4", "sheet Rates"): a new place always starts a new section."""

    def __init__(self) -> None:
        super().__init__()
        self.place = ""
        self._places: list[str] = []

    def _close(self) -> None:
        before = len(self._spans)
        super()._close()
        if len(self._spans) > before:
            self._places.append(self.place)

    def at(self, place: str) -> None:
        """What follows is at ``place``."""
        if place != self.place:
            self._close()
            self.place = place

    def text(self) -> str:
        text = super().text()
        self.sections = [
            dataclasses.replace(section, place=place)
            for section, place in zip(self.sections, self._places, strict=True)
        ]
        return text
