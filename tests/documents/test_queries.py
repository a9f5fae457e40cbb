"""The curators' pages and the passage page make as many queries for many rows as for one: a page
that looks something up once per document, version or citation (an N+1) fails here, naming its
queries. Each page is asked once before counting, so caches filled on first use count for neither."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assistant.models import Citation, Conversation, Message, Speaker
from documents.models import Chunk, Document, DocumentVersion, RunOutcome, Source, SourceItem, SourceRun, VersionStatus
from documents.services.documents import document_retire
from tests import factories
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

_seq = itertools.count(1)
RULE = "Claims must be made within 30 days of the journey, with receipts attached to the claim."


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def queries(client: Client, url: str) -> list[str]:
    """The SQL one GET of ``url`` runs (the page must answer 200)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [q["sql"] for q in captured.captured_queries]


def assert_same_count(one: list[str], many: list[str]) -> None:
    assert len(many) == len(one), "queries grew with the rows:\n" + "\n".join(many)


def add_version(document: Document, *, user, status: str = VersionStatus.READY, current: bool = False):
    """Another version of ``document`` with one chunk (written straight in, like the factories)."""
    number = document.versions.count() + 1
    body = f"{RULE} Version {number}."
    version = DocumentVersion.objects.create(
        document=document,
        number=number,
        file=f"documents/{document.source_name}",
        original_filename=document.source_name,
        sha256=hashlib.sha256(body.encode()).hexdigest(),
        size_bytes=len(body),
        status=status,
        uploaded_by=user,
        error="It could not be read." if status == VersionStatus.FAILED else "",
    )
    Chunk.objects.create(
        version=version,
        collection_id=document.collection_id,
        searchable=False,
        ordinal=0,
        text=body,
        char_start=0,
        char_end=len(body),
        token_count=20,
        embed_sha256=version.sha256,
    )
    if current:
        document.current_version = version
        document.save(update_fields=["current_version"])
    return version


def cite(chunk: Chunk, user) -> None:
    """An answer in one of ``user``'s own conversations that cited ``chunk``."""
    conversation = Conversation.objects.create(owner=user)
    question = Message.objects.create(conversation=conversation, role=Speaker.USER, text=f"q{next(_seq)}")
    answer = Message.objects.create(conversation=conversation, role=Speaker.ASSISTANT, text="a [1]", question=question)
    Citation.objects.create(message=answer, n=1, chunk=chunk, version=chunk.version, quote=chunk.text)


def test_the_collection_page_makes_as_many_queries_for_many_documents_as_for_one(make_collection, curator):
    """A collection's page and its status poll cost the same with one document as with many, of
    every kind: several versions, one still queued, one failed, a retired document; and with one
    synced source as with several, run or not, paused or not."""
    collection = make_collection("hr", groups=["HR", "Finance", "Legal"])
    factories.add_document(collection, [RULE])
    add_source(collection, 0)
    client = client_for(curator)
    pages = [f"/curate/c/{collection.slug}/", f"/curate/c/{collection.slug}/status.json", "/curate/"]
    for url in pages:
        queries(client, url)
    one = {url: queries(client, url) for url in pages}

    for n in range(6):
        document = factories.add_document(collection, [f"{RULE} ({n})", "Mileage is paid per mile."])
        add_version(document, user=curator, current=True)
        add_version(document, user=curator, status=[VersionStatus.QUEUED, VersionStatus.FAILED][n % 2])
    document_retire(document=document, user=curator)
    make_collection("finance", groups=["Finance"])
    for n in range(1, 5):
        add_source(collection, n, run=n % 2 == 0, active=n != 3)
    many = {url: queries(client, url) for url in pages}

    assert b"Version 3" in client.get(pages[0]).content
    assert client.get(pages[0]).content.count(b"data-source=") == 5
    for url in pages:
        assert_same_count(one[url], many[url])


