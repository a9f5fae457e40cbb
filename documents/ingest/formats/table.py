"""Table rows as self-contained lines: each row kept with its header, never cut by the chunker.

A spreadsheet's row means nothing without its header ("45p" of what?), so every row becomes one line
that carries the header beside each value::

    - Item: Mileage rate | Rate: 45p | Applies to: first 10,000 miles

A line is a list item for ``documents.ingest.units`` (one answer unit, quoted whole) and shorter than
``documents.ingest.chunk.CHUNK_SIZE``, and rows are separated by newlines, so the chunker (which cuts
at blank lines, then at newlines, and only cuts inside a line longer than a chunk) never cuts a row.
A row too long for one line goes on in further lines that each start with the row's first value
("- Item: Mileage rate (continued) | Notes: ..."), so each line is still one fact with its key.
"""

from __future__ import annotations

import re

#: The longest a row's line may be: well under the chunk size (1100), so a line is never cut.
ROW_MAX_CHARS = 900
_WORD_CUT = re.compile(r"\S+\s*")


def cell_text(value: object) -> str:
    """A cell's value as one line of text."""
    if value is None:
        return ""
    return re.sub(r"\s+", " ", str(value)).strip()


def header_names(cells: list[str]) -> list[str]:
    """A header row's names; an empty header cell is named by its column ("Column C")."""
    return [name or f"Column {column_letter(i)}" for i, name in enumerate(cells)]


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _pieces(text: str, limit: int) -> list[str]:
    """``text`` cut at spaces into pieces of at most ``limit`` characters (a word longer than that is cut)."""
    pieces: list[str] = []
    current = ""
    for match in _WORD_CUT.finditer(text):
        word = match.group(0)
        while len(word) > limit:
            if current:
                pieces.append(current.rstrip())
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        if len(current) + len(word) > limit:
            pieces.append(current.rstrip())
            current = ""
        current += word
    if current.strip():
        pieces.append(current.rstrip())
    return pieces


def row_lines(header: list[str] | None, cells: list[str], *, max_chars: int = ROW_MAX_CHARS) -> list[str]:
    """One row as line(s) "- Header: value | Header: value"; empty cells are left out. Without a
    header the values alone. More than one line only if the row is longer than ``max_chars``."""
    fields: list[str] = []
    for i, value in enumerate(cells):
        if not value:
            continue
        if header is not None:
            name = header[i] if i < len(header) else f"Column {column_letter(i)}"
            fields.append(f"{name}: {value}" if name != value else value)
        else:
            fields.append(value)
    if not fields:
        return []
    line = "- " + " | ".join(fields)
    if len(line) <= max_chars:
        return [line]
    key = fields[0] if len(fields[0]) <= max_chars // 3 else fields[0][: max_chars // 3].rstrip() + "…"
    lead = f"- {key} (continued) | "
    room = max_chars - len(lead)
    if len(fields) == 1:  # one long value: its first piece, then the rest each under the key
        parts = _pieces(fields[0], room)
        return ["- " + parts[0], *(lead + part for part in parts[1:])]
    parts: list[str] = []
    for field_ in fields[1:]:
        parts.extend(_pieces(field_, room))
    lines = ["- " + key]
    for part in parts:
        candidate = lines[-1] + " | " + part
        if len(candidate) <= max_chars:
            lines[-1] = candidate
        else:
            lines.append(lead + part)
    return lines


def table_lines(rows: list[list[str]]) -> list[str]:
    """A table (its rows' cell texts, the first row its header) as lines: the header row's names, then
    each row as ``row_lines`` with them. A table of one row is its values alone."""
    rows = [row for row in rows if any(row)]
    if len(rows) < 2:
        return [line for row in rows for line in row_lines(None, row)]
    header = header_names(rows[0])
    lines = [" | ".join(c for c in rows[0] if c)]
    for row in rows[1:]:
        lines.extend(row_lines(header, row))
    return lines
