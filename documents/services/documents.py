"""Documents and their versions: upload, retitle, retire, retry, and whether a version's ingestion
has stalled or failed for good.

Names are ``<entity>_<action>``. Each change records an audit event (``curation.<what>``) last in the
same transaction, so both happen or neither does, and keeps ``Chunk.searchable`` right
(``documents.lifecycle``). An upload is queued for ``documents.ingest.pipeline.version_ingest``
(the worker's ``documents.tasks.version_ingest_task``) once the transaction commits.

A new document's owner (who is reminded of its review date) is its first uploader, until a curator
changes it (``review.document_review_set``). Its title is the one its current version's file gives
(``ingest.parse.title_or_filename``), until a curator changes it (``document_title_set``).

An upload never brings a retired document back by itself: someone retired it on purpose. The same
file changes nothing; another is stored and read as its next version, not searched; the uploader is
told (``kept_retired`` on the returned version). A curator restores it from its page
(``document_restore``, ``curation.document_restore``): its newest ready version is searched again at
once, no file needed. The one exception is a synced source bringing back a document it retired
itself (its page or file was gone, and is back: ``documents.sources.sync``); one a person retired
stays retired whatever the source reads.

A new version of a document whose curator-set review date has passed clears that date once it is
ready (``ingest.pipeline.review_date_lapses``); the upload says so beforehand
(``review_date_clears`` on the returned version).

A file refused outright (``document_upload_refuse``: empty, too large, of a type never read, not what
its name says, password-protected, carrying macros, a zip bomb) is never stored: no document is made
for it and no version added to the document of its name; the uploader is told why, and the audit
event (``curation.document_upload``, outcome "refused") says so. Only a file that holds content
becomes a version. One that fails later, when it is read (damaged, no text in it), leaves a document
with nothing in it: ``document_remove`` and ``collection_never_read_clear`` take those away
(``Document.objects.never_read``).

A file whose bytes (SHA-256) are those of another active document's current version in the same
collection, or of its newest upload still being read, is refused the same way (code ``same_file``,
naming that document): readers would be quoted the same passages twice. The same bytes in another
collection, or in a retired document, are taken.

A file may be uploaded as the next version of a chosen document whatever its name
(``document_upload(document=...)``, the document's page): the version records the file's own name,
the document keeps its name, and the upload's audit event says ``chosen_document``.

A collection marked above the embedder's ceiling (``documents.embeddings``) takes no new upload: the
version fails with the reason, its file kept, so it can be retried once the embedder may take it.
"""

# Over 500 lines on purpose: a document's changes (upload, new version, retitle, retire, restore,
# remove, retry) each lock the same rows and write their audit event in the same transaction; split,
# each part would re-import the others' locking and refusal helpers.

from __future__ import annotations

import hashlib
import logging
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from audit.actions import Action, subject
from audit.models import AuditEvent
from audit.services import audit_record

from ..embeddings import embedding_refusal
from ..ingest.parse import (
    CONTENT_TYPES,
    LASTING_CODES,
    ParseError,
    lasting_refusal,
    sniff,
    stored_copy,
    title_from_filename,
    title_or_filename,
)
from ..ingest.pipeline import ceiling_refusal_facts, parse_error_cause, parse_limits, review_date_lapses
from ..lifecycle import document_searchable_refresh, version_is_stale
from ..models import Chunk, Collection, Document, DocumentVersion, VersionStatus
from ..subjects import audit_subject
from ..tasks import version_ingest_task
from ..text import invisible_removed

logger = logging.getLogger(__name__)


def _enqueue(version_id: int) -> None:
    result = version_ingest_task.enqueue(version_id)
    DocumentVersion.objects.filter(pk=version_id).update(task_id=str(result.id)[:64])


def document_source_name(filename: str) -> str:
    """The name a document is known by in its collection: the file's name without its folder, and
    without characters nobody can see (a direction override would make it read as another name)."""
    return invisible_removed(PurePath(filename.replace("\\", "/")).name).strip()[:255]


