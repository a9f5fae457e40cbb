"""Answers as safe HTML: Markdown (markdown-it-py, no raw HTML) then sanitised by nh3 (ammonia).

Images are never rendered. A link survives only if it is ``http(s)``, its exact address appears in a
passage the answer cites, and (when ``allowed_hosts`` is given) its host is one of those or below one;
otherwise its text stays, without the link. ``[n]`` becomes a link to the passage the caller names.
Everything else a model or a document could inject is escaped or dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
_CITE = re.compile(r"\[(\d{1,3})\](?!\()")
_LINK = re.compile(r'<a href="([^"]*)"[^>]*>(.*?)</a>', re.DOTALL)

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote",
    "h2", "h3", "h4", "a", "sup", "table", "thead", "tbody", "tr", "th", "td", "hr",
}  # fmt: skip


def _host_allowed(host: str, allowed: tuple[str, ...] | list[str] | None) -> bool:
    if allowed is None:
        return bool(host)
    host = host.lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in (a.lower().lstrip(".") for a in allowed))


_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"  # private-use characters: a note's place in the text
_MARK = re.compile(_MARK_OPEN + r"(\d+)" + _MARK_CLOSE)


def _place_notes(text: str, notes: list[tuple[str, str]]) -> str:
    """``text`` with a marker after each noted sentence (found in order; a sentence not found is skipped)."""
    text = text.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "")  # never the model's own markers
    at = 0
    for i, (sentence, _) in enumerate(notes):
        found = text.find(sentence, at)
        if found < 0:
            continue
        end = found + len(sentence)
        text = f"{text[:end]}{_MARK_OPEN}{i}{_MARK_CLOSE}{text[end:]}"
        at = end
    return text


def render_markdown(
    text: str,
    *,
    citation_url: Callable[[int], str | None] | None = None,
    allowed_link_text: str = "",
    allowed_hosts: tuple[str, ...] | list[str] | None = None,
    notes: list[tuple[str, str]] | None = None,
    own_paths: frozenset[str] | set[str] = frozenset(),
) -> str:
    """Sanitised HTML for ``text``. ``allowed_link_text``: passages a link must appear in to survive;
    ``allowed_hosts``: host names (and their subdomains) links may point to (None: any host);
    ``own_paths``: this site's own addresses a link may point to exactly (the passages the person was
    shown, as the "not covered" reply names them);
    ``notes``: (sentence, note) pairs, each note shown after its sentence (the claim check's marks)."""
    if notes:
        text = _place_notes(text or "", notes)
    html = _md.render(text or "")

    def link(match: re.Match) -> str:
        href, label = match.group(1), match.group(2)
        parts = urlsplit(href.replace("&amp;", "&"))
        if href.replace("&amp;", "&") in own_paths:
            return f'<a class="govuk-link" href="{href}">{label}</a>'
        if (
            parts.scheme in ("http", "https")
            and href.replace("&amp;", "&") in allowed_link_text
            and _host_allowed(parts.hostname or "", allowed_hosts)
        ):
            return f'<a class="govuk-link" href="{href}" rel="noopener noreferrer nofollow">{label}</a>'
        return label

    html = _LINK.sub(link, html)
    if citation_url is not None:

        def cite(match: re.Match) -> str:
            url = citation_url(int(match.group(1)))
            if not url:
                return match.group(0)
            n = match.group(1)
            return (
                f'<sup><a class="govuk-link humphrey-citation" href="{url}" data-n="{n}" '
                f'aria-label="Source {n}">[{n}]</a></sup>'
            )

        html = _CITE.sub(cite, html)
    html = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "class", "data-n", "aria-label"}, "sup": set()},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    )
    if notes:
        # Added after sanitising, from our own fixed markup and the escaped note text only.
        html = _MARK.sub(lambda m: _check_mark(notes[int(m.group(1))][1]) if int(m.group(1)) < len(notes) else "", html)
    return html


# Kept whole, a mark fits a 320px screen up to about "sources 1, 2 and 3 may not support this".
_LONG_MARK = 40


def _check_mark(note: str) -> str:
    """A claim-check mark after its sentence. A no-break space ties it to the sentence: alone at the
    start of the next line it reads as a label for the sentence after it. A long one may wrap."""
    long = " humphrey-check--long" if len(note) > _LONG_MARK else ""
    return f'\u00a0<strong class="govuk-tag govuk-tag--yellow humphrey-check{long}">{escape(note)}</strong>'
