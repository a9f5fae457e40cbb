"""Cut a chunk's text into answer units: sentences, whole list items and whole table rows.

Plain Python (no Django imports). The answer pipeline scores units, not whole passages: the
extractive answerer quotes the units that answer, the coverage gate asks whether any unit is about
the question, and the claim check finds the units that support a model's sentence. So that no
question has to embed them, each unit's vector is made at ingestion from ``embed_text``.

A unit is an exact slice ``text[start:end]``. A list item or table row is never cut (a table row
means nothing without its header, so the header row is its ``context``); a list item's context is
the line that introduces the list; a sentence that leans on the one before ("This means...",
"It must...") has that sentence as its context. A quoted unit is shown after its context.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

SENTENCE = "sentence"
ITEM = "item"
ROW = "row"
HEADER = "header"  # a table's header row: context for its rows, never quoted alone
HEADING = "heading"  # a heading line inside a chunk: never quoted
QUOTABLE = (SENTENCE, ITEM, ROW)  # what an answer may quote

# Which cutting rule a chunk's stored units came from (``Chunk.units_rule``). Raise it with any change
# to what ``split_units`` returns: chunks stamped lower are cut again by the worker after the upgrade
# (``documents.ingest.reembed.chunks_recut``), so no operator has to know the release changed it.
RULE = 1

MAX_UNIT_CHARS = 700  # a longer sentence (a run-on paragraph) is still one unit, cut here for embedding

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+\S")
_ROW = re.compile(r"^\s*\|.*\|\s*$")
_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_ITEM = re.compile(r"^\s*(?:[-*+•‣◦▪●–—]|\d{1,3}[.)]|\(?[a-zA-Z0-9]{1,3}\)|[a-z][.)])\s+\S")
_QUOTE = re.compile(r"^\s*>\s?")
_END = re.compile(r"[.!?:;…][\"'’”)\]]*\s*$")
# A sentence ends at . ! ? (and closing quotes or brackets) before a space and a capital, digit or quote.
_BREAK = re.compile(r"(?<=[.!?])[\"'’”)\]]*\s+(?=[\"'‘“(]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    """e.g i.e etc vs cf mr mrs ms dr st no nos para paras fig approx inc ltd co dept govt min max sec
    art ch p pp vol ed eds est al jan feb mar apr jun jul aug sep sept oct nov dec""".split()  # noqa: SIM905 - a word list reads best as words
)
_LEANS_BACK = re.compile(
    r"^(this|these|that|those|it|its|they|them|their|such|however|but|also|otherwise|then|therefore|"
    r"thus|so|if so|if not|in this case|in that case|in these cases|here|there|the same|both|either|"
    r"neither|each of these|for example|for instance|e\.g\.|this means|which)\b",
    re.IGNORECASE,
)


# A document's furniture, not its guidance: a version, date or page line, a marking, or a sentence that
# is only a name ("Department for Digital Examples (DDE)."). Under a document's title its vector is
# mostly the title's, so it looks like an answer to any question about the document's subject.
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december)"
_FURNITURE = re.compile(
    rf"^(version|issue|v)\s*\d[\d.]*(\s*[,;(-]?\s*((\d{{1,2}}(st|nd|rd|th)?\s+)?{_MONTH}\s+\d{{4}}|[\d-]{{8,10}})\)?)?$"
    r"|^(published|updated|last updated|first published|issued|effective from|review date|next review|date of issue)"
    rf"\b[:\s]*(on\s+)?(\d|{_MONTH}).{{0,40}}$"
    r"|^page \d+( of \d+)?$"
    rf"|^(\d{{1,2}}(st|nd|rd|th)?\s+)?{_MONTH}\s+\d{{4}}$"
    r"|^(OFFICIAL|OFFICIAL-SENSITIVE|SECRET|TOP SECRET|UNCLASSIFIED)$",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"^(\(?[A-Z][\w&’'.-]*\)?|for|of|and|the|on|in|at|to|&)$")
# A capitalised first word that makes a name-like sentence an instruction: "Contact HR Operations."
_COMMANDS = frozenset(
    "ask call check contact email go phone read report ring see speak talk use visit write".split()  # noqa: SIM905
)


@functools.lru_cache(maxsize=8192)  # asked of every unit scored for every question: the same texts again
def furniture(text: str) -> bool:
    """Whether a sentence is a document's furniture (a version, date or page line, a marking, a name
    alone), which an answer never quotes."""
    sentence = text.strip().rstrip(".").strip()
    words = sentence.replace(",", " ").split()
    if not words or len(words) > 12:
        return False
    if _FURNITURE.match(sentence):
        return True
    return (
        len(words) >= 2
        and words[0].casefold() not in _COMMANDS
        and all(_NAME_WORD.match(w) for w in words)
        and words[0][0].isupper()
    )


@dataclass(frozen=True)
class Unit:
    """``text[start:end]`` of the chunk; ``context`` is the index of the unit to show before it, or -1."""

    start: int
    end: int
    kind: str
    context: int = -1

    def as_list(self) -> list:
        return [self.start, self.end, self.kind, self.context]

    @classmethod
    def from_list(cls, value: list) -> Unit:
        return cls(int(value[0]), int(value[1]), str(value[2]), int(value[3]))


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line, without its newline."""
    spans, start = [], 0
    for match in re.finditer(r"\n", text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside ``text[start:end]`` (a paragraph), abbreviations and decimals kept whole."""
    spans, begin = [], start
    for match in _BREAK.finditer(text, start, end):
        before = text[begin : match.start()].rstrip("\"'’”)]")
        word = re.search(r"([A-Za-z][A-Za-z.]*)\.$", before)
        if word and (word.group(1).lower().rstrip(".") in _ABBREVIATIONS or len(word.group(1)) == 1):
            continue  # "e.g. The", "Mr. Smith", "section A. Then": not a sentence end
        s, e = _strip(text, begin, match.start())
        if e > s:
            spans.append((s, e))
        begin = match.end()
    s, e = _strip(text, begin, end)
    if e > s:
        spans.append((s, e))
    return spans


def _is_heading_line(line: str) -> bool:
    """A short line with no full stop, starting with a capital or a section number: "2 Devices and
    software", "IT security: rules for everyone"."""
    return len(line) < 80 and not _END.search(line) and (line[:1].isupper() or line[:1].isdigit())


def _headed_runs(text: str, lines: list[tuple[int, int]]) -> list[tuple[list[tuple[int, int]], bool]]:
    """A paragraph's lines as runs of sentences, and the heading lines between them (``True``).

    A short line standing alone with no full stop is a heading the converter left as text. A PDF's
    text has no blank line after a heading ("2 Devices and software\nOnly DDE laptops..."), so inside
    a paragraph a heading line is one that:

    - starts afresh (first, or after a line ending a sentence) and holds no sentence's end;
    - is followed by body text starting afresh: a sentence or a wide line, not another short line (a
      contact block, "Acas helpline\nTelephone: 0300 123 1100", stays one unit);
    - is narrower than the paragraph's wrapped lines (a line stopping mid-sentence before a capital,
      "approval from your\nDeputy Director", is as wide as the rest)."""
    out: list[tuple[list[tuple[int, int]], bool]] = []
    run: list[tuple[int, int]] = []
    widest = max(e - s for s, e in lines)
    for i, (s, e) in enumerate(lines):
        line = text[s:e]
        fresh = i == 0 or bool(_END.search(text[lines[i - 1][0] : lines[i - 1][1]]))
        body = text[lines[i + 1][0] : lines[i + 1][1]] if i + 1 < len(lines) else ""
        before_body = _is_heading_line(body[:1]) and not _is_heading_line(body)
        narrow = len(line) < 0.75 * widest
        if (
            _is_heading_line(line)
            and not _BREAK.search(line)
            and (len(lines) == 1 or (fresh and before_body and narrow))
        ):
            if run:
                out.append((run, False))
                run = []
            out.append(([(s, e)], True))
            continue
        run.append((s, e))
    if run:
        out.append((run, False))
    return out


def split_units(text: str) -> list[Unit]:
    """The answer units of ``text`` in reading order (see the module's docstring)."""
    units: list[Unit] = []
    paragraph: list[tuple[int, int]] = []  # line spans of the paragraph being gathered
    header = -1  # index of the current table's header row
    lead = -1  # the unit introducing the list being read
    in_list = False

    held = False  # a blank line came after a paragraph that stops mid-sentence

    def flush_paragraph() -> None:
        nonlocal paragraph, held
        held = False
        if not paragraph:
            return
        lines, paragraph = paragraph, []
        for run, heading in _headed_runs(text, lines):
            if heading:
                units.append(Unit(run[0][0], run[0][1], HEADING))
                continue
            previous = -1
            for s, e in _sentences(text, run[0][0], run[-1][1]):
                context = previous if previous >= 0 and _LEANS_BACK.match(text[s:e]) else -1
                units.append(Unit(s, e, SENTENCE, context))
                previous = len(units) - 1

    for line_start, line_end in _lines(text):
        s, e = _strip(text, line_start, line_end)
        line = text[s:e]
        if not line:
            # A blank line ends a paragraph, unless the paragraph stops mid-sentence and the text
            # goes on in lower case (documents converted with stray line breaks).
            if paragraph and not _END.search(text[paragraph[-1][0] : paragraph[-1][1]]):
                held = True
                continue
            flush_paragraph()
            continue
        if _QUOTE.match(line):
            s += _QUOTE.match(line).end()
            s, e = _strip(text, s, e)
            line = text[s:e]
            if not line:
                continue
        if paragraph and not _END.search(text[paragraph[-1][0] : paragraph[-1][1]]) and line[:1].islower():
            paragraph.append((s, e))  # the paragraph's sentence goes on
            held = False
            continue
        if held:
            flush_paragraph()
        if _RULE.match(line):
            continue
        if _ROW.match(line):
            flush_paragraph()
            in_list = False
            if header < 0:
                units.append(Unit(s, e, HEADER))
                header = len(units) - 1
            else:
                units.append(Unit(s, e, ROW, header))
            continue
        header = -1
        if _HEADING.match(line):
            flush_paragraph()
            in_list = False
            units.append(Unit(s, e, HEADING))
            continue
        if _ITEM.match(line):
            flush_paragraph()
            if not in_list:
                in_list = True
                previous = units[-1] if units else None
                lead = len(units) - 1 if previous is not None and previous.kind == SENTENCE else -1
            units.append(Unit(s, e, ITEM, lead))
            continue
        if in_list and units and units[-1].kind == ITEM and line[:1].islower():
            last = units[-1]
            units[-1] = Unit(last.start, e, ITEM, last.context)  # the item goes on onto this line
            continue
        in_list = False
        paragraph.append((s, e))
    flush_paragraph()
    return units


def unit_text(text: str, unit: Unit) -> str:
    return " ".join(text[unit.start : unit.end].split())


def local_heading(text: str, units: list[Unit], index: int, heading: str = "") -> str:
    """The heading a unit sits under: the nearest heading line above it in the chunk, else ``heading``
    (the last of the chunk's heading path)."""
    for i in range(index - 1, -1, -1):
        if units[i].kind == HEADING:
            return unit_text(text, units[i]).lstrip("#").strip()
    return heading


def embed_text(text: str, units: list[Unit], index: int, heading: str = "") -> str:
    """What the embedder sees for a unit: the heading it sits under, its context, then the unit (a
    table row after its header). "Selflessness: Holders of public office should act solely in the
    public interest" is about selflessness; the sentence alone is not."""
    unit = units[index]
    parts = [local_heading(text, units, index, heading)]
    if unit.context >= 0:
        parts.append(unit_text(text, units[unit.context])[:300])
    parts.append(unit_text(text, unit)[:MAX_UNIT_CHARS])
    return ": ".join(p for p in parts[:1] if p) + (": " if parts[0] else "") + " ".join(parts[1:])


def quotable(unit: Unit) -> bool:
    return unit.kind in QUOTABLE
