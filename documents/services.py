"""Every write to collections, documents, versions and chunks goes through here.

Names are ``<entity>_<action>``. Each curation change records an audit event (``curation.<what>``)
last in the same transaction, so both happen or neither does.

Searchability is copied down onto ``Chunk.searchable`` so retrieval filters one table. It is true
exactly when the chunk's version is its document's current version, that version is ready, the
document is active and the collection is active; every service that moves one of those keeps it
right in the same transaction (see ``_refresh_searchable``).

Ingestion (``version_ingest``) runs in a worker: parse -> chunk -> store chunks unsearchable ->
embed in batches (progress and a heartbeat after each) -> publish in ONE transaction that makes the
version current and its chunks searchable and the previous version's chunks unsearchable. A worker
killed part-way leaves a version that is not searchable and whose heartbeat goes stale, so
``version_retry`` may take it up again; the chunks already embedded are kept and not re-embedded.
A collection marked above the embedder's ceiling (``documents.embeddings``) is never embedded: the
upload fails with the reason (its file kept, so it can be retried once the embedder may take it), and
ingestion and re-embedding check again, before each batch, in case the marking was raised meanwhile.
"""

# Over 500 lines on purpose for now: collections, documents and ingestion split into documents/services/
# and documents/ingest/pipeline.py in issue #20 (one structural change, not mixed with feature work).

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath

import numpy
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.text import slugify

from audit.services import audit_record
from humphrey.metrics import INGESTION_FAILURES

from .embeddings import embedder_max_marking, embedding_refusal, embeds_marking, get_embedder
from .ingest.chunk import chunk_document
from .ingest.parse import CONTENT_TYPES, ParseError, ParseLimits, parse, sniff
from .ingest.types import ChunkDraft
from .ingest.units import embed_text as unit_embed_text
from .ingest.units import split_units
from .marking_changes import marking_change_request
from .models import Chunk, Collection, Document, DocumentVersion, Marking, VersionStatus

logger = logging.getLogger(__name__)

HEADING_SEPARATOR = " > "
RUNNING = (VersionStatus.PARSING, VersionStatus.EMBEDDING)


# --- Collections --------------------------------------------------------------------------------


def _subject(obj) -> str:
    return f"{obj._meta.model_name}:{obj.pk}"


def collection_create(
    *,
    user,
    name: str,
    slug: str = "",
    description: str = "",
    marking: str = Marking.OFFICIAL,
    reader_groups=(),
    curators=(),
) -> Collection:
    """A new active collection owned (and curated) by ``user``, readable by ``reader_groups``."""
    name = name.strip()
    if not name:
        raise ValidationError("Enter a name for the collection.")
    slug = slugify(slug or name)[:100]
    if not slug:
        raise ValidationError("Enter a name with at least one letter or number.")
    if marking not in Marking.values:
        raise ValidationError(f"Choose a marking: {', '.join(Marking.values)}.")
    with transaction.atomic():
        if Collection.objects.filter(slug=slug).exists():
            raise ValidationError(f"A collection with the short name {slug!r} already exists.")
        collection = Collection.objects.create(
            name=name[:200], slug=slug, description=description, marking=marking, owner=user
        )
        if user is not None:
            collection.curators.add(user)
        collection.curators.add(*curators)
        groups = list(reader_groups)
        collection.reader_groups.set(groups)
        audit_record(
            action="curation.collection_create",
            actor=user,
            subject=_subject(collection),
            data={
                "collection_id": collection.pk,
                "slug": slug,
                "marking": marking,
                "reader_groups": sorted(g.name for g in groups),
            },
        )
    return collection