def too_large_message(size_bytes: int) -> str:
    return (
        f"The file is {size_bytes / (1024 * 1024):.1f} MB; the most we accept is {settings.HUMPHREY_MAX_UPLOAD_MB} MB."
    )


def document_upload_refuse(
    *,
    collection: Collection,
    filename: str,
    user,
    code: str,
    message: str,
    size_bytes: int,
    sha256: str = "",
    via: dict | None = None,
    document: Document | None = None,
    facts: dict | None = None,
) -> ValidationError:
    """Record that an upload was refused before it held content (nothing is stored, no document made
    or changed) and return the ``ValidationError`` (with ``code``) that tells the uploader why.

    The audit event is about ``document`` (the one the file was chosen as a new version of), else the
    document of that name if there is one, else the collection; ``facts`` are added to its data. It is
    committed whatever the caller does next (raise the error, or report it and go on)."""
    name = document_source_name(filename)
    if document is not None:
        document_id = document.pk
    else:
        document_id = (
            Document.objects.filter(collection=collection, source_name=name).values_list("pk", flat=True).first()
        )
    with transaction.atomic():
        audit_record(
            action=Action.DOCUMENT_UPLOAD,
            actor=user,
            subject=subject("document", document_id) if document_id else audit_subject(collection),
            outcome="refused",
            data={
                "collection_id": collection.pk,
                "document_id": document_id,
                "filename": name,
                "size_bytes": size_bytes,
                **({"sha256": sha256} if sha256 else {}),
                "refused": code,
                "reason": message,
                **({"chosen_document": True} if document is not None else {}),
                **(facts or {}),
                **(via or {}),
            },
        )
    return ValidationError(message, code=code)


def _same_file_elsewhere(
    *, collection: Collection, digest: str, name: str, document: Document | None
) -> DocumentVersion | None:
    """The version of another active document of ``collection`` that holds exactly these bytes and is
    what readers are (or are about to be) quoted: its current version, or its newest upload still
    being read, which becomes current once ready. None when there is none, or when the upload's own
    document (``document``, else the one named ``name``) has these bytes as its newest version: that
    upload changes nothing, and is said to be unchanged. A retired document, an older version, or
    another collection's document does not count: nobody is quoted those twice."""
    own = document or Document.objects.filter(collection=collection, source_name=name).first()
    if own is not None and own.versions.order_by("-number").values_list("sha256", flat=True).first() == digest:
        return None
    found = (
        DocumentVersion.objects.filter(document__collection=collection, document__is_active=True, sha256=digest)
        .filter(
            Q(document__current_version=F("pk"))
            | (
                ~Q(status=VersionStatus.FAILED)
                & (Q(document__current_version__isnull=True) | Q(number__gt=F("document__current_version__number")))
            )
        )
        .select_related("document")
        .order_by("document__created_at", "document_id", "-number")
    )
    if own is not None:
        found = found.exclude(document=own)
    return found.first()


def same_file_message(name: str, other: Document) -> str:
    """What the uploader of ``name`` is told when ``other`` already holds the same bytes."""
    return f"{name} is the same file as {other.title} ({other.source_name}), already in this collection: not added."


def _refusal(name: str, data: bytes) -> ParseError | None:
    """Why this file is refused before anything of it is stored, or None: it is empty or too large,
    or reading it would fail whatever is tried (``ingest.parse.lasting_refusal``: a type never read,
    content not what the name says, password-protected, macros by name). Cheap: nothing is parsed."""
    if not data:  # it could only fail
        return ParseError("empty", "The file is empty.")
    if len(data) > settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024:
        return ParseError("too_large", too_large_message(len(data)))
    return lasting_refusal(data, name)


