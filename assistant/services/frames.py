"""What an answer looks like to the person who asked: links to passages, the ``sources`` /
``citations`` frames' entries, the answer's sanitised HTML and the honest "not covered" reply.

No writes and no queries here: everything is built from the ``Source`` passages already retrieved.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from assistant.core.citations import highlight_query
from assistant.core.evidence import claim_notes
from assistant.core.markdown import render_markdown
from assistant.core.types import Source
from documents.models import Marking
from documents.places import passage_place
from documents.review import Review

NOT_COVERED = (
    "The guidance you can search does not cover this question, so Humphrey cannot answer it. "
    "Try rewording it, choosing other collections, or asking the team that owns the guidance."
)

_ID_SLOT = 987_654_321_987_654_321  # no chunk's id: marks where an id goes in a URL reversed once


def passage_urls(chunk_ids: list[int]) -> list[str]:
    """The pages showing these passages in their document versions (the documents app's ``passage``
    view), reversed once for all of them: ``reverse`` is costly enough that a burst of answers spent a
    noticeable share of its event loop's time in it when each source was reversed on its own (the
    profile: docs/answers.md, "Figures")."""
    try:
        template = reverse("documents:passage", args=[_ID_SLOT])
    except NoReverseMatch:
        return [""] * len(chunk_ids)
    return [template.replace(str(_ID_SLOT), str(int(chunk_id))) for chunk_id in chunk_ids]


def review_fields(review: Review | None, *, superseded: bool = False) -> dict:
    """How fresh a passage's document is, for a frame: ``review_status`` and ``review_by`` (None when
    not known), what the reader is told (``review_note``, "" when nothing needs saying) and whether a
    newer version of the document has replaced the one quoted (``superseded``)."""
    facts = review.as_facts() if review else {"review_status": None, "review_by": None}
    return {**facts, "review_note": review.note() if review else "", "superseded": superseded}


def highest_marking(markings) -> str:
    """The highest of ``markings`` (``Marking`` values, lowest first in ``Marking``): what an answer
    quoting passages so marked is marked; "" for none. One not known here counts as the highest."""
    known = [m.value for m in Marking]
    found = {m for m in markings if m}
    if not found:
        return ""
    return max(found, key=lambda m: known.index(m) if m in known else len(known))


def source_place(title: str, section: str, anchor: str) -> str:
    """Where a passage is, after its document's title, saying nothing twice (``passage_place``),
    ", "-led; "" when the title says it all. "Annual leave and other absence, Annual leave and other
    absence (Annual leave and other absence)" becomes the title alone."""
    shown, place = passage_place(title, section, anchor)
    return (f", {shown}" if shown else "") + (f" ({place})" if place else "")


def source_frames(
    sources: list[Source],
    highlights: dict[int, list] | None = None,
    reviews: dict[int, Review] | None = None,
    superseded: set[int] | frozenset = frozenset(),
) -> list[dict]:
    """The ``sources`` / ``citations`` frames' entries; ``highlights`` (passage n -> spans) make each
    link open its passage with the sentences the answer used highlighted; ``reviews`` (document id ->
    its review, ``steps.sources_retrieve_reviewed``) say how fresh each passage's guidance is;
    ``superseded``: ids of versions a newer searchable one replaced while the answer was written."""
    highlights = highlights or {}
    reviews = reviews or {}
    return [
        {
            "n": source.n,
            "chunk_id": source.chunk_id,
            "document_title": source.document_title,
            "version": source.version_number,
            "version_id": source.version_id,
            "section": source.heading_path,
            "anchor": source.anchor,
            "where": source_place(source.document_title, source.heading_path, source.anchor),
            "page": source.page,
            "collection": source.collection_slug,
            "marking": source.marking,
            "quote": source.text[:600],
            "url": url + highlight_query(highlights.get(source.n)) if url else url,
            **review_fields(reviews.get(source.document_id), superseded=source.version_id in superseded),
        }
        for source, url in zip(sources, passage_urls([s.chunk_id for s in sources]), strict=True)
    ]


def answer_html(
    text: str, sources: list[Source], cited: list[int], *, highlights: dict | None = None, checks: list | None = None
) -> str:
    """Sanitised HTML of an answer: ``[n]`` links to cited passages (their used sentences highlighted);
    links out only if a cited passage has them, links in only to the passages it was given (the "not
    covered" reply's nearest documents); sentences the claim check doubts marked."""
    by_n = {s.n: s for s in sources}
    highlights = highlights or {}
    allowed = "\n".join(by_n[n].text for n in cited if n in by_n)
    urls = dict(zip(by_n, passage_urls([s.chunk_id for s in by_n.values()]), strict=True))
    return render_markdown(
        text,
        citation_url=lambda n: (
            (urls[n] + highlight_query(highlights.get(n)) if urls[n] else "#") if n in urls else None
        ),
        citation_title=lambda n: by_n[n].document_title if n in by_n else "",
        allowed_link_text=allowed,
        allowed_hosts=settings.HUMPHREY_CHAT_LINK_HOSTS,
        notes=claim_notes(checks or []),
        own_paths=frozenset(url for url in urls.values() if url),
    )


#: What the closest passages lack, in words, for a question asking for a detail they do not give
#: (``assistant.core.evidence.slots``).
DETAIL_WORDS = {
    "money": "an amount of money",
    "duration": "a length of time",
    "length": "a length or size",
    "count": "a number",
    "time": "a time of day",
    "phone": "a phone number",
    "name": "a person's name",
}


#: Said above an answer the gate let through with evidence only just enough (``Coverage.caution``).
CAUTION = "The guidance found is only just close enough to your question: it may not answer exactly what you asked."


def caution_text(absent: list[str] | None = None) -> str:
    """The line above a borderline answer, naming the question's words the passages never use, if any."""
    if not absent:
        return CAUTION
    return CAUTION + " It does not mention " + ", ".join(f"“{word}”" for word in absent) + "."


def not_covered_text(
    sources: list[Source],
    absent: list[str] | None = None,
    detail: str | None = None,
    *,
    questions: int = 1,
    unsearched: list[str] | None = None,
) -> str:
    """The honest reply, naming the nearest documents the user may read (they came from retrieval),
    the question's words those passages never use (``absent``), if any, and the kind of detail the
    question asks for that they do not give (``detail``: the verdict's unfilled slot), if that is why.
    A message asking several ``questions`` at once (a pasted email) is told to ask them one at a time;
    one that searched only some of the collections the person may read names the others
    (``unsearched``)."""
    lines, seen = [NOT_COVERED], set()
    if absent:
        quoted = ", ".join(f"“{word}”" for word in absent)
        lines[0] += f" The closest passages do not mention {quoted}."
    elif detail in DETAIL_WORDS:
        lines[0] += f" The closest passages do not give {DETAIL_WORDS[detail]} for what you asked."
    if questions > 1:
        lines[0] += (
            f"\n\nYour message asks {questions} questions. Ask them one at a time: each is then searched for on "
            "its own, and one the guidance covers is answered."
        )
    if unsearched:
        names = ", ".join(f"“{name}”" for name in unsearched)
        lines[0] += f"\n\nOnly the collections you chose were searched. You can also search {names}."
    for s, url in zip(sources, passage_urls([s.chunk_id for s in sources]), strict=True):
        if s.document_id in seen:
            continue
        seen.add(s.document_id)
        lines.append(f"- [{s.document_title}]({url})" if url else f"- {s.document_title}")
        if len(seen) == 3:
            break
    if len(lines) > 1:
        lines.insert(1, "\nThe nearest guidance found:\n")
    return "\n".join(lines)