def collection_update(
    *,
    collection: Collection,
    user,
    name: str | None = None,
    description: str | None = None,
    marking=None,
    reason: str = "",
) -> Collection:
    """Change a collection's name, description or marking. Lowering the marking needs a ``reason``,
    kept in the audit event with the markings before and after; with
    ``HUMPHREY_MARKING_DOWNGRADE_APPROVAL`` it becomes a request a second curator must approve."""
    previous_marking = collection.marking
    changes: dict = {}
    if name is not None and name.strip() and name.strip() != collection.name:
        changes["name"] = name.strip()[:200]
    if description is not None and description != collection.description:
        changes["description"] = description
    if marking is not None and marking != collection.marking:
        if marking not in Marking.values:
            raise ValidationError(f"Choose a marking: {', '.join(Marking.values)}.")
        changes["marking"] = marking
    lowered = "marking" in changes and Marking.rank(changes["marking"]) < Marking.rank(previous_marking)
    if lowered and not (reason or "").strip():
        raise ValidationError("Say why the marking is being lowered.")
    if lowered and settings.HUMPHREY_MARKING_DOWNGRADE_APPROVAL:
        # Lowered only when a second curator approves (documents.marking_changes); the rest now.
        with transaction.atomic():
            marking_change_request(collection=collection, user=user, marking=changes.pop("marking"), reason=reason)
            return collection_update(
                collection=collection, user=user, name=changes.get("name"), description=changes.get("description")
            )
    if not changes:
        return collection
    with transaction.atomic():
        for field, value in changes.items():
            setattr(collection, field, value)
        collection.save(update_fields=[*changes, "updated_at"])
        audit_record(
            action="curation.collection_update",
            actor=user,
            outcome="marking_lowered" if lowered else "",
            subject=_subject(collection),
            data={
                "collection_id": collection.pk,
                "changed": sorted(changes),
                "marking": collection.marking,
                "previous_marking": previous_marking,
            },
            content={"reason": reason.strip()} if lowered else None,
        )
    return collection


def collection_grant(*, collection: Collection, group: Group, user) -> None:
    """Let members of ``group`` read ``collection``."""
    with transaction.atomic():
        collection.reader_groups.add(group)
        audit_record(
            action="curation.collection_grant",
            actor=user,
            subject=_subject(collection),
            data={"collection_id": collection.pk, "group_id": group.pk, "group": group.name},
        )


def collection_revoke(*, collection: Collection, group: Group, user) -> None:
    """Stop members of ``group`` reading ``collection`` (through that group)."""
    with transaction.atomic():
        collection.reader_groups.remove(group)
        audit_record(
            action="curation.collection_revoke",
            actor=user,
            subject=_subject(collection),
            data={"collection_id": collection.pk, "group_id": group.pk, "group": group.name},
        )


def collection_retire(*, collection: Collection, user) -> Collection:
    """Retire a collection: never searched again; its documents and versions are kept."""
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        if not collection.is_active:
            return collection
        collection.is_active = False
        collection.retired_at = timezone.now()
        collection.save(update_fields=["is_active", "retired_at", "updated_at"])
        hidden = Chunk.objects.filter(collection=collection, searchable=True).update(searchable=False)
        audit_record(
            action="curation.collection_retire",
            actor=user,
            subject=_subject(collection),
            data={"collection_id": collection.pk, "chunks_hidden": hidden},
        )
    return collection


# --- Documents and versions ---------------------------------------------------------------------


def parse_limits() -> ParseLimits:
    return ParseLimits(
        max_bytes=settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024,
        max_pages=settings.HUMPHREY_INGEST_MAX_PAGES,
        max_uncompressed_bytes=settings.HUMPHREY_INGEST_MAX_UNCOMPRESSED_MB * 1024 * 1024,
    )


def _title_from_filename(filename: str) -> str:
    from .ingest.parse import _title_from_name

    return _title_from_name(filename)


def _enqueue(version_id: int) -> None:
    from .tasks import ingest_version

    result = ingest_version.enqueue(version_id)
    DocumentVersion.objects.filter(pk=version_id).update(task_id=str(result.id)[:64])