def document_upload(
    *,
    collection: Collection,
    filename: str,
    data: bytes,
    user,
    enqueue: bool = True,
    via: dict | None = None,
    again: bool = False,
    document: Document | None = None,
) -> DocumentVersion:
    """Store an upload as a new version of the document with that file name, queued for ingestion;
    with ``document`` (which must be of ``collection``), as the next version of that document whatever
    the file's name (the version records the file's name; the document keeps its own).

    The same bytes as the document's latest version are recognised by SHA-256: that version is
    returned (with ``duplicate = True``) and nothing is stored or embedded again. A file refused
    before it holds content (empty, too large, of a type never read, not what its name says,
    password-protected, carrying macros, a zip bomb, or the same bytes as another active document of
    the collection: ``same_file``) raises ``ValidationError`` with the refusal's
    code, having stored nothing: no document is made for it, none changed, and the refusal is
    audited (``document_upload_refuse``). An Office or OpenDocument file is kept with its embedded
    objects emptied (``ingest.formats.disarm``), an .eml with its attachments of types never read
    emptied (``ingest.formats.mail.strip_unread``). With ``enqueue`` the ingestion task is queued once
    the transaction commits; without it the caller runs ``version_ingest`` itself (the ``ingest
    --wait`` command does).
    ``via`` names where the file came from when no person uploaded it (a synced source), in the audit.
    ``again``: a new version even of the same bytes (``reread``: today's readers make other text of it).
    On the returned version: ``restored``, it brought its retired document back (only a synced source
    bringing back what it retired itself does: ``_restored_by_upload``); ``kept_retired``, its
    document is retired and stays so (nothing of the file is searched); ``review_date_clears``, the
    curator's review date that has passed and that this version clears once it is ready (else None).
    """
    name = document_source_name(filename)
    if document is not None and document.collection_id != collection.pk:
        raise ValueError("the chosen document is not in this collection")
    if not name:
        raise ValidationError("The file has no name.")
    if not collection.is_active:
        raise ValidationError("This collection is retired: no documents can be added to it.")
    refusal = _refusal(name, data)
    stored, emptied = data, ()
    if refusal is None:  # what could run is never kept: macros and zip bombs refused, embedded objects emptied
        try:
            stored, emptied = stored_copy(data, parse_limits())
        except ParseError as exc:
            # The curator is told in plain words; the library's own error is for the operator.
            logger.info(
                "an upload to collection %s was refused: %s (%s)",
                collection.pk,
                exc.code,
                parse_error_cause(exc) or "no library error",
            )
            refusal = exc
    if refusal is not None:
        raise document_upload_refuse(
            collection=collection,
            filename=name,
            user=user,
            code=refusal.code,
            message=refusal.message,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest() if data else "",
            via=via,
            document=document,
        )
    digest = hashlib.sha256(data).hexdigest()
    # A copy under another name ("passwords copy (2).docx") would be a second document quoting the
    # same passages. A re-read (``again``) is the document's own file read anew, never a copy.
    same = None if again else _same_file_elsewhere(collection=collection, digest=digest, name=name, document=document)
    if same is not None:
        raise document_upload_refuse(
            collection=collection,
            filename=name,
            user=user,
            code="same_file",
            message=same_file_message(name, same.document),
            size_bytes=len(data),
            sha256=digest,
            via=via,
            document=document,
            facts={"same_as_document_id": same.document_id, "same_as_version_id": same.pk},
        )
    # Refused before anything is sent; the file is kept so it can be retried under another embedder.
    above_ceiling = embedding_refusal(collection.marking)
    chosen = document is not None
    with transaction.atomic():
        if chosen:
            document, created = Document.objects.select_for_update().get(pk=document.pk), False
        else:
            owner = (getattr(user, "email", "") or "") if getattr(user, "is_authenticated", False) else ""
            document, created = Document.objects.select_for_update().get_or_create(
                collection=collection,
                source_name=name,
                defaults={"title": title_from_filename(name)[:300], "owner_email": owner},
            )
        latest = document.versions.order_by("-number").first()
        restored = False
        restores = not document.is_active and _restored_by_upload(document, via)
        if latest is not None and latest.sha256 == digest and not again:
            if restores:
                document.is_active, document.retired_at = True, None
                document.save(update_fields=["is_active", "retired_at", "updated_at"])
                document_searchable_refresh(document)
                restored = True
                audit_record(
                    action=Action.DOCUMENT_RESTORE,
                    actor=user,
                    subject=audit_subject(document),
                    data={"collection_id": collection.pk, "document_id": document.pk, "version_id": latest.pk},
                )
            latest.duplicate = True
            latest.restored = restored
            latest.kept_retired = not document.is_active
            latest.review_date_clears = None
            return latest
        if restores and not above_ceiling:
            # Searched again once this version is ready (publishing refreshes its chunks), not before:
            # a document retired for being wrong is not put back while its correction is read.
            document.is_active, document.retired_at = True, None
            document.save(update_fields=["is_active", "retired_at", "updated_at"])
            restored = True
        number = (document.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        kind = sniff(data)
        version = DocumentVersion(
            document=document,
            number=number,
            original_filename=name,
            sha256=digest,
            size_bytes=len(data),
            content_type=CONTENT_TYPES.get(kind, "") if kind else "",
            uploaded_by=user if getattr(user, "is_authenticated", False) else None,
        )
        if above_ceiling:
            version.status = VersionStatus.FAILED
            version.error, version.error_code = above_ceiling, "embedding_marking"
            version.finished_at = timezone.now()
        version.emptied_parts = list(emptied)
        version.file.save(name, ContentFile(stored), save=False)
        version.save()
        audit_record(
            action=Action.DOCUMENT_UPLOAD,
            actor=user,
            subject=audit_subject(version),
            outcome="refused" if above_ceiling else "queued",
            data={
                "collection_id": collection.pk,
                "document_id": document.pk,
                "version_id": version.pk,
                "version": number,
                "filename": name,
                "sha256": digest,
                "size_bytes": len(data),
                "new_document": created,
                **({"chosen_document": True, "document_filename": document.source_name} if chosen else {}),
                "restored": restored,
                **({"document_retired": True} if not document.is_active else {}),
                **(via or {}),
                **(ceiling_refusal_facts(collection.marking) if above_ceiling else {}),
                **({"emptied_parts": list(emptied)} if emptied else {}),
            },
        )
        if restored:
            audit_record(
                action=Action.DOCUMENT_RESTORE,
                actor=user,
                subject=audit_subject(document),
                data={
                    "collection_id": collection.pk,
                    "document_id": document.pk,
                    "version_id": version.pk,
                    "new_version": True,
                },
            )
        if enqueue and not above_ceiling:
            transaction.on_commit(lambda: _enqueue(version.pk))
    version.duplicate = False
    version.restored = restored
    version.kept_retired = not document.is_active
    version.review_date_clears = (
        document.review_by
        if not above_ceiling and document.review_by_source != "reviewed" and review_date_lapses(document)
        else None
    )
    return version


def _restored_by_upload(document: Document, via: dict | None) -> bool:
    """Whether this upload brings the retired ``document`` back: only when a synced source uploads it
    (``via`` names the source) and no person retired it, its source did (the page or file was gone
    for the grace period: its retirement's audit event has no actor). A person's upload never does;
    nor does a source's, of a document a person retired."""
    if not via or "source_id" not in via:
        return False
    retired_by = (
        AuditEvent.objects.filter(action=Action.DOCUMENT_RETIRE, subject=audit_subject(document))
        .order_by("-seq")
        .values_list("actor_id", flat=True)[:1]
    )
    return list(retired_by) == [None]


def document_restorable_version(document: Document) -> DocumentVersion | None:
    """The version restoring ``document`` would bring back: its newest ready version (with its
    uploader), None when no upload of it was ever read."""
    return (
        DocumentVersion.objects.filter(document=document, status=VersionStatus.READY)
        .select_related("uploaded_by")
        .order_by("-number")
        .first()
    )


def document_restore(*, document: Document, user) -> Document:
    """Bring back a retired document, as the curator chose on its page: its newest ready version
    becomes current and is searched again as this commits (unless its review date has expired or
    every passage is switched off: then it is back, and not searched, and its page says why). No file
    is needed. Audited as ``curation.document_restore``. Raises ``ValidationError`` when it is not
    retired, its collection is, or no upload of it was ever read (nothing to search: upload it)."""
    with transaction.atomic():
        document = Document.objects.select_for_update(of=("self",)).select_related("collection").get(pk=document.pk)
        if document.is_active:
            raise ValidationError("This document is not retired: it is already in its collection.", code="active")
        if not document.collection.is_active:
            raise ValidationError("Its collection is retired: restore the collection's documents there.")
        version = document_restorable_version(document)
        if version is None:
            raise ValidationError(
                "No upload of this document could be read, so there is nothing to search: upload its file again.",
                code="never_read",
            )
        retired_at = document.retired_at
        document.is_active, document.retired_at = True, None
        fields = ["is_active", "retired_at", "updated_at"]
        if document.current_version_id != version.pk:
            document.current_version = version
            fields.append("current_version")
        document.save(update_fields=fields)
        document_searchable_refresh(document)
        audit_record(
            action=Action.DOCUMENT_RESTORE,
            actor=user,
            subject=audit_subject(document),
            data={
                "collection_id": document.collection_id,
                "document_id": document.pk,
                "version_id": version.pk,
                "version": version.number,
                "retired_at": retired_at.isoformat() if retired_at else None,
            },
        )
    return document


def document_title_set(*, document: Document, user, title: str) -> Document:
    """Name ``document`` as a curator chose; new versions keep that name (``pipeline._publish``). An
    empty ``title`` gives it back the title its current version's file gives, or one from its file
    name. The same title as now changes nothing, so saving the owner does not pin the title."""
    title = " ".join((title or "").split())[:300]
    with transaction.atomic():
        document = (
            Document.objects.select_for_update(of=("self",)).select_related("current_version").get(pk=document.pk)
        )
        by_curator = bool(title)
        if not by_curator:
            if not document.title_set_by_curator:
                return document
            parsed = document.current_version.title if document.current_version else ""
            title = title_or_filename(parsed, document.source_name)[:300]
        elif title == document.title:
            return document
        previous = document.title
        document.title, document.title_set_by_curator = title, by_curator
        document.save(update_fields=["title", "title_set_by_curator", "updated_at"])
        audit_record(
            action=Action.DOCUMENT_REVIEW,
            actor=user,
            outcome="title_set" if by_curator else "title_from_file",
            subject=audit_subject(document),
            data={
                "collection_id": document.collection_id,
                "document_id": document.pk,
                "version_id": document.current_version_id,
                "changed": ["title"],
                "title_set_by_curator": by_curator,
            },
            content={"title": title, "previous_title": previous},
        )
    return document


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
            action=Action.DOCUMENT_RETIRE,
            actor=user,
            subject=audit_subject(document),
            data={"collection_id": document.collection_id, "document_id": document.pk, "chunks_hidden": hidden},
        )
    return document


