"""Marking ceilings cover embeddings (issue 19, item 7), from the attacker's side.

The embedding endpoint is the fake OpenAI server over real HTTP, reached through the ``openai`` SDK
exactly as in production (``HUMPHREY_EMBEDDINGS_PROVIDER=openai``), approved up to OFFICIAL. Whatever
a curator does with an OFFICIAL-SENSITIVE collection, no text of it may ever reach that server.
"""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from documents import embeddings, services
from documents.embeddings import FakeEmbeddings, OpenAIEmbeddings, embeds_marking
from documents.models import Chunk, Marking, VersionStatus
from tests import factories
from tests.conftest import PASSWORD
from tests.documents.files import upload_and_ingest
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db

REMOTE_MODEL_ID = "openai/fake-embedding@384"
CANARY = "zanzibar-quokka"  # a word only the sensitive documents hold
SENSITIVE_TEXT = (
    f"# Postings\n\nSensitive postings for the {CANARY} team are agreed with the security officer. "
    + "Staff on sensitive postings keep their location private and tell only their line manager. " * 8
)
OFFICIAL_TEXT = (
    "# Leave\n\nFull-time staff get 25 days of annual leave a year. "
    + "Book leave through the people system and ask your line manager first. " * 8
)


@pytest.fixture(scope="module")
def embedding_server():
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


def _use_remote(settings, server, **config) -> None:
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "openai", "CONFIG": {"model": "fake-embedding", **config}}
    embeddings._instance = None  # the client holds the base URL: build it for this server


@pytest.fixture
def remote(settings, embedding_server, media):
    """Embeddings from the fake server over HTTP, approved up to OFFICIAL (the default)."""
    _use_remote(settings, embedding_server)
    embedding_server.embedding_requests.clear()
    yield embedding_server
    embeddings._instance = None


def sent_text(server) -> str:
    """Everything the embedding endpoint has been sent."""
    return json.dumps([r.get("input") for r in server.embedding_requests])


def collection(curator, slug: str, marking: str = Marking.OFFICIAL):
    return services.collection_create(
        user=curator,
        name=slug.title(),
        slug=slug,
        marking=marking,
        reader_groups=[Group.objects.get_or_create(name="All staff")[0]],
    )


def test_an_official_collection_is_embedded_by_the_remote_endpoint(remote, curator):
    """OFFICIAL is within the ceiling: ingestion works as before, every chunk embedded remotely."""
    official = collection(curator, "leave")
    version = upload_and_ingest(official, "leave.md", OFFICIAL_TEXT.encode(), curator)
    assert version.status == VersionStatus.READY, version.error
    assert set(version.chunks.values_list("embedding_model", flat=True)) == {REMOTE_MODEL_ID}
    assert "25 days of annual leave" in sent_text(remote)


def test_uploading_to_a_sensitive_collection_is_refused_before_anything_is_sent(remote, curator):
    """The upload fails at once with the reason a curator can act on, is audited as refused, is never
    queued, and not a word of it reaches the endpoint."""
    sensitive = collection(curator, "postings", Marking.OFFICIAL_SENSITIVE)
    version = upload_and_ingest(sensitive, "postings.md", SENSITIVE_TEXT.encode(), curator)
    assert version.status == VersionStatus.FAILED
    assert "This collection is OFFICIAL-SENSITIVE" in version.error
    assert "the embedding endpoint is approved up to OFFICIAL" in version.error
    assert not version.task_id and not Chunk.objects.filter(version=version).exists()
    assert remote.embedding_requests == []
    event = AuditEvent.objects.get(action="curation.document_upload")
    assert event.outcome == "refused"
    assert event.data["refused"] == "embedding_marking"
    assert event.data["marking"] == "OFFICIAL-SENSITIVE" and event.data["embeddings_max_marking"] == "OFFICIAL"
    # Kept, so it can be retried once the deployment embeds this marking in the process; until then a
    # retry is refused again by the worker, still without sending anything.
    assert version.file
    services.version_retry(version=version, user=curator, enqueue=False)
    outcome = services.version_ingest(version.pk)
    assert outcome.status == VersionStatus.FAILED and "OFFICIAL-SENSITIVE" in outcome.error
    assert remote.embedding_requests == []


