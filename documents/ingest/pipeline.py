"""Ingestion: parse -> chunk -> store -> embed -> publish one version (re-embedding: ``reembed``).

``version_ingest`` runs in a worker (queued by ``documents.tasks.version_ingest_task``, or inline by
``ingest --wait``): parse -> chunk -> store chunks unsearchable -> embed in batches (progress and a
heartbeat after each) -> publish in ONE transaction that makes the version current and its chunks
searchable and the previous version's chunks unsearchable. A worker killed part-way leaves a
version that is not searchable and whose heartbeat goes stale, so ``version_retry``
(``documents.services``) may take it up again; the chunks already embedded are kept and not
re-embedded: the same cut keeps its rows, and a chunk whose embedded text another version of the
document already has takes that vector.

A collection marked above the embedder's ceiling (``documents.embeddings``) is never embedded: the
upload is refused (``ceiling_refusal_facts`` says why in its audit event), and ingestion and
re-embedding check again before each batch, in case the marking was raised meanwhile.

Each chunk's answer units are embedded beside it (``chunk_units_embed``), so a question never has to.

A review date in the file itself (Markdown front matter ``review_by:``, a DOCX custom property) is kept
on the version (``file_review_date``). Publishing a new current version clears a document's review
date that only confirmed the previous version still correct (``review_by_source`` "reviewed"), and
one a curator set that has passed (a new version is new guidance: the file's date or the
collection's period applies again); a curator's date still ahead stays. ``document_searchable_refresh``
then copies the document's expiry onto its chunks.

Passages a curator switched off in the version before stay switched off in the new one where their
text is unchanged (``services.passages.version_exclusions_carry``), in the same transaction.

A version that fails tells curators why in plain words. What an operator needs is kept out of their
sight: a file a reader could not open is logged with the library's own error class
(``parse_error_cause``: ``PdfStreamError`` and the like; never the file's contents), and a failure of
ours ("Something went wrong while ...", ``error_code`` "internal") is logged with its traceback and
audited (``curation.version_ingest``, outcome "failed") with its stage and exception class.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

import numpy
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import audit_record
from humphrey.metrics import INGESTION_FAILURES

from ..embeddings import embedder_max_marking, embedding_refusal, get_embedder
from ..lifecycle import RUNNING, document_searchable_refresh, version_is_stale
from ..models import Chunk, Collection, Document, DocumentVersion, VersionStatus
from ..subjects import audit_subject
from .chunk import READ_RULE, chunk_document
from .formats.word import docx_review_by
from .parse import CONTENT_TYPES, OcrOptions, ParseError, ParseLimits, parse, title_from_filename
from .types import ChunkDraft, ParsedDocument, review_date_value
from .units import RULE as UNITS_RULE
from .units import embed_text as unit_embed_text
from .units import split_units

logger = logging.getLogger(__name__)

# How a chunk's heading path is stored in one text column (and split again to rebuild its embed text).
HEADING_SEPARATOR = " > "


def parse_limits() -> ParseLimits:
    """What one file may cost to parse, from settings."""
    return ParseLimits(
        max_bytes=settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024,
        max_pages=settings.HUMPHREY_INGEST_MAX_PAGES,
        max_uncompressed_bytes=settings.HUMPHREY_INGEST_MAX_UNCOMPRESSED_MB * 1024 * 1024,
        ocr=OcrOptions(
            enabled=settings.HUMPHREY_OCR,
            languages=settings.HUMPHREY_OCR_LANGUAGES,
            dpi=settings.HUMPHREY_OCR_DPI,
            page_timeout=settings.HUMPHREY_OCR_PAGE_TIMEOUT,
            min_confidence=settings.HUMPHREY_OCR_MIN_CONFIDENCE,
        ),
    )


def _ocr_progress(version_id: int):
    """While parsing, the progress columns count the scanned pages read by OCR; each page is also a
    heartbeat, so a long OCR is not taken for a stalled worker."""

    def progress(done: int, total: int) -> None:
        DocumentVersion.objects.filter(pk=version_id, status=VersionStatus.PARSING).update(
            progress_done=done, progress_total=total, heartbeat_at=timezone.now()
        )

    return progress


def file_review_date(parsed: ParsedDocument, data: bytes) -> dt.date | None:
    """The review date the file gives itself: front matter ``review_by:`` (Markdown) or a custom
    property (DOCX, ``documents.ingest.formats.word.docx_review_by``); None for other formats."""
    if parsed.content_type == CONTENT_TYPES["docx"]:
        return docx_review_by(data, parse_limits())
    return review_date_value(parsed.metadata.get("review_by"))


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


# What ``chunk_units_embed`` sets on a chunk: saved together wherever units are made or copied.
UNIT_FIELDS = ("units", "unit_vectors", "units_rule")


def chunk_units_embed(chunks: list[Chunk], embedder) -> None:
    """Each chunk's answer units and their vectors (``documents.ingest.units``), set on the objects."""
    texts: list[str] = []
    for chunk in chunks:
        units = split_units(chunk.text)
        chunk.units = [u.as_list() for u in units]
        chunk.units_rule = UNITS_RULE
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
        version.error = version.error_code = ""
        version.progress_done = version.progress_total = 0  # an earlier attempt's count means nothing now
        version.save(
            update_fields=[
                "status",
                "started_at",
                "heartbeat_at",
                "error",
                "error_code",
                "progress_done",
                "progress_total",
            ]
        )
    return version


