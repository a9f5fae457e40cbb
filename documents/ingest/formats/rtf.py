"""Rich Text Format (striprtf): the text, with pictures, embedded objects (``\\object``, ``\\objdata``),
fields' instructions, headers, footers and comments dropped; then read as plain text
(``documents.ingest.formats.plain``: numbered or underlined headings), since RTF carries its
headings as formatting, not structure."""

from __future__ import annotations

from ..types import Section
from .base import ParseError, ParseLimits
from .plain import parse_text


def parse_rtf(data: bytes, limits: ParseLimits) -> tuple[str, str, list[Section]]:
    from striprtf.striprtf import rtf_to_text

    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        source = data.decode("cp1252", errors="replace")  # RTF is 7-bit; stray bytes are Windows text
    try:
        text = rtf_to_text(source, encoding="cp1252", errors="replace")
    except Exception:  # a damaged file: unbalanced groups, bad escapes
        raise ParseError("corrupt", "The RTF file could not be read: it looks damaged.") from None
    if len(text) > limits.max_text_chars:
        raise ParseError("too_large", "The file holds more text than we accept in one document.")
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return parse_text(text)