def document_upload(
    *, collection: Collection, filename: str, data: bytes, user, enqueue: bool = True
) -> DocumentVersion:
    """Store an upload as a new version of the document with that file name, queued for ingestion.

    The same bytes as the document's latest version are recognised by SHA-256: that version is
    returned (with ``duplicate = True``) and nothing is stored or embedded again. A file too large
    to accept still gets a version, failed with the reason, so a batch reports it and goes on; its
    bytes are not kept. With ``enqueue`` the ingestion task is queued once the transaction commits;
    without it the caller runs ``version_ingest`` itself (the ``ingest --wait`` command does).
    """
    name = PurePath(filename.replace("\\", "/")).name.strip()[:255]
    if not name:
        raise ValidationError("The file has no name.")
    if not collection.is_active:
        raise ValidationError("This collection is retired: no documents can be added to it.")
    digest = hashlib.sha256(data).hexdigest()
    too_large = len(data) > settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024
    # Refused before anything is sent; the file is kept so it can be retried under another embedder.
    above_ceiling = "" if too_large else embedding_refusal(collection.marking)
    with transaction.atomic():
        document, created = Document.objects.select_for_update().get_or_create(
            collection=collection, source_name=name, defaults={"title": _title_from_filename(name)[:300]}
        )
        latest = document.versions.order_by("-number").first()
        restored = False
        if latest is not None and latest.sha256 == digest:
            if not document.is_active:
                document.is_active, document.retired_at = True, None
                document.save(update_fields=["is_active", "retired_at", "updated_at"])
                _refresh_searchable(document)
                restored = True
                audit_record(
                    action="curation.document_restore",
                    actor=user,
                    subject=_subject(document),
                    data={"collection_id": collection.pk, "document_id": document.pk, "version_id": latest.pk},
                )
            latest.duplicate = True
            latest.restored = restored
            return latest
        if not document.is_active:
            document.is_active, document.retired_at = True, None
            document.save(update_fields=["is_active", "retired_at", "updated_at"])
            restored = True
        number = (document.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        kind = sniff(data) if data else None
        version = DocumentVersion(
            document=document,
            number=number,
            original_filename=name,
            sha256=digest,
            size_bytes=len(data),
            content_type=CONTENT_TYPES.get(kind, "") if kind else "",
            uploaded_by=user if getattr(user, "is_authenticated", False) else None,
        )
        if too_large:
            version.status = VersionStatus.FAILED
            version.error = (
                f"The file is {len(data) / (1024 * 1024):.1f} MB; the most we accept is "
                f"{settings.HUMPHREY_MAX_UPLOAD_MB} MB."
            )
            version.finished_at = timezone.now()
            version.save()
        else:
            if above_ceiling:
                version.status = VersionStatus.FAILED
                version.error = above_ceiling
                version.finished_at = timezone.now()
            version.file.save(name, ContentFile(data), save=False)
            version.save()
        refused = too_large or bool(above_ceiling)
        audit_record(
            action="curation.document_upload",
            actor=user,
            subject=_subject(version),
            outcome="refused" if refused else "queued",
            data={
                "collection_id": collection.pk,
                "document_id": document.pk,
                "version_id": version.pk,
                "version": number,
                "filename": name,
                "sha256": digest,
                "size_bytes": len(data),
                "new_document": created,
                "restored": restored,
                **(_ceiling_facts(collection.marking) if above_ceiling else {}),
            },
        )
        if enqueue and not refused:
            transaction.on_commit(lambda: _enqueue(version.pk))
    version.duplicate = False
    version.restored = restored
    return version


def document_retire(*, document: Document, user) -> Document:
    """Retire a document: never searched again; its versions and chunks are kept for past answers."""
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        if not document.is_active:
            return document
        document.is_active = False
        document.retired_at = timezone.now()
        document.save(update_fields=["is_active", "retired_at", "updated_at"])
        hidden = Chunk.objects.filter(version__document=document, searchable=True).update(searchable=False)
        audit_record(
            action="curation.document_retire",
            actor=user,
            subject=_subject(document),
            data={"collection_id": document.collection_id, "document_id": document.pk, "chunks_hidden": hidden},
        )
    return document


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


def version_can_retry(version: DocumentVersion) -> bool:
    return bool(version.file) and (version.status == VersionStatus.FAILED or version_is_stale(version))


def version_retry(*, version: DocumentVersion, user, enqueue: bool = True) -> DocumentVersion:
    """Queue a failed (or stalled) version again. Chunks it already embedded are kept."""
    with transaction.atomic():
        version = DocumentVersion.objects.select_for_update().select_related("document").get(pk=version.pk)
        if not version_can_retry(version):
            if not version.file:
                raise ValidationError("This version's file was not kept (it was too large), so upload it again.")
            raise ValidationError("Only a failed version, or one whose ingestion has stalled, can be retried.")
        previous = version.status
        version.status = VersionStatus.QUEUED
        version.error = ""
        version.heartbeat_at = None
        version.finished_at = None
        version.save(update_fields=["status", "error", "heartbeat_at", "finished_at"])
        audit_record(
            action="curation.version_retry",
            actor=user,
            subject=_subject(version),
            data={
                "collection_id": version.document.collection_id,
                "document_id": version.document_id,
                "version_id": version.pk,
                "previous_status": previous,
            },
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue(version.pk))
    return version


def _refresh_searchable(document: Document) -> None:
    """Make ``Chunk.searchable`` true exactly for the current, ready version of an active document."""
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
        Chunk.objects.filter(version_id=current).exclude(searchable=visible).update(searchable=visible)


# --- Ingestion ----------------------------------------------------------------------------------


@dataclass
class IngestOutcome:
    version_id: int
    status: str
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    error: str = ""


def _embed_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chunk_units_embed(chunks: list[Chunk], embedder) -> None:
    """Each chunk's answer units and their vectors (``documents.ingest.units``), set on the objects."""
    texts: list[str] = []
    for chunk in chunks:
        units = split_units(chunk.text)
        chunk.units = [u.as_list() for u in units]
        heading = chunk.heading_path.split(HEADING_SEPARATOR)[-1] if chunk.heading_path else ""
        texts.extend(unit_embed_text(chunk.text, units, i, heading) for i in range(len(units)))
    vectors = numpy.asarray(embedder.embed_documents(texts) if texts else [], dtype=numpy.float16)
    at = 0
    for chunk in chunks:
        chunk.unit_vectors = vectors[at : at + len(chunk.units)].tobytes()
        at += len(chunk.units)


def _claim(version_id: int) -> DocumentVersion | None:
    """Mark the version as being parsed by us, unless it is done or someone else is on it."""
    with transaction.atomic():
        version = DocumentVersion.objects.select_for_update().select_related("document__collection").get(pk=version_id)
        if version.status in (VersionStatus.READY, VersionStatus.FAILED):
            return None
        if version.status in RUNNING and not version_is_stale(version):
            return None
        now = timezone.now()
        version.status = VersionStatus.PARSING
        version.started_at = now
        version.heartbeat_at = now
        version.error = ""
        version.save(update_fields=["status", "started_at", "heartbeat_at", "error"])
    return version


def _fail(version: DocumentVersion, message: str) -> None:
    DocumentVersion.objects.filter(pk=version.pk).update(
        status=VersionStatus.FAILED, error=message[:2000], finished_at=timezone.now(), heartbeat_at=timezone.now()
    )


class EmbeddingRefused(Exception):
    """The version's collection is marked above what the embedder may be sent."""

    def __init__(self, message: str, marking: str) -> None:
        super().__init__(message)
        self.message, self.marking = message, marking


def _ceiling_facts(marking: str) -> dict:
    return {"refused": "embedding_marking", "marking": marking, "embeddings_max_marking": embedder_max_marking()}


def _check_embedding_ceiling(version: DocumentVersion) -> None:
    """Raise ``EmbeddingRefused`` if the collection, as it is marked now, is above the embedder's ceiling."""
    marking = Collection.objects.filter(pk=version.document.collection_id).values_list("marking", flat=True).get()
    message = embedding_refusal(marking)
    if message:
        raise EmbeddingRefused(message, marking)


def _refuse(version: DocumentVersion, exc: EmbeddingRefused) -> None:
    """Fail the version with the reason and record the refusal, together."""
    with transaction.atomic():
        _fail(version, exc.message)
        audit_record(
            action="curation.version_ingest",
            outcome="refused",
            subject=_subject(version),
            data={
                "collection_id": version.document.collection_id,
                "document_id": version.document_id,
                "version_id": version.pk,
                **_ceiling_facts(exc.marking),
            },
        )
    INGESTION_FAILURES.labels(code="embedding_marking").inc()


def _store_chunks(version: DocumentVersion, drafts: list[ChunkDraft]) -> list[Chunk]:
    """This version's chunks, unsearchable; kept from an earlier attempt if they are the same cut."""
    wanted = [(d.ordinal, d.char_start, d.char_end, _embed_hash(d.embed_text)) for d in drafts]
    with transaction.atomic():
        existing = list(version.chunks.order_by("ordinal"))
        have = [(c.ordinal, c.char_start, c.char_end, c.embed_sha256) for c in existing]
        if have == wanted:
            return existing
        if existing:
            version.chunks.all().delete()
        collection_id = version.document.collection_id
        chunks = [
            Chunk(
                version=version,
                collection_id=collection_id,
                searchable=False,
                ordinal=d.ordinal,
                text=d.text,
                heading_path=HEADING_SEPARATOR.join(d.heading_path)[:1000],
                anchor=d.anchor[:200],
                page=d.page,
                char_start=d.char_start,
                char_end=d.char_end,
                token_count=d.token_count,
                embed_sha256=_embed_hash(d.embed_text),
            )
            for d in drafts
        ]
        return Chunk.objects.bulk_create(chunks, batch_size=500)


def _reuse_embeddings(version: DocumentVersion, pending: list[Chunk], model_id: str) -> int:
    """Copy vectors from the same document's other versions for chunks whose embedded text is unchanged."""
    hashes = {c.embed_sha256 for c in pending}
    if not hashes:
        return 0
    found: dict[str, object] = {}
    for embed_hash, vector, units, unit_vectors in (
        Chunk.objects.filter(
            version__document_id=version.document_id,
            embed_sha256__in=hashes,
            embedding_model=model_id,
            embedding__isnull=False,
            unit_vectors__isnull=False,
        )
        .exclude(version=version)
        .values_list("embed_sha256", "embedding", "units", "unit_vectors")
    ):
        found.setdefault(embed_hash, (vector, units, unit_vectors))
    reused = [c for c in pending if c.embed_sha256 in found]
    for chunk in reused:
        chunk.embedding, chunk.units, chunk.unit_vectors = found[chunk.embed_sha256]
        chunk.embedding_model = model_id
    Chunk.objects.bulk_update(reused, ["embedding", "embedding_model", "units", "unit_vectors"], batch_size=500)
    return len(reused)


def _publish(version: DocumentVersion, title: str) -> bool:
    """One transaction: the version becomes ready and (if newest) current and searchable."""
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=version.document_id)
        version = DocumentVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != VersionStatus.EMBEDDING:
            return False  # another attempt finished it, or someone changed it under us
        if version.chunks.filter(embedding__isnull=True).exists():
            return False
        current = document.current_version
        becomes_current = current is None or current.status != VersionStatus.READY or current.number < version.number
        version.status = VersionStatus.READY
        version.finished_at = timezone.now()
        version.heartbeat_at = version.finished_at
        version.progress_done = version.progress_total
        version.save(update_fields=["status", "finished_at", "heartbeat_at", "progress_done"])
        if becomes_current:
            document.current_version = version
            if title:
                document.title = title[:300]
            document.save(update_fields=["current_version", "title", "updated_at"])
        _refresh_searchable(document)
    return True