def parse_error_cause(exc: ParseError) -> str:
    """The class name of the library error behind a reader's refusal (``PdfStreamError``,
    ``BadZipFile``), or "" when the refusal is ours alone (an empty file, no text). The readers raise
    ``ParseError(...) from None`` so curators never see it; Python keeps it as the context all the same."""
    seen, hops = exc.__context__, 0
    while isinstance(seen, ParseError) and hops < 10:  # a refusal re-raised in other words
        seen, hops = seen.__context__, hops + 1
    return type(seen).__name__ if seen is not None and not isinstance(seen, ParseError) else ""


def _fail(version: DocumentVersion, message: str, code: str) -> None:
    DocumentVersion.objects.filter(pk=version.pk).update(
        status=VersionStatus.FAILED,
        error=message[:2000],
        error_code=code,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )


class EmbeddingRefused(Exception):
    """The version's collection is marked above what the embedder may be sent."""

    def __init__(self, message: str, marking: str) -> None:
        super().__init__(message)
        self.message, self.marking = message, marking


def ceiling_refusal_facts(marking: str) -> dict:
    """The audit facts of a refusal at the embedder's ceiling (the upload's and the worker's alike)."""
    return {"refused": "embedding_marking", "marking": marking, "embeddings_max_marking": embedder_max_marking()}


def _check_embedding_ceiling(version: DocumentVersion) -> None:
    """Raise ``EmbeddingRefused`` if the collection, as it is marked now, is above the embedder's ceiling."""
    marking = Collection.objects.filter(pk=version.document.collection_id).values_list("marking", flat=True).get()
    message = embedding_refusal(marking)
    if message:
        raise EmbeddingRefused(message, marking)


def _fail_recorded(version: DocumentVersion, message: str, code: str, outcome: str, **facts) -> None:
    """Fail the version with ``message`` and record it (``curation.version_ingest``, ``outcome``, the
    version's ids and ``facts``), together."""
    with transaction.atomic():
        _fail(version, message, code)
        audit_record(
            action=Action.VERSION_INGEST,
            outcome=outcome,
            subject=audit_subject(version),
            data={
                "collection_id": version.document.collection_id,
                "document_id": version.document_id,
                "version_id": version.pk,
                **facts,
            },
        )


def _refuse(version: DocumentVersion, exc: EmbeddingRefused) -> None:
    """Fail the version with the reason and record the refusal, together."""
    _fail_recorded(version, exc.message, "embedding_marking", "refused", **ceiling_refusal_facts(exc.marking))
    INGESTION_FAILURES.labels(code="embedding_marking").inc()


def _fail_internal(version: DocumentVersion, stage: str, exc: Exception) -> str:
    """Fail the version for an error of ours, said to curators in plain words (the stage it reached,
    never the exception), and record the stage and the exception's class (for the operator; not its
    message, which may quote the file) in a ``curation.version_ingest`` event, together. Returns the
    message."""
    message = f"Something went wrong while {stage}. Try again; if it keeps failing, tell the service team."
    _fail_recorded(
        version, message, "internal", "failed", error_code="internal", stage=stage, exception=type(exc).__name__
    )
    return message


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
    for embed_hash, vector, units, unit_vectors, units_rule in (
        Chunk.objects.filter(
            version__document_id=version.document_id,
            embed_sha256__in=hashes,
            embedding_model=model_id,
            embedding__isnull=False,
            unit_vectors__isnull=False,
        )
        .exclude(version=version)
        .values_list("embed_sha256", "embedding", "units", "unit_vectors", "units_rule")
    ):
        found.setdefault(embed_hash, (vector, units, unit_vectors, units_rule))
    reused = [c for c in pending if c.embed_sha256 in found]
    for chunk in reused:
        chunk.embedding, chunk.units, chunk.unit_vectors, chunk.units_rule = found[chunk.embed_sha256]
        chunk.embedding_model = model_id
    Chunk.objects.bulk_update(reused, ["embedding", "embedding_model", *UNIT_FIELDS], batch_size=500)
    return len(reused)


