"""Switching one passage off: an outdated paragraph inside an otherwise good document.

An excluded chunk is not searched (``Chunk.searchable`` false, kept so by ``documents.lifecycle``)
until a curator puts it back; answers that already cited it keep their citation and its page.
Both steps need the collection's curator and are audited with the reason.

A new version is new chunks. When it is published (``ingest.pipeline._publish``),
``version_exclusions_carry`` switches off each of its chunks whose text is the same as a passage
switched off in the version before it, with the same reason, by the same person at the same time
(``curation.passage_exclude``, outcome ``carried_over``, by no person); a switched-off passage whose
text the new version changed is not carried (it is another text now, searched like the rest) and
is recorded as lapsed (``curation.passage_include``, outcome ``text_changed``, about the old
passage). ``version_exclusions_lapsed`` lists those for the version's and the document's pages, so
the curator checks the new text.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone

from audit.actions import Action
from audit.services import audit_record

from ..lifecycle import document_searchable_refresh
from ..models import Chunk, DocumentVersion, VersionStatus
from ..subjects import audit_subject
from ..text import INVISIBLE

EXCLUDE = Action.PASSAGE_EXCLUDE
INCLUDE = Action.PASSAGE_INCLUDE
MAX_REASON = 2000


def chunk_exclude(*, chunk: Chunk, user, reason: str) -> Chunk:
    """Stop searching ``chunk``; ``reason`` (required, at most ``MAX_REASON`` characters, kept whole)
    is kept with it and in the audit trail."""
    reason = (reason or "").replace("\r\n", "\n").strip()  # a browser counts a line break as one character
    if not reason:
        raise ValidationError("Say why this passage should no longer be searched.", code="required")
    if INVISIBLE.search(reason):
        raise ValidationError(
            "Remove the invisible characters from the reason: type it again rather than pasting it.",
            code="invisible",
        )
    if len(reason) > MAX_REASON:
        raise ValidationError(
            f"Keep the reason to {MAX_REASON:,} characters or fewer: it has {len(reason):,}.", code="too_long"
        )
    with transaction.atomic():
        chunk = Chunk.objects.select_for_update().select_related("version__document").get(pk=chunk.pk)
        if chunk.excluded_at is not None:
            raise ValidationError("This passage is already switched off.")
        chunk.excluded_at, chunk.excluded_by, chunk.excluded_reason = timezone.now(), user, reason
        chunk.searchable = False
        chunk.save(update_fields=["excluded_at", "excluded_by", "excluded_reason", "searchable"])
        audit_record(
            action=EXCLUDE,
            actor=user,
            subject=audit_subject(chunk),
            data={"chunk_id": chunk.pk, "version_id": chunk.version_id, "document_id": chunk.version.document_id},
            content={"reason": chunk.excluded_reason},
        )
    return chunk


def chunk_include(*, chunk: Chunk, user) -> Chunk:
    """Search ``chunk`` again (if its version is still the searchable one)."""
    with transaction.atomic():
        chunk = Chunk.objects.select_for_update().select_related("version__document").get(pk=chunk.pk)
        if chunk.excluded_at is None:
            raise ValidationError("This passage is not switched off.")
        reason = chunk.excluded_reason
        chunk.excluded_at, chunk.excluded_by, chunk.excluded_reason = None, None, ""
        chunk.save(update_fields=["excluded_at", "excluded_by", "excluded_reason"])
        document_searchable_refresh(chunk.version.document)
        audit_record(
            action=INCLUDE,
            actor=user,
            subject=audit_subject(chunk),
            data={"chunk_id": chunk.pk, "version_id": chunk.version_id, "document_id": chunk.version.document_id},
            content={"excluded_reason": reason},
        )
        chunk.refresh_from_db(fields=["searchable"])
    return chunk


def _versions_before(version: DocumentVersion):
    """The ready versions of its document numbered below ``version``, newest first."""
    return DocumentVersion.objects.filter(
        document_id=version.document_id, status=VersionStatus.READY, number__lt=version.number
    ).order_by("-number")


def version_before(version: DocumentVersion) -> DocumentVersion | None:
    """The version ``version`` followed: the newest ready version of its document numbered below it
    (the one readers were searching when it was published)."""
    return _versions_before(version).first()


def version_exclusions_carry(*, version: DocumentVersion) -> tuple[list[Chunk], list[Chunk]]:
    """Carry the passages switched off in the version before ``version`` onto its chunks of the same
    text; returns (the chunks of ``version`` switched off, the earlier version's switched-off chunks
    whose text it changed). Each is audited, by no person (the ingestion worker did it).

    Matched on the chunk's text, what a reader is quoted: the same words under a new heading are the
    same passage, and one word changed makes another passage a curator has not judged. Call it
    inside the transaction that publishes ``version``, before its chunks' searchability is refreshed."""
    previous = version_before(version)
    if previous is None:
        return [], []
    switched_off = list(Chunk.objects.filter(version=previous, excluded_at__isnull=False).order_by("ordinal"))
    if not switched_off:
        return [], []
    by_text: dict[str, Chunk] = {}
    for chunk in switched_off:
        by_text.setdefault(chunk.text, chunk)
    carried = list(
        Chunk.objects.select_for_update()
        .filter(version=version, excluded_at__isnull=True, text__in=list(by_text))
        .order_by("ordinal")
    )
    for chunk in carried:
        earlier = by_text[chunk.text]
        chunk.excluded_at, chunk.excluded_by_id = earlier.excluded_at, earlier.excluded_by_id
        chunk.excluded_reason, chunk.searchable = earlier.excluded_reason, False
    Chunk.objects.bulk_update(carried, ["excluded_at", "excluded_by", "excluded_reason", "searchable"])
    kept = {chunk.text for chunk in carried}
    lapsed = [chunk for chunk in switched_off if chunk.text not in kept]
    facts = {"document_id": version.document_id, "collection_id": version.document.collection_id}
    for chunk in carried:
        earlier = by_text[chunk.text]
        audit_record(
            action=EXCLUDE,
            outcome="carried_over",
            subject=audit_subject(chunk),
            data={
                **facts,
                "chunk_id": chunk.pk,
                "version_id": version.pk,
                "from_chunk_id": earlier.pk,
                "from_version_id": previous.pk,
                "excluded_at": earlier.excluded_at.isoformat(),
            },
            content={"reason": chunk.excluded_reason},
        )
    for chunk in lapsed:
        audit_record(
            action=INCLUDE,
            outcome="text_changed",
            subject=audit_subject(chunk),
            data={**facts, "chunk_id": chunk.pk, "version_id": previous.pk, "new_version_id": version.pk},
            content={"excluded_reason": chunk.excluded_reason},
        )
    return carried, lapsed


def version_exclusions_lapsed(version: DocumentVersion) -> tuple[DocumentVersion | None, list[Chunk]]:
    """The version before ``version`` (``version_before``) and its switched-off passages whose text
    ``version`` changed (so they were not carried over, and the new text is searched): what the
    curator should check. (None, []) when there are none, or ``version`` is not ready. One query
    whatever the versions (pages count their queries)."""
    lapsed = list(
        Chunk.objects.filter(version_id=Subquery(_versions_before(version).values("pk")[:1]), excluded_at__isnull=False)
        .exclude(text__in=Chunk.objects.filter(version=version).values("text"))
        .select_related("excluded_by", "version")
        .order_by("ordinal")
    )
    if not lapsed or version.status != VersionStatus.READY:
        return None, []
    return lapsed[0].version, lapsed
