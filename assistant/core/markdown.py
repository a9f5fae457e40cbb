"""Answers as safe HTML: Markdown (markdown-it-py, no raw HTML) then sanitised by nh3 (ammonia).

Images are never rendered. A link survives only if it is ``http(s)``, its exact address appears in a
passage the answer cites, and (when ``allowed_hosts`` is given) its host is one of those or below one;
otherwise its text stays, without the link. ``[n]`` becomes a link to the passage the caller names.
Everything else a model or a document could inject is escaped or dropped.

Only links out of the site get ``rel="noopener noreferrer nofollow"``: this site's own links (citations,
the passages a "not covered" reply names) keep the referrer, so the passage page they open can lead
back to the conversation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

# Tables on (GitHub's pipe tables): guidance quotes whole table rows under their header, and a model may
# answer with a table; without it they read as a run of "|".
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").disable("image")
_CITE = re.compile(r"\[(\d{1,3})\](?!\()")
_LINK = re.compile(r'<a href="([^"]*)"[^>]*>(.*?)</a>', re.DOTALL)

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote",
    "h2", "h3", "h4", "a", "sup", "table", "thead", "tbody", "tr", "th", "td", "hr",
}  # fmt: skip
_EXTERNAL_REL = "noopener noreferrer nofollow"


def _host_allowed(host: str, allowed: tuple[str, ...] | list[str] | None) -> bool:
    if allowed is None:
        return bool(host)
    host = host.lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in (a.lower().lstrip(".") for a in allowed))


_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"  # private-use characters: a note's place in the text
_MARK = re.compile(_MARK_OPEN + r"(\d+)" + _MARK_CLOSE)
_CITE_OPEN, _CITE_CLOSE = "\ue002", "\ue003"  # and a citation's text, named once sanitised
_CITE_TEXT = re.compile(_CITE_OPEN + r"(\d+)" + _CITE_CLOSE)
_MARKERS = str.maketrans("", "", _MARK_OPEN + _MARK_CLOSE + _CITE_OPEN + _CITE_CLOSE)


def _place_notes(text: str, notes: list[tuple[str, str]]) -> str:
    """``text`` with a marker after each noted sentence (found in order; a sentence not found is skipped)."""
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
    citation_title: Callable[[int], str] | None = None,
    allowed_link_text: str = "",
    allowed_hosts: tuple[str, ...] | list[str] | None = None,
    notes: list[tuple[str, str]] | None = None,
    own_paths: frozenset[str] | set[str] = frozenset(),
) -> str:
    """Sanitised HTML for ``text``. ``allowed_link_text``: passages a link must appear in to survive;
    ``allowed_hosts``: host names (and their subdomains) links may point to (None: any host);
    ``own_paths``: this site's own addresses a link may point to exactly (the passages the person was
    shown, as the "not covered" reply names them);
    ``notes``: (sentence, note) pairs, each note shown after its sentence (the claim check's marks);
    ``citation_title``: the title of the document ``[n]`` cites, said to screen readers with it."""
    text = (text or "").translate(_MARKERS)  # never the model's own markers
    if notes:
        text = _place_notes(text, notes)
    html = _md.render(text)

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
            return f'<a class="govuk-link" href="{href}" rel="{_EXTERNAL_REL}">{label}</a>'
        return label

    html = _LINK.sub(link, html)
    if citation_url is not None:

        def cite(match: re.Match) -> str:
            url = citation_url(int(match.group(1)))
            if not url:
                return match.group(0)
            n = match.group(1)
            return (
                f'<sup><a class="govuk-link humphrey-citation" href="{url}" data-n="{n}">'
                f"{_CITE_OPEN}{n}{_CITE_CLOSE}</a></sup>"
            )

        html = _CITE.sub(cite, html)
    html = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "class", "data-n", "rel"}, "sup": set()},
        url_schemes={"http", "https"},
        link_rel=None,  # set on links out only (``link``): see the module's docstring
    )
    if citation_url is not None:
        # Added after sanitising, from our own fixed markup and the escaped title only.
        html = _CITE_TEXT.sub(lambda m: _citation_text(int(m.group(1)), citation_title), html)
    if notes:
        # Added after sanitising, from our own fixed markup and the escaped note text only.
        html = _MARK.sub(lambda m: _check_mark(notes[int(m.group(1))][1]) if int(m.group(1)) < len(notes) else "", html)
    return html


def _citation_text(n: int, citation_title: Callable[[int], str] | None) -> str:
    """A citation's link text: seen as "[1]", heard as "Source [1] (Leave policy)". The visible text stays
    part of the name (WCAG 2.5.3), and two citations in a row no longer sound the same. (Browsers put a
    space before visually hidden text in a name, so it starts with one of its own, not a colon.)"""
    title = (citation_title(n) if citation_title else "") or ""
    named = f'<span class="govuk-visually-hidden humphrey-citation__title"> ({escape(title)})</span>' if title else ""
    return f'<span class="govuk-visually-hidden">Source </span>[{n}]{named}'


# Kept whole, a mark fits a 320px screen up to about "sources 1, 2 and 3 may not support this".
_LONG_MARK = 40


def _check_mark(note: str) -> str:
    """A claim-check mark after its sentence. A no-break space ties it to the sentence: alone at the
    start of the next line it reads as a label for the sentence after it. A long one may wrap."""
    long = " humphrey-check--long" if len(note) > _LONG_MARK else ""
    return f'\u00a0<strong class="govuk-tag govuk-tag--yellow humphrey-check{long}">{escape(note)}</strong>'
