"""What changed between two versions of a document, section by section: for its curators, its
readers, and the people an answer quoted the older version to (the "changed since" link).

Each version's text is rebuilt section by section from its chunks (grouped by heading path, stitched
by their offsets as ``text.chunk_context`` does), the sections of the two versions are lined up by
heading, and a section in both is compared word by word: removed words in ``<del>``, added ones in
``<ins>``, each announced to screen readers (the elements alone are not, by most).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from audit.actions import Action, subject
from audit.services import audit_record

from ..access import access_version_comparison, may_curate_collection
from ..models import Chunk, DocumentVersion

ADDED, REMOVED, CHANGED, UNCHANGED = "added", "removed", "changed", "unchanged"
INS, DEL = "ins", "del"

_TOKENS = re.compile(r"\s+|\S+")
MAX_WORD_TOKENS = 40_000  # beyond this a section is compared line by line (difflib is quadratic at worst)


@dataclass
class Section:
    heading: str
    kind: str  # added | removed | changed | unchanged
    parts: list[tuple[str, str]] = field(default_factory=list)  # (""|"ins"|"del", text)


def version_sections(version: DocumentVersion) -> dict[str, str]:
    """A version's text by section (heading path -> text), in the order the sections first appear."""
    rows = (
        Chunk.objects.filter(version=version)
        .order_by("ordinal")
        .values_list("heading_path", "char_start", "char_end", "text")
    )
    pieces: dict[str, list[tuple[int, int, str]]] = {}
    for heading, start, end, text in rows:
        pieces.setdefault(heading, []).append((start, end, text))
    return {heading: _stitch(found) for heading, found in pieces.items()}


def _stitch(pieces: list[tuple[int, int, str]]) -> str:
    """Chunks are exact slices of the version's text and may overlap: join them without repeating."""
    out, end = "", None
    for start, stop, text in sorted(pieces):
        if end is not None and start < end:
            if stop <= end:
                continue
            text = text[end - start :]
        elif end is not None and start > end:
            out += "\n\n"
        out += text
        end = stop
    return out


def text_changes(old: str, new: str) -> list[tuple[str, str]]:
    """``old`` against ``new`` as (op, text) parts: "" kept, "del" removed, "ins" added; word by
    word (line by line for very long sections)."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    if len(a) + len(b) > MAX_WORD_TOKENS:
        a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    parts: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append((DEL, "".join(a[i1:i2])))
        if j2 > j1:
            parts.append((INS, "".join(b[j1:j2])))
    return parts


def compare_sections(old: dict[str, str], new: dict[str, str]) -> list[Section]:
    """The sections of two versions lined up by heading: each added, removed, changed or unchanged."""
    old_keys, new_keys = list(old), list(new)
    out: list[Section] = []
    matcher = difflib.SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for heading in old_keys[i1:i2]:
                if old[heading] == new[heading]:
                    out.append(Section(heading, UNCHANGED, [("", new[heading])]))
                else:
                    out.append(Section(heading, CHANGED, text_changes(old[heading], new[heading])))
            continue
        out.extend(Section(h, REMOVED, [(DEL, old[h])]) for h in old_keys[i1:i2])
        out.extend(Section(h, ADDED, [(INS, new[h])]) for h in new_keys[j1:j2])
    return out


@require_GET
@login_required
def version_changes(request: HttpRequest, document_id: int, from_id: int, to_id: int) -> HttpResponse:
    """What changed in a document between two of its versions (``?via=<chunk id>``: the passage of
    the older one an answer quoted, which lets its reader see this once the document is retired)."""
    raw = request.GET.get("via", "")
    via = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None  # anything else: ignored
    document, older, newer, by_citation = access_version_comparison(
        request.user, document_id, from_id, to_id, cited_chunk_id=via
    )
    if by_citation:
        # Recorded, as a cited passage read is: a document no longer searched, shown because an
        # answer quoted it to this person.
        audit_record(
            action=Action.VERSION_CHANGES_READ_CITED,
            actor=request.user,
            outcome="read",
            subject=subject("document", document.pk),
            data={
                "document_id": document.pk,
                "from_version_id": older.pk,
                "to_version_id": newer.pk,
                "chunk_id": via,
                "collection_id": document.collection_id,
            },
        )
    sections = compare_sections(version_sections(older), version_sections(newer))
    counts = {kind: sum(1 for s in sections if s.kind == kind) for kind in (CHANGED, ADDED, REMOVED, UNCHANGED)}
    curator = may_curate_collection(request.user, document.collection)
    return render(
        request,
        "documents/version_changes.html",
        {
            "document": document,
            "older": older,
            "newer": newer,
            "sections": [s for s in sections if s.kind != UNCHANGED],
            "unchanged": [s for s in sections if s.kind == UNCHANGED],
            "counts": counts,
            "back_url": reverse("documents:document", args=[document.pk]) if curator else _chat_url(),
            "back_label": "Back to the document" if curator else "Back to your conversations",
        },
    )


def _chat_url() -> str:
    try:
        return reverse("assistant:history")
    except NoReverseMatch:  # the chat app may name its pages differently
        return reverse("home")