def version_ingest(version_id: int) -> IngestOutcome:
    """Parse, chunk, embed and publish one version. Safe to call again: it does only what is left.

    Returns without doing anything if the version is ready or failed, or if another worker is on it
    (its heartbeat is fresh). A ``ParseError`` or any other error fails this version only, with a
    message for the curator; an interrupted process (killed worker) leaves it stale and retryable.
    """
    version = _claim(version_id)
    if version is None:
        current = DocumentVersion.objects.filter(pk=version_id).values_list("status", flat=True).first()
        return IngestOutcome(version_id=version_id, status=current or "missing")
    stage = "reading the file"
    try:
        _check_embedding_ceiling(version)
        with version.file.open("rb") as handle:
            data = handle.read()
        stage = "parsing"
        parsed = parse(data, version.original_filename, limits=parse_limits())
        stage = "chunking"
        drafts = chunk_document(parsed)
        if not drafts:
            raise ParseError("no_text", "No text could be found in the file.")
        chunks = _store_chunks(version, drafts)
        embedder = get_embedder()
        model_id = embedder.model_id
        pending = [c for c in chunks if c.embedding is None or c.embedding_model != model_id]
        stage = "embedding"
        reused = _reuse_embeddings(version, pending, model_id)
        pending = [c for c in pending if c.embedding_model != model_id]
        done = len(chunks) - len(pending)
        DocumentVersion.objects.filter(pk=version.pk).update(
            status=VersionStatus.EMBEDDING,
            title=parsed.title[:300],
            content_type=parsed.content_type,
            page_count=parsed.page_count,
            progress_total=len(chunks),
            progress_done=done,
            heartbeat_at=timezone.now(),
        )
        texts = {d.ordinal: d.embed_text for d in drafts}
        # Similar lengths together: less padding per batch, so faster on CPU.
        pending.sort(key=lambda c: len(texts[c.ordinal]))
        batch_size = settings.HUMPHREY_INGEST_BATCH
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            _check_embedding_ceiling(version)  # the marking may have been raised since the last batch
            vectors = embedder.embed_documents([texts[c.ordinal] for c in batch])
            for chunk, vector in zip(batch, vectors, strict=True):
                chunk.embedding = vector
                chunk.embedding_model = model_id
            chunk_units_embed(batch, embedder)
            with transaction.atomic():
                Chunk.objects.bulk_update(batch, ["embedding", "embedding_model", "units", "unit_vectors"])
                done += len(batch)
                DocumentVersion.objects.filter(pk=version.pk).update(progress_done=done, heartbeat_at=timezone.now())
        stage = "publishing"
        _publish(version, parsed.title)
    except ParseError as exc:
        _fail(version, exc.message)
        INGESTION_FAILURES.labels(code=exc.code).inc()
        return IngestOutcome(version_id=version_id, status=VersionStatus.FAILED, error=exc.message)
    except EmbeddingRefused as exc:
        _refuse(version, exc)
        return IngestOutcome(version_id=version_id, status=VersionStatus.FAILED, error=exc.message)
    except Exception as exc:
        logger.exception("ingestion of version %s failed while %s", version_id, stage)
        message = (
            f"Something went wrong while {stage} ({type(exc).__name__}). "
            "Try again; if it keeps failing, tell the service team."
        )
        _fail(version, message)
        INGESTION_FAILURES.labels(code="internal").inc()
        return IngestOutcome(version_id=version_id, status=VersionStatus.FAILED, error=message)
    status = DocumentVersion.objects.filter(pk=version_id).values_list("status", flat=True).first()
    return IngestOutcome(
        version_id=version_id,
        status=status,
        chunks=len(chunks),
        embedded=len(pending),
        reused=reused,
    )