def test_the_upload_page_shows_the_reason(remote, curator, client):
    """The curator uploading through the site is told why the file was refused."""
    sensitive = collection(curator, "postings", Marking.OFFICIAL_SENSITIVE)
    assert client.login(username=curator.username, password=PASSWORD)
    upload = SimpleUploadedFile("postings.md", SENSITIVE_TEXT.encode())
    response = client.post(f"/curate/c/{sensitive.slug}/upload/", {"files": [upload]})
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "1 refused" in shown
    assert "postings.md: This collection is OFFICIAL-SENSITIVE" in shown
    assert "the embedding endpoint is approved up to OFFICIAL" in shown
    assert remote.embedding_requests == []


def test_the_ingest_command_fails_with_the_reason(remote, curator, tmp_path):
    (tmp_path / "postings.md").write_text(SENSITIVE_TEXT)
    collection(curator, "postings", Marking.OFFICIAL_SENSITIVE)
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "ingest", str(tmp_path), "--collection", "postings", "--wait", "--no-progress", stdout=out, stderr=out
        )
    assert "failed 1" in out.getvalue()
    assert "postings.md: This collection is OFFICIAL-SENSITIVE" in out.getvalue()
    assert remote.embedding_requests == []


def test_marking_raised_after_upload_stops_ingestion_before_it_sends(remote, curator):
    """Raising a collection's marking is allowed (never refuse a curator marking guidance up); a
    version queued before the raise is refused by the worker, audited, with nothing sent."""
    official = collection(curator, "postings")
    version = services.document_upload(
        collection=official, filename="postings.md", data=SENSITIVE_TEXT.encode(), user=curator, enqueue=False
    )
    assert version.status == VersionStatus.QUEUED
    services.collection_update(collection=official, user=curator, marking=Marking.OFFICIAL_SENSITIVE)
    outcome = services.version_ingest(version.pk)
    version.refresh_from_db()
    assert outcome.status == version.status == VersionStatus.FAILED
    assert "This collection is OFFICIAL-SENSITIVE" in version.error
    assert remote.embedding_requests == []
    event = AuditEvent.objects.get(action="curation.version_ingest")
    assert event.outcome == "refused" and event.data["version_id"] == version.pk
    assert event.data["marking"] == "OFFICIAL-SENSITIVE"
    # ...and the next upload to it is refused at the door.
    again = upload_and_ingest(official, "more.md", SENSITIVE_TEXT.replace("Postings", "More").encode(), curator)
    assert again.status == VersionStatus.FAILED and remote.embedding_requests == []


def test_marking_raised_mid_ingestion_stops_the_next_batch(remote, curator, settings, monkeypatch):
    """The ceiling is checked before every batch: a raise while a long file is being embedded stops
    what is left of it from being sent."""
    settings.HUMPHREY_INGEST_BATCH = 1
    official = collection(curator, "postings")
    long_text = "\n\n".join(f"## Part {i}\n\n" + f"Part {i} of the {CANARY} postings guidance. " * 40 for i in range(6))
    real = OpenAIEmbeddings.embed_documents
    calls = []

    def raise_after_first_batch(self, texts):
        calls.append(len(texts))
        result = real(self, texts)
        if len(calls) == 1:
            official.__class__.objects.filter(pk=official.pk).update(marking=Marking.OFFICIAL_SENSITIVE)
        return result

    monkeypatch.setattr(OpenAIEmbeddings, "embed_documents", raise_after_first_batch)
    version = upload_and_ingest(official, "postings.md", long_text.encode(), curator)
    assert version.status == VersionStatus.FAILED and "OFFICIAL-SENSITIVE" in version.error
    chunks = version.chunks.count()
    assert chunks >= 3
    # The first batch's chunk and its answer units (one call each), then nothing.
    assert len(calls) == 2 and len(remote.embedding_requests) == 2
    assert version.chunks.filter(embedding__isnull=True).count() == chunks - 1