def _files_delete(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        try:
            default_storage.delete(name)
        except OSError:  # the rows are gone; a file left behind is only disk space
            logger.warning("a removed document's file %s could not be deleted", name, exc_info=True)


def document_remove(*, document: Document, user) -> bool:
    """Take away a document that never held content (``Document.objects.never_read``: every upload of
    it failed), with its failed versions and their kept files, as if it had never been uploaded: it
    was never searched or quoted, so nothing needs it. Audited (``curation.document_remove``) with its
    versions and why each failed. False, changing nothing, when it no longer
    qualifies (a version is being read again, or one became ready): such a document is retired instead.
    Call it inside a transaction to remove several at once."""
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document.pk).first()
        if document is None:
            return False
        # Locked too, so a retry taking one up meanwhile either waits for this or is seen here.
        versions = list(DocumentVersion.objects.select_for_update().filter(document=document).order_by("number"))
        if not Document.objects.never_read().filter(pk=document.pk).exists():
            return False
        files = [v.file.name for v in versions if v.file]
        Chunk.objects.filter(version__document=document).delete()  # an attempt cut them, never searchable
        DocumentVersion.objects.filter(document=document).delete()
        document_id = document.pk
        document.delete()
        audit_record(
            action=Action.DOCUMENT_REMOVE,
            actor=user,
            subject=subject("document", document_id),
            data={
                "collection_id": document.collection_id,
                "document_id": document_id,
                "filename": document.source_name,
                "never_read": True,
                "versions": [
                    {"version_id": v.pk, "version": v.number, "sha256": v.sha256, "error_code": v.error_code}
                    for v in versions
                ],
            },
        )
        transaction.on_commit(lambda: _files_delete(files))
    return True