def chunks_reembed(*, batch_size: int | None = None, progress=None) -> int:
    """Re-embed every chunk whose vector came from another model than the configured one.

    Works from the stored text: title + heading path + text, as the chunker builds it. Each batch
    commits on its own, so an interrupted run resumes where it stopped. Returns the number done.
    Chunks of collections marked above the embedder's ceiling are left as they are
    (``chunks_reembed_refused`` counts them).
    """
    from .ingest import chunk as chunking

    embedder = get_embedder()
    model_id = embedder.model_id
    batch_size = batch_size or settings.HUMPHREY_INGEST_BATCH
    # Filtered by the collections' markings as they are at each batch (one may be raised meanwhile).
    todo = _reembed_todo(model_id).filter(collection__marking__in=_embeddable_markings())
    done = 0
    while True:
        batch = list(todo.select_related("version__document").order_by("pk")[:batch_size])
        if not batch:
            return done
        texts = []
        for chunk in batch:
            title = chunk.version.title or chunk.version.document.title
            path = tuple(p for p in chunk.heading_path.split(HEADING_SEPARATOR) if p)
            texts.append(chunking._embed_text(title, path, chunk.text))
        vectors = embedder.embed_documents(texts)
        for chunk, vector, text in zip(batch, vectors, texts, strict=True):
            chunk.embedding = vector
            chunk.embedding_model = model_id
            chunk.embed_sha256 = _embed_hash(text)
        chunk_units_embed(batch, embedder)
        with transaction.atomic():
            Chunk.objects.bulk_update(batch, ["embedding", "embedding_model", "embed_sha256", "units", "unit_vectors"])
        done += len(batch)
        if progress is not None:
            progress(len(batch))


def _reembed_todo(model_id: str):
    return Chunk.objects.filter(
        ~Q(embedding_model=model_id) | Q(embedding__isnull=True) | Q(unit_vectors__isnull=True)
    ).exclude(version__status__in=[VersionStatus.QUEUED, *RUNNING])


def _embeddable_markings() -> list[str]:
    return [m for m in Marking.values if embeds_marking(m)]


def chunks_reembed_refused() -> tuple[int, str]:
    """How many chunks ``chunks_reembed`` leaves because their collection is above the embedder's
    ceiling, and why ("" when none)."""
    todo = _reembed_todo(get_embedder().model_id).exclude(collection__marking__in=_embeddable_markings())
    count = todo.count()
    if not count:
        return 0, ""
    markings = " and ".join(sorted(set(todo.values_list("collection__marking", flat=True)), key=Marking.rank))
    return count, (
        f"{count} chunk(s) are in {markings} collections; the embedding endpoint is approved up to "
        f"{embedder_max_marking()}, so they are not sent to it."
    )