def test_reembedding_leaves_sensitive_collections_alone(remote, curator):
    """Switching to the remote embedder: OFFICIAL chunks are re-embedded, OFFICIAL-SENSITIVE ones are
    left with their in-process vectors and counted, their text never sent."""
    official = collection(curator, "leave")
    sensitive = collection(curator, "postings", Marking.OFFICIAL_SENSITIVE)
    factories.add_document(official, ["Full-time staff get 25 days of annual leave."])
    factories.add_document(sensitive, [f"Sensitive postings for the {CANARY} team."])
    done = services.chunks_reembed()
    assert done == 1
    assert Chunk.objects.get(collection=official).embedding_model == REMOTE_MODEL_ID
    assert Chunk.objects.get(collection=sensitive).embedding_model == FakeEmbeddings.model_id
    assert "25 days" in sent_text(remote) and CANARY not in sent_text(remote)
    count, reason = services.chunks_reembed_refused()
    assert count == 1 and "OFFICIAL-SENSITIVE" in reason and "approved up to OFFICIAL" in reason
    out, err = io.StringIO(), io.StringIO()
    call_command("reembed", "--dry-run", stdout=out, stderr=err)
    assert "1 of them will be left as they are" in err.getvalue() and "OFFICIAL-SENSITIVE" in err.getvalue()


def test_an_endpoint_approved_for_sensitive_embeds_it(settings, embedding_server, curator, media):
    """The ceiling is the setting's: an endpoint approved for OFFICIAL-SENSITIVE is sent it."""
    _use_remote(settings, embedding_server, max_marking="OFFICIAL-SENSITIVE")
    try:
        sensitive = collection(curator, "postings", Marking.OFFICIAL_SENSITIVE)
        version = upload_and_ingest(sensitive, "postings.md", SENSITIVE_TEXT.encode(), curator)
        assert version.status == VersionStatus.READY, version.error
    finally:
        embeddings._instance = None


def test_in_process_embedders_have_no_ceiling_and_unknown_ones_are_official(settings, curator, media):
    """The local and fake embedders send nothing anywhere; an embedder class that does not say where
    its text goes is taken to be approved for OFFICIAL only; a ceiling that is not a marking is refused."""
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}
    sensitive = collection(curator, "postings", Marking.OFFICIAL_SENSITIVE)
    version = upload_and_ingest(sensitive, "postings.md", SENSITIVE_TEXT.encode(), curator)
    assert version.status == VersionStatus.READY

    class Undeclared:
        model_id, dimensions = "somewhere/else", 384

    assert embeds_marking("OFFICIAL", Undeclared()) and not embeds_marking("OFFICIAL-SENSITIVE", Undeclared())
    assert embeds_marking("OFFICIAL-SENSITIVE", FakeEmbeddings())
    with pytest.raises(ImproperlyConfigured, match="HUMPHREY_EMBEDDINGS_MAX_MARKING"):
        OpenAIEmbeddings(max_marking="SECRET")


def test_searching_a_sensitive_collection_never_sends_the_question(remote, curator, client):
    """Retrieval itself refuses to embed a question asked of a collection above the ceiling (words
    only), whoever calls it: the curators' "try a question" page, a command, a direct selector call.
    A question of the OFFICIAL collection alone is embedded as usual."""
    from documents.retrieval import passages_for_user

    official = collection(curator, "leave")
    sensitive = collection(curator, "postings", Marking.OFFICIAL_SENSITIVE)
    factories.add_document(official, ["Full-time staff get 25 days of annual leave."])
    factories.add_document(sensitive, [f"Sensitive postings for the {CANARY} team are agreed in advance."])
    curator.groups.add(Group.objects.get(name="All staff"))
    question = f"Who agrees {CANARY} postings?"

    assert client.login(username=curator.username, password=PASSWORD)
    page = client.get(f"/curate/c/postings/try/?q={question}")
    assert page.status_code == 200 and "agreed in advance" in page.content.decode()
    found = passages_for_user(user=curator, query=question)  # everything they read, sensitive included
    assert any(CANARY in p.text for p in found)
    assert CANARY not in sent_text(remote) and not remote.embedding_requests

    passages_for_user(user=curator, query="annual leave days", collections=["leave"])
    assert "annual leave days" in sent_text(remote)