def _attachments_upload(version: DocumentVersion, parsed: ParsedDocument) -> None:
    """Each file an email carried (``ParsedDocument.attachments``), uploaded as a document of its own in
    the message's collection, named after the message (``message.eml › file.pdf``; the parser names
    two of one name apart, "file (2).pdf", so neither becomes a version of the other) and linked to it
    (``Document.attached_to``) so the two are found together; queued for ingestion like any upload.
    The same bytes again (the message re-ingested) make no new version. One attachment that cannot be
    stored does not fail the message."""
    # Imported here: the services queue work for this pipeline, so this module may not import them first.
    from ..services.documents import document_upload

    collection = Collection.objects.get(pk=version.document.collection_id)
    for attachment in parsed.attachments:
        if not attachment.data:  # nothing to read (an upload would refuse it)
            continue
        try:
            stored = document_upload(
                collection=collection, filename=attachment.filename, data=attachment.data, user=version.uploaded_by
            )
            Document.objects.filter(pk=stored.document_id).exclude(attached_to_id=version.document_id).update(
                attached_to_id=version.document_id
            )
        except ValidationError as exc:  # refused outright (nothing stored); the refusal is audited
            logger.info("an attachment of version %s was refused: %s", version.pk, "; ".join(exc.messages))
        except Exception:
            logger.exception("an attachment of version %s could not be stored", version.pk)


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
        cleared, cleared_source, previous_current_id = None, "", document.current_version_id
        if becomes_current:
            document.current_version = version
            if title and not document.title_set_by_curator:  # a curator's correction outlives new versions
                document.title = title[:300]
            fields = ["current_version", "title", "updated_at"]
            if review_date_lapses(document):
                cleared, cleared_source = document.review_by, document.review_by_source
                document.review_by, document.review_by_source = None, ""
                fields += ["review_by", "review_by_source"]
            document.save(update_fields=fields)
        # Imported here: the services queue work for this pipeline, so this module may not import them first.
        from ..services.passages import version_exclusions_carry

        version_exclusions_carry(version=version)  # before the refresh, which leaves them unsearched
        document_searchable_refresh(document)  # and the expiry, from the (new) current version
        if cleared is not None:
            audit_record(
                action=Action.DOCUMENT_REVIEW,
                outcome="confirmation_cleared" if cleared_source == "reviewed" else "date_cleared",
                subject=audit_subject(document),
                data={
                    "collection_id": document.collection_id,
                    "document_id": document.pk,
                    "version_id": version.pk,
                    "previous_version_id": previous_current_id,
                    "previous_review_by": cleared.isoformat(),
                    "previous_review_by_source": cleared_source,
                },
            )
    return True


def review_date_lapses(document: Document, *, today: dt.date | None = None) -> bool:
    """Whether a new current version clears ``document``'s own review date: a confirmation ("reviewed,
    still correct") vouched for the version before only; a curator's date that has passed was about
    the guidance being replaced (kept, the document would stay overdue or expired however new its
    text). A curator's date still ahead is kept."""
    if document.review_by is None:
        return False
    if document.review_by_source == "reviewed":
        return True
    return document.review_by < (today or timezone.localdate())


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
        parsed = parse(data, version.original_filename, limits=parse_limits(), progress=_ocr_progress(version.pk))
        title = parsed.title
        source_name = version.document.source_name
        if version.original_filename != source_name and title == title_from_filename(version.original_filename):
            # A file uploaded as this document's new version under another name ("… v2.docx"), with no
            # title of its own: the document keeps the name its own file gives, not the new file's.
            title = title_from_filename(source_name)
        stage = "chunking"
        drafts = chunk_document(parsed)
        if not drafts:
            raise ParseError("no_text", "No text could be found in the file.")
        review_by = file_review_date(parsed, data)
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
            title=title[:300],
            content_type=parsed.content_type,
            page_count=parsed.page_count,
            read_rule=READ_RULE,
            review_by=review_by,
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
                Chunk.objects.bulk_update(batch, ["embedding", "embedding_model", *UNIT_FIELDS])
                done += len(batch)
                DocumentVersion.objects.filter(pk=version.pk).update(progress_done=done, heartbeat_at=timezone.now())
        stage = "publishing"
        if _publish(version, title) and parsed.attachments:
            stage = "queueing its attachments"
            _attachments_upload(version, parsed)
    except ParseError as exc:
        # Curators read ``exc.message``; which library error was behind it is for the operator.
        cause = parse_error_cause(exc)
        logger.log(
            logging.WARNING if cause else logging.INFO,
            "version %s could not be read: %s (%s)",
            version_id,
            exc.code,
            cause or "no library error",
        )
        _fail(version, exc.message, exc.code)
        INGESTION_FAILURES.labels(code=exc.code).inc()
        return IngestOutcome(version_id=version_id, status=VersionStatus.FAILED, error=exc.message)
    except EmbeddingRefused as exc:
        _refuse(version, exc)
        return IngestOutcome(version_id=version_id, status=VersionStatus.FAILED, error=exc.message)
    except Exception as exc:
        logger.exception("ingestion of version %s failed while %s: %s", version_id, stage, type(exc).__name__)
        message = _fail_internal(version, stage, exc)
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
