"""Ingestion services: versions, duplicates, searchability, bad input, crash and retry, audit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from documents import services
from documents.embeddings import FakeEmbeddings
from documents.models import Chunk, DocumentVersion, VersionStatus
from tests.documents.files import make_pdf, upload_and_ingest, upload_refused

pytestmark = pytest.mark.django_db

FILLER = "Ask your line manager first, keep every receipt, and claim through the finance system. " * 5
GUIDE_V1 = (
    f"# Travel\n\nBook rail through the travel desk. {FILLER}\n\n## Mileage\n\nMileage is paid at 45p a mile. "
    f"{FILLER}\n\n## Hotels\n\nHotels in London are capped at 150 pounds a night. {FILLER}\n"
)
GUIDE_V2 = GUIDE_V1.replace("45p", "50p")


def searchable_texts(collection) -> list[str]:
    return list(Chunk.objects.filter(collection=collection, searchable=True).values_list("text", flat=True))


def test_upload_and_ingest_makes_a_searchable_current_version(make_collection, curator):
    """A new document is parsed, chunked, embedded and published: its chunks become searchable."""
    collection = make_collection()
    version = upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    assert version.status == VersionStatus.READY
    assert version.document.current_version_id == version.pk
    assert version.document.title == "Travel"
    assert version.progress_total > 0 and version.progress_done == version.progress_total
    assert version.content_type == "text/markdown"
    chunks = list(version.chunks.all())
    assert chunks and all(c.searchable and c.collection_id == collection.pk for c in chunks)
    assert all(c.embedding_model == FakeEmbeddings.model_id and c.embedding is not None for c in chunks)
    assert any("45p a mile" in t for t in searchable_texts(collection))
    event = AuditEvent.objects.get(action="curation.document_upload")
    assert event.actor_id == curator.pk and event.data["version_id"] == version.pk


def test_new_content_makes_a_new_version_and_hides_the_old(make_collection, curator):
    """Uploading changed content under the same name switches searching to the new version; the old stays stored."""
    collection = make_collection()
    v1 = upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    v1_chunks = v1.chunks.count()
    v2 = upload_and_ingest(collection, "travel.md", GUIDE_V2.encode(), curator)
    assert v2.number == 2 and v2.document_id == v1.document_id
    assert v2.document.current_version_id == v2.pk
    texts = searchable_texts(collection)
    assert any("50p a mile" in t for t in texts) and not any("45p a mile" in t for t in texts)
    assert v1.chunks.count() == v1_chunks
    assert not v1.chunks.filter(searchable=True).exists()


def test_unchanged_chunks_are_not_re_embedded(make_collection, curator, monkeypatch):
    """A new version re-uses the vectors of chunks whose embedded text did not change."""
    collection = make_collection()
    upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    seen: list[str] = []
    real = FakeEmbeddings.embed_documents

    def spy(self, texts):
        seen.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(FakeEmbeddings, "embed_documents", spy)
    v2 = upload_and_ingest(collection, "travel.md", GUIDE_V2.encode(), curator)
    assert v2.status == VersionStatus.READY
    assert seen, "the changed chunk is embedded"
    changed = v2.chunks.get(text__contains="50p")
    # The changed chunk, then its answer units (sentences), all from that chunk: nothing else again.
    assert "50p" in seen[0] and changed.text in seen[0]
    assert all(text.split(": ", 1)[-1] in changed.text for text in seen[1:]) and len(seen) == 1 + len(changed.units)
    unchanged = v2.chunks.exclude(pk=changed.pk)
    assert unchanged.exists() and all(c.unit_vectors for c in unchanged), "units reused with the vectors"


def test_identical_reupload_is_recognised(make_collection, curator, monkeypatch):
    """The same bytes again are recognised by SHA-256: no new version, nothing embedded."""
    collection = make_collection()
    v1 = upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    monkeypatch.setattr(FakeEmbeddings, "embed_documents", lambda self, texts: pytest.fail("re-embedded"))
    again = upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    assert again.duplicate is True
    assert again.pk == v1.pk
    assert DocumentVersion.objects.filter(document=v1.document).count() == 1


def test_a_bad_file_fails_its_version_only(make_collection, curator):
    """A corrupt new version fails with a reason; the previous version stays searchable and others go on."""
    collection = make_collection()
    upload_and_ingest(collection, "policy.pdf", make_pdf(["Overtime is paid at time and a half."]), curator)
    broken = upload_and_ingest(collection, "policy.pdf", b"%PDF-1.7\n garbage", curator)
    other = upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    assert broken.status == VersionStatus.FAILED
    assert "damaged" in broken.error
    assert broken.document.current_version.number == 1
    assert other.status == VersionStatus.READY
    texts = searchable_texts(collection)
    assert any("time and a half" in t for t in texts) and any("45p" in t for t in texts)


def test_html_scripts_never_stored(make_collection, curator):
    """Only the text of a web page is stored in chunks."""
    collection = make_collection()
    html = b"<html><body><h1>Leave</h1><p>25 days.</p><script>alert('x')</script></body></html>"
    version = upload_and_ingest(collection, "leave.html", html, curator)
    assert version.status == VersionStatus.READY
    assert not Chunk.objects.filter(text__contains="alert").exists()


def test_oversized_upload_is_refused_and_not_kept(make_collection, curator, settings):
    """A file over HUMPHREY_MAX_UPLOAD_MB is refused with the reason: no document, no version, nothing
    stored; the refusal is audited."""
    settings.HUMPHREY_MAX_UPLOAD_MB = 1
    collection = make_collection()
    refusal = upload_refused(collection, "big.txt", b"x " * (600 * 1024), curator)
    assert refusal.code == "too_large" and "1 MB" in refusal.messages[0]


class Killed(BaseException):
    """Stands in for the worker process being killed: nothing in the service catches it."""


def test_worker_killed_mid_embedding_is_never_half_searchable_and_retries(
    make_collection, curator, settings, monkeypatch
):
    """A crash part-way leaves no searchable chunk; once stale, a retry finishes without redoing done work."""
    settings.HUMPHREY_INGEST_BATCH = 2
    collection = make_collection()
    body = "# Guide\n\n" + "\n\n".join(f"## Part {i}\n\n" + f"Rule {i} says something useful. " * 30 for i in range(8))
    version = services.document_upload(
        collection=collection, filename="guide.md", data=body.encode(), user=curator, enqueue=False
    )
    real = FakeEmbeddings.embed_documents
    calls = {"n": 0}

    def dies_on_second_batch(self, texts):
        calls["n"] += 1
        if calls["n"] == 3:  # each batch embeds its chunks, then their answer units
            raise Killed()
        return real(self, texts)

    monkeypatch.setattr(FakeEmbeddings, "embed_documents", dies_on_second_batch)
    with pytest.raises(Killed):
        services.version_ingest(version.pk)
    version.refresh_from_db()
    assert version.status == VersionStatus.EMBEDDING
    assert version.chunks.filter(embedding__isnull=False).count() == 2
    assert not Chunk.objects.filter(collection=collection, searchable=True).exists()
    assert version.document.current_version_id is None

    with pytest.raises(ValidationError):  # still fresh: a worker might be on it
        services.version_retry(version=version, user=curator, enqueue=False)
    DocumentVersion.objects.filter(pk=version.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    version.refresh_from_db()
    assert services.version_is_stale(version)

    embedded: list[str] = []

    def counting(self, texts):
        embedded.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(FakeEmbeddings, "embed_documents", counting)
    services.version_retry(version=version, user=curator, enqueue=False)
    outcome = services.version_ingest(version.pk)
    version.refresh_from_db()
    assert outcome.status == VersionStatus.READY and version.status == VersionStatus.READY
    total = version.chunks.count()
    redone = version.chunks.order_by("ordinal")[2:]
    # The chunks left and their answer units: not the two embedded before the crash.
    assert len(embedded) == sum(1 + len(c.units) for c in redone)
    assert not any("Rule 0 " in text or "Rule 1 " in text for text in embedded)
    assert version.chunks.filter(searchable=True).count() == total
    assert AuditEvent.objects.filter(action="curation.version_retry", data__version_id=version.pk).exists()


def test_embedding_error_fails_the_version_and_retry_completes(make_collection, curator, embedder_down):
    """An embedder error fails the version with a plain message; a retry after it recovers succeeds."""
    collection = make_collection()
    version = services.document_upload(
        collection=collection, filename="t.md", data=GUIDE_V1.encode(), user=curator, enqueue=False
    )
    services.version_ingest(version.pk)
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED
    assert "embedding" in version.error and "down" not in version.error
    embedder_down()  # calling it brings the embedder back
    services.version_retry(version=version, user=curator, enqueue=False)
    services.version_ingest(version.pk)
    version.refresh_from_db()
    assert version.status == VersionStatus.READY


def test_a_busy_version_is_left_to_its_worker(make_collection, curator):
    """A second worker given a version another is on (fresh heartbeat) does nothing."""
    collection = make_collection()
    version = services.document_upload(
        collection=collection, filename="t.md", data=GUIDE_V1.encode(), user=curator, enqueue=False
    )
    DocumentVersion.objects.filter(pk=version.pk).update(status=VersionStatus.PARSING, heartbeat_at=timezone.now())
    outcome = services.version_ingest(version.pk)
    assert outcome.status == VersionStatus.PARSING
    assert not version.chunks.exists()


def test_an_older_version_finishing_late_does_not_replace_the_newer(make_collection, curator):
    """If v1 is retried after v2 is published, v2 stays current."""
    collection = make_collection()
    v1 = services.document_upload(
        collection=collection, filename="t.md", data=GUIDE_V1.encode(), user=curator, enqueue=False
    )
    v2 = upload_and_ingest(collection, "t.md", GUIDE_V2.encode(), curator)
    services.version_ingest(v1.pk)
    v1.refresh_from_db()
    v2.document.refresh_from_db()
    assert v1.status == VersionStatus.READY
    assert v2.document.current_version_id == v2.pk
    assert not v1.chunks.filter(searchable=True).exists()


def test_retiring_a_document_and_a_collection_hides_their_chunks(make_collection, curator):
    """Retired documents and collections are never searched; their chunks are kept."""
    collection = make_collection()
    travel = upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    upload_and_ingest(collection, "leave.md", b"# Leave\n\nYou get 25 days.\n", curator)
    services.document_retire(document=travel.document, user=curator)
    texts = searchable_texts(collection)
    assert texts and not any("45p" in t for t in texts)
    assert travel.chunks.exists()
    services.collection_retire(collection=collection, user=curator)
    assert searchable_texts(collection) == []
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"curation.document_retire", "curation.collection_retire", "curation.collection_create"} <= actions


def test_reuploading_a_retired_document_does_not_restore_it_its_restore_does(make_collection, curator):
    """Uploading the same file to a retired document leaves it retired; restoring it brings it back
    into search, no file needed."""
    collection = make_collection()
    travel = upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    services.document_retire(document=travel.document, user=curator)
    again = upload_and_ingest(collection, "travel.md", GUIDE_V1.encode(), curator)
    assert again.duplicate and not again.restored and again.kept_retired
    assert searchable_texts(collection) == []
    services.document_restore(document=travel.document, user=curator)
    assert any("45p" in t for t in searchable_texts(collection))


def test_grant_and_revoke_are_audited(make_collection, curator):
    """Granting and revoking a reader group change the collection and each leave an audit event."""
    from django.contrib.auth.models import Group

    collection = make_collection(groups=())
    group = Group.objects.create(name="Finance")
    services.collection_grant(collection=collection, group=group, user=curator)
    assert list(collection.reader_groups.all()) == [group]
    services.collection_revoke(collection=collection, group=group, user=curator)
    assert not collection.reader_groups.exists()
    assert (
        AuditEvent.objects.filter(action__in=["curation.collection_grant", "curation.collection_revoke"]).count() == 2
    )


def test_upload_queues_the_task_after_commit(make_collection, curator, settings, django_capture_on_commit_callbacks):
    """Uploading enqueues the ingestion task when the transaction commits; the task ingests it."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default", "ingest"]}
    }
    collection = make_collection()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        version = services.document_upload(collection=collection, filename="t.md", data=GUIDE_V1.encode(), user=curator)
    # One enqueue on commit (the audit trail adds its own callback: the head anchor's checkpoint).
    assert [c.__qualname__.split(".")[0] for c in callbacks].count("document_upload") == 1
    assert len(callbacks) == 2
    version.refresh_from_db()
    assert version.status == VersionStatus.READY
    assert version.task_id
