"""Switching one passage off: an outdated paragraph inside an otherwise good document.

An excluded chunk is not searched (``Chunk.searchable`` false, kept so by ``documents.lifecycle``)
until a curator puts it back; answers that already cited it keep their citation and its page.
Both steps need the collection's curator and are audited with the reason.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import audit_record

from ..lifecycle import document_searchable_refresh
from ..models import Chunk
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
