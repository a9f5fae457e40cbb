"""Markup: web pages (BeautifulSoup; scripts, styles and other active content dropped: only text is
kept) and Markdown (markdown-it-py finds the headings; YAML front matter gives the title and the
review date, ``review_by:`` as a YAML date or ISO text, and is not indexed)."""

from __future__ import annotations

import re

from ..types import Section, is_review_date_name, review_date_value
from .base import Builder, squash

# --- HTML --------------------------------------------------------------------------------------

_DROP = ["script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas", "form", "nav"]
_BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption", "address"]
_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]


def parse_html(text: str) -> tuple[str, str, list[Section]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")
    for tag in soup(_DROP):
        tag.decompose()
    title = squash(soup.title.get_text()) if soup.title else ""
    # A page's own content, where it says which that is: not the site's header, menus and footer.
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.body or soup
    builder = Builder()
    wanted = set(_BLOCKS) | set(_HEADINGS)
    found_any = False
    first_h1 = ""
    for element in root.find_all([*_HEADINGS, *_BLOCKS]):
        if any(parent.name in wanted for parent in element.parents):
            continue  # its text is taken with the enclosing block
        found_any = True
        if element.name in _HEADINGS:
            if element.name == "h1" and not first_h1:
                first_h1 = squash(element.get_text(" "))
            builder.heading(int(element.name[1]), element.get_text(" "))
        elif element.name == "pre":
            builder.paragraph(element.get_text())
        elif element.name == "li":  # a list item, known as one (quoted whole, with the line before the list)
            builder.paragraph("- " + squash(element.get_text(" ")))
        else:
            builder.paragraph(squash(element.get_text(" ")))
    if not found_any:
        for paragraph in re.split(r"\n\s*\n", root.get_text("\n")):
            builder.paragraph(paragraph)
    return title or first_h1, builder.text(), builder.sections


# --- Markdown ----------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_RAW_ACTIVE = re.compile(r"<(script|style|iframe|object|embed|template)\b.*?(</\1\s*>|\Z)", re.I | re.S)


def _front_matter(text: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        meta = None
    return (meta if isinstance(meta, dict) else {}), text[match.end() :]


def parse_markdown(text: str) -> tuple[str, str, list[Section], dict]:
    from markdown_it import MarkdownIt

    meta, body = _front_matter(text)
    # Active HTML embedded in Markdown is never kept, even as text nobody renders.
    body = _RAW_ACTIVE.sub("", body).replace("\r\n", "\n")
    lines = body.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(line: int) -> int:
        return min(starts[min(line, len(lines))], len(body))

    tokens = MarkdownIt("commonmark").parse(body)
    headings: list[tuple[int, int, int, str]] = []  # (start line, end line, level, text)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            inline = tokens[index + 1]
            headings.append((token.map[0], token.map[1], int(token.tag[1]), squash(_strip_inline(inline.content))))
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    boundaries = [(0, 0, None)] + [(h[0], h[1], h) for h in headings]
    for i, (_, body_start_line, heading) in enumerate(boundaries):
        if heading is not None:
            level, title = heading[2], heading[3]
            path = [(lvl, t) for lvl, t in path if lvl < level]
            path.append((level, title))
        end_line = boundaries[i + 1][0] if i + 1 < len(boundaries) else len(lines)
        start, end = offset(body_start_line), offset(end_line)
        chunk = body[start:end]
        stripped_start = start + (len(chunk) - len(chunk.lstrip()))
        stripped_end = start + len(chunk.rstrip())
        if stripped_end > stripped_start:
            sections.append(
                Section(
                    text=body[stripped_start:stripped_end],
                    heading_path=tuple(t for _, t in path),
                    char_start=stripped_start,
                    char_end=stripped_end,
                )
            )
    title = squash(str(meta.get("title") or "")) if meta else ""
    if not title:
        title = next((h[3] for h in headings if h[2] == 1), "")
    safe_meta = {k: v for k, v in (meta or {}).items() if isinstance(v, str | int | float | bool)}
    review_by = next(
        (day for key, value in (meta or {}).items() if is_review_date_name(key) and (day := review_date_value(value))),
        None,
    )
    if review_by is not None:  # read back by the pipeline (documents.ingest.pipeline.file_review_date)
        safe_meta["review_by"] = review_by.isoformat()
    return title, body, sections, safe_meta


def _strip_inline(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]+", "", text)
