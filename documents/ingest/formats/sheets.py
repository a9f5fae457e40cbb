"""Spreadsheets: Excel workbooks (openpyxl) and CSV (the standard library), a sheet and its rows.

Each sheet is a section ("sheet Rates"); each row is one line with its header beside every value
(``documents.ingest.formats.table``), so "Mileage rate | 45p" stays one fact and a chunk never ends
inside a row. The header is the first row with two or more values; single values above it (a title,
a note) are kept as lines of their own.

A workbook is opened read-only with the values Excel last saved (``data_only``): formulas are never
evaluated and macros never run or kept (a macro-enabled workbook is refused: ``parse.py``). A
workbook is a zip, checked for bombs before anything inflates; sheets, rows, columns and cells are
capped (``ParseLimits``). A CSV's dialect (comma, semicolon, tab or bar) is sniffed from its start.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from ..types import Section
from .base import ParseError, ParseLimits, PlacedBuilder, check_zip, squash
from .table import cell_text, header_names, row_lines


class _Table:
    """Rows of one sheet into lines: a header once seen, each row with it."""

    def __init__(self, builder: PlacedBuilder, limits: ParseLimits, counts: dict[str, int]) -> None:
        self.builder = builder
        self.limits = limits
        self.counts = counts
        self.header: list[str] | None = None
        self.lines: list[str] = []

    def row(self, cells: list[str]) -> None:
        while cells and not cells[-1]:
            cells.pop()
        filled = sum(1 for c in cells if c)
        if not filled:
            return
        self.counts["rows"] += 1
        self.counts["cells"] += filled
        if self.counts["rows"] > self.limits.max_rows:
            raise ParseError(
                "too_large", f"The file has more than {self.limits.max_rows:,} rows; that is the most we accept."
            )
        if self.counts["cells"] > self.limits.max_cells:
            raise ParseError(
                "too_large",
                f"The file has more than {self.limits.max_cells:,} filled cells; that is the most we accept.",
            )
        if self.header is None:
            if filled >= 2:
                self.header = header_names(cells)
                self.lines.append(" | ".join(c for c in cells if c))
            else:  # a title or note above the table
                self.lines.append(next(c for c in cells if c))
            return
        self.lines.extend(row_lines(self.header, cells))

    def flush(self) -> None:
        if self.lines:
            self.builder.paragraph("\n".join(self.lines))
        self.lines = []


def _value(cell) -> str:
    value = cell.value if hasattr(cell, "value") else cell
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | float):
        number_format = str(getattr(cell, "number_format", "") or "")
        if "%" in number_format:
            return f"{value * 100:g}%"
        text = (
            f"{value:,.2f}" if "0.00" in number_format else (f"{value:g}" if isinstance(value, float) else str(value))
        )
        for symbol in ("£", "€", "$"):
            if symbol in number_format:
                return symbol + text
        return text
    return cell_text(value)


def parse_xlsx(data: bytes, limits: ParseLimits) -> tuple[str, str, list[Section]]:
    check_zip(data, limits, "The workbook")
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_vba=False, keep_links=False)
    except Exception:  # openpyxl raises many types for damaged files
        raise ParseError("corrupt", "The workbook could not be read: it looks damaged.") from None
    try:
        sheets = workbook.worksheets
        if len(sheets) > limits.max_sheets:
            raise ParseError(
                "too_large", f"The workbook has {len(sheets)} sheets; the most we accept is {limits.max_sheets}."
            )
        builder = PlacedBuilder()
        counts = {"rows": 0, "cells": 0}
        for sheet in sheets:
            if getattr(sheet, "sheet_state", "visible") != "visible":
                continue  # hidden sheets are working, not guidance
            name = squash(sheet.title) or "Sheet"
            builder.at(f"sheet {name}")
            builder.heading(1, name)
            table = _Table(builder, limits, counts)
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()  # a sheet's stated size may be wrong: read the rows there are
            try:
                for row in sheet.iter_rows(max_col=limits.max_columns):
                    table.row([_value(cell) for cell in row])
            except ParseError:
                raise
            except Exception:
                raise ParseError("corrupt", f"The sheet {name!r} could not be read: it looks damaged.") from None
            table.flush()
        title = squash(workbook.properties.title or "") if workbook.properties else ""
    finally:
        workbook.close()
    return title, builder.text(), builder.sections


_DELIMITERS = ",;\t|"


def parse_csv(text: str, limits: ParseLimits) -> tuple[str, str, list[Section]]:
    sample = text[: 64 * 1024]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        dialect = csv.excel  # one column, or too irregular to tell: commas
    builder = PlacedBuilder()
    table = _Table(builder, limits, {"rows": 0, "cells": 0})
    try:
        for row in csv.reader(io.StringIO(text, newline=""), dialect):
            if len(row) > limits.max_columns:
                raise ParseError(
                    "too_large", f"A row has {len(row)} columns; the most we accept is {limits.max_columns}."
                )
            table.row([cell_text(value) for value in row])
    except csv.Error as exc:
        raise ParseError("corrupt", f"The CSV file could not be read ({exc}).") from None
    table.flush()
    return "", builder.text(), builder.sections
