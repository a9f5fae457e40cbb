"""Reading stored files again (``manage.py reread``): after a release that reads a format better (a
Word table's rows each with its header, say), a version read before it keeps the text it was read as,
and uploading the same file again is recognised as unchanged. This finds the current versions whose
stored file today's readers cut into other chunks, and stores each file again as a new version (the
version page shows what changed; unchanged chunks keep their vectors).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from ..models import Document, DocumentVersion, VersionStatus
from .chunk import READ_RULE, chunk_document
from .parse import ParseError, parse
from .pipeline import _embed_hash, parse_limits


@dataclass
class Reread:
    document: Document
    changed: bool
    error: str = ""
    stored: DocumentVersion | None = None  # the new version, when one was stored


def read_differs(version) -> bool:
    """Whether today's readers cut ``version``'s stored file into other chunks than it has."""
    with version.file.open("rb") as handle:
        data = handle.read()
    drafts = chunk_document(parse(data, version.original_filename, limits=parse_limits()))
    wanted = [(d.ordinal, d.char_start, d.char_end, _embed_hash(d.embed_text)) for d in drafts]
    have = list(version.chunks.order_by("ordinal").values_list("ordinal", "char_start", "char_end", "embed_sha256"))
    return wanted != have


def documents_to_reread(*, collection: str | None = None, everything: bool = False):
    """The active documents whose current version an older release read (``READ_RULE``), of
    ``collection`` or of every active collection; with ``everything``, all of them."""
    documents = Document.objects.filter(
        is_active=True, collection__is_active=True, current_version__status=VersionStatus.READY
    )
    if not everything:
        documents = documents.filter(current_version__read_rule__lt=READ_RULE)
    if collection:
        documents = documents.filter(collection__slug=collection)
    return documents


def documents_reread(
    *, collection: str | None = None, store: bool = True, enqueue: bool = True, everything: bool = False
) -> list[Reread]:
    """Each active document's current version read by an older release (``everything``: each one)
    read again (of ``collection``, else of every active collection); where today's readers make other
    chunks of it and ``store``, its stored file uploaded again as a new version, audited as an upload
    ``via`` a re-read by no person; where they make the same, the version is stamped as read by today's."""
    from ..services import document_upload

    documents = documents_to_reread(collection=collection, everything=everything).select_related(
        "collection", "current_version"
    )
    out = []
    for document in documents.order_by("collection__slug", "source_name"):
        version = document.current_version
        if not version.file:
            continue
        try:
            changed = read_differs(version)
        except ParseError as exc:  # it was read once: a reader that now refuses it is worth saying
            out.append(Reread(document, False, exc.message))
            continue
        stored = None
        if not changed and store:
            DocumentVersion.objects.filter(pk=version.pk).update(read_rule=READ_RULE)
        if changed and store:
            with version.file.open("rb") as handle:
                data = handle.read()
            try:
                stored = document_upload(
                    collection=document.collection,
                    filename=version.original_filename,
                    data=data,
                    user=None,
                    enqueue=enqueue,
                    via={"reread": True, "from_version_id": version.pk},
                    again=True,
                )
            except ValidationError as exc:  # refused now (a lower size limit, say): it keeps what it has
                out.append(Reread(document, changed, "; ".join(exc.messages)))
                continue
        out.append(Reread(document, changed, stored=stored))
    return out
