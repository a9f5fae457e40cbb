"""Where a version stands, read by both the curators' services and the ingestion worker.

Searchability is copied down onto ``Chunk.searchable`` so retrieval filters one table. It is true
exactly when the chunk's version is its document's current version, that version is ready, the
document is active, the collection is active and no curator switched the chunk off; when the document
expires (``documents.review``) is copied down as ``Chunk.search_until``; every service that moves one of those keeps it
right in the same transaction (``document_searchable_refresh``, or an update of its own when the
answer is simply "none").

What is searched at this moment (those flags, and the expiry against the clock) is asked of
``Chunk.objects.searched`` (``document_searched``, ``documents_searched``), the same condition the
retrieval statement applies, so a page never says "searched" of what retrieval leaves out.

This module sits below both ``documents.services`` and ``documents.ingest.pipeline``: the services
queue work for the pipeline and re-export what it does, and the pipeline needs these same answers
to claim and publish a version, so neither imports the other's package to get them.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import Chunk, Collection, Document, DocumentVersion, VersionStatus
from .review import review_of, search_until

# A worker is on the version (or was, if its heartbeat has gone stale).
RUNNING = (VersionStatus.PARSING, VersionStatus.EMBEDDING)


def version_is_stale(version: DocumentVersion, *, now=None) -> bool:
    """True if a worker should be working on it but has shown no sign of life for a while."""
    now = now or timezone.now()
    limit = timedelta(seconds=settings.HUMPHREY_INGEST_STALE_SECONDS)
    if version.status in RUNNING:
        seen = version.heartbeat_at or version.started_at or version.uploaded_at
        return now - seen > limit
    if version.status == VersionStatus.QUEUED:
        return now - version.uploaded_at > limit
    return False


def document_searched(document: Document) -> bool:
    """Whether retrieval searches ``document`` now: a chunk of its current version is searched
    (``Chunk.objects.searched``: flagged searchable and not expired). One query."""
    if document.current_version_id is None:
        return False
    return Chunk.objects.searched().filter(version_id=document.current_version_id).exists()


def documents_searched(collection_id: int) -> set[int]:
    """Ids of the documents of a collection that retrieval searches now (as ``document_searched``). One query."""
    chunks = Chunk.objects.searched().filter(collection_id=collection_id)
    return set(chunks.values_list("version__document_id", flat=True).distinct())


def document_searchable_refresh(document: Document) -> None:
    """Make ``Chunk.searchable`` true exactly for the current, ready version of an active document.

    Call it inside the transaction that changed the document, its current version or its status."""
    collection_active = Collection.objects.filter(pk=document.collection_id, is_active=True).exists()
    current = document.current_version_id
    Chunk.objects.filter(version__document=document, searchable=True).exclude(version_id=current).update(
        searchable=False
    )
    if current is not None:
        visible = (
            document.is_active
            and collection_active
            and DocumentVersion.objects.filter(pk=current, status=VersionStatus.READY).exists()
        )
        chunks = Chunk.objects.filter(version_id=current)
        chunks.filter(excluded_at__isnull=True).exclude(searchable=visible).update(searchable=visible)
        chunks.filter(excluded_at__isnull=False, searchable=True).update(searchable=False)  # switched off
        document_expiry_refresh(document)


def document_expiry_refresh(document: Document) -> None:
    """Copy the document's expiry (past its review date by more than its collection allows) onto its
    current version's chunks, where retrieval checks it. Call it whenever the review date, the
    collection's review period or expiry, or the current version changes."""
    if document.current_version_id is None:
        return
    document = Document.objects.select_related("collection", "current_version").get(pk=document.pk)
    until = search_until(review_of(document))
    Chunk.objects.filter(version_id=document.current_version_id).exclude(search_until=until).update(search_until=until)