def collection_never_read_clear(*, collection: Collection, user, document_ids=None) -> list[Document]:
    """Remove, in one transaction, the collection's documents that never held content
    (``document_remove``), or those of ``document_ids`` among them (what the curator was shown).
    Returns those removed (unsaved copies, for their names)."""
    documents = Document.objects.filter(collection=collection).never_read().order_by("title", "pk")
    if document_ids is not None:
        documents = documents.filter(pk__in=list(document_ids))
    removed = []
    with transaction.atomic():
        for document in documents:
            if document_remove(document=document, user=user):
                removed.append(document)
    return removed


def version_lasting_refusal(version: DocumentVersion) -> str:
    """Why trying this failed version again would fail it the same way (its file is empty, mislabelled,
    of a type never read, or password-protected: ``ingest.parse.lasting_refusal``); "" when it might
    work (an embedder or worker failure, a collection above the embedder's ceiling).

    Judged from the failure's recorded code; for a version failed before codes were recorded, from the
    kept file (never from the message's wording)."""
    if version.status != VersionStatus.FAILED:
        return ""
    if version.error_code:
        return version.error if version.error_code in LASTING_CODES else ""
    if not version.file:
        return ""
    try:
        with version.file.open("rb") as handle:
            data = handle.read()
    except OSError:
        return ""  # a retry says what is wrong with the storage
    refusal = lasting_refusal(data, version.original_filename)
    return refusal.message if refusal else ""