def add_source(collection, n: int, *, run: bool = False, active: bool = True) -> Source:
    """A synced source written straight in, with its last run's outcome when ``run``."""
    now = timezone.now()
    return Source.objects.create(
        collection=collection,
        kind="pages",
        location=f"https://www.example.gov.uk/guidance/{n}\nhttps://www.example.gov.uk/guidance/{n}-more",
        is_active=active,
        last_run_at=now if run else None,
        last_outcome=RunOutcome.OK if run else "",
        next_run_at=now if active else None,
    )


def test_the_source_page_makes_as_many_queries_for_many_runs_and_items_as_for_one(make_collection, curator):
    """A source's status page costs the same with one run and one page as with many runs (with
    their changes) and many pages, each with its document and that document's current version."""
    collection = make_collection("hr", groups=["HR"])
    source = add_source(collection, 1, run=True)
    client = client_for(curator)
    url = f"/curate/c/{collection.slug}/sources/{source.pk}/"

    def grow(n: int) -> None:
        document = factories.add_document(collection, [f"{RULE} ({n})"], title=f"Page {n}")
        SourceItem.objects.create(source=source, key=f"https://www.example.gov.uk/guidance/{n}", document=document)
        change = {"key": f"https://www.example.gov.uk/guidance/{n}", "what": "added", "detail": "", "version": 1}
        SourceRun.objects.create(
            source=source,
            trigger="schedule",
            outcome=RunOutcome.OK,
            added=1,
            changes=[{**change, "document_id": document.pk}],
        )

    grow(0)
    queries(client, url)
    one = queries(client, url)
    for n in range(1, 8):
        grow(n)
    many = queries(client, url)

    assert b"Page 7" in client.get(url).content
    assert_same_count(one, many)


def test_the_document_page_makes_as_many_queries_for_many_versions_as_for_one(make_collection, curator):
    """A document's page costs the same with one version as with many, each with its uploader and
    its number of chunks."""
    collection = make_collection("hr", groups=["HR"])
    document = factories.add_document(collection, [RULE])
    client = client_for(curator)
    url = f"/curate/documents/{document.pk}/"
    queries(client, url)
    one = queries(client, url)

    for n in range(6):
        add_version(document, user=curator, current=n == 5, status=VersionStatus.READY if n < 4 else "failed")
    many = queries(client, url)

    assert b"Version 7" in client.get(url).content
    assert_same_count(one, many)


def test_the_passage_page_makes_as_many_queries_for_many_citations_as_for_one(make_collection, curator, make_user):
    """A passage read because it was cited to the reader (its document retired since) costs the
    same whether one of their answers cited it or many did; so does a searchable passage among many."""
    collection = make_collection("hr", groups=["HR"])
    reader = make_user("rita@example.gov.uk", groups=["HR"])
    once = factories.add_document(collection, [RULE, "Mileage is paid per mile.", "Hotels are capped."])
    often = factories.add_document(collection, [RULE, "Mileage is paid per mile.", "Hotels are capped."])
    long = factories.add_document(collection, [f"{RULE} ({n})" for n in range(12)])
    once_chunk = once.current_version.chunks.order_by("ordinal")[1]
    often_chunk = often.current_version.chunks.order_by("ordinal")[1]
    cite(once_chunk, reader)
    for _ in range(8):
        cite(often_chunk, reader)
    document_retire(document=once, user=curator)
    document_retire(document=often, user=curator)
    client = client_for(reader)

    queries(client, f"/curate/passage/{once_chunk.pk}/")
    one = queries(client, f"/curate/passage/{once_chunk.pk}/?hl=0-20")
    many = queries(client, f"/curate/passage/{often_chunk.pk}/?hl=0-20")
    assert_same_count(one, many)

    short = factories.add_document(collection, [RULE])
    first = queries(client, f"/curate/passage/{short.current_version.chunks.get().pk}/")
    middle = queries(client, f"/curate/passage/{long.current_version.chunks.order_by('ordinal')[6].pk}/")
    assert_same_count(first, middle)
