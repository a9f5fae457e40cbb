"""Plain text: paragraphs under numbered ("3.2 Expenses") or underlined headings."""

from __future__ import annotations

import re

from ..types import Section
from .base import squash

_NUMBERED = re.compile(r"^(\d+(\.\d+)*)\.?\s+\S.{0,100}$")
_UNDERLINE = re.compile(r"^(=+|-+)\s*$")


def parse_text(text: str) -> tuple[str, str, list[Section]]:
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
                title = squash(line)
            path = [(lvl, t) for lvl, t in path if lvl < level]
            path.append((level, squash(line)))
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