def version_can_retry(version: DocumentVersion, *, lasting: str | None = None) -> bool:
    """Whether a retry could finish the version: failed for a reason that may pass, or stalled.
    ``lasting``: ``version_lasting_refusal(version)`` when the caller already has it."""
    if not version.file:
        return False
    if version.status == VersionStatus.FAILED:
        return not (version_lasting_refusal(version) if lasting is None else lasting)
    return version_is_stale(version)


def version_retry(*, version: DocumentVersion, user, enqueue: bool = True) -> DocumentVersion:
    """Queue a failed (or stalled) version again. Chunks it already embedded are kept."""
    with transaction.atomic():
        version = DocumentVersion.objects.select_for_update().select_related("document").get(pk=version.pk)
        lasting = version_lasting_refusal(version)
        if not version_can_retry(version, lasting=lasting):
            if not version.file:
                raise ValidationError("This version's file was not kept (it was too large), so upload it again.")
            if lasting:
                raise ValidationError(f"Trying again will not fix this. {lasting}")
            raise ValidationError("Only a failed version, or one whose ingestion has stalled, can be retried.")
        previous = version.status
        version.status = VersionStatus.QUEUED
        version.error = version.error_code = ""
        version.heartbeat_at = None
        version.finished_at = None
        version.save(update_fields=["status", "error", "error_code", "heartbeat_at", "finished_at"])
        audit_record(
            action=Action.VERSION_RETRY,
            actor=user,
            subject=audit_subject(version),
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
