"""The passage page by URL, from the side of a reader trying ids: only passages they could search, or
that were cited to them in their own answers; every such read of a passage no longer searched is
audited. A property test tries every combination of a passage's state and whose answer cited it."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.models import Citation, Conversation, Message, Speaker
from audit.models import AuditEvent
from documents import services
from documents.models import Chunk, DocumentVersion, VersionStatus
from tests import factories

pytestmark = pytest.mark.django_db

_seq = itertools.count(1)


def cite(chunk: Chunk, user) -> Citation:
    """An answer in ``user``'s own conversation that cited ``chunk``."""
    conversation = Conversation.objects.create(owner=user)
    question = Message.objects.create(conversation=conversation, role=Speaker.USER, text="q")
    answer = Message.objects.create(conversation=conversation, role=Speaker.ASSISTANT, text="a [1]", question=question)
    return Citation.objects.create(message=answer, n=1, chunk=chunk, version=chunk.version, quote=chunk.text)


def status(client: Client, chunk: Chunk) -> int:
    return client.get(f"/curate/passage/{chunk.pk}/").status_code


@pytest.fixture
def hr(make_collection):
    return make_collection("hr", groups=["HR"])


@pytest.fixture
def reader(make_user):
    return make_user("rita@example.gov.uk", groups=["HR"])


@pytest.fixture
def other_reader(make_user):
    return make_user("rob@example.gov.uk", groups=["HR"])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_retired_documents_passage_is_not_readable_by_its_id(hr, reader, curator):
    """Measured before: 200. A retired document's passage is a 404 for a reader who was never given it."""
    document = factories.add_document(hr, ["Retired rule: claim within 90 days."])
    chunk = document.current_version.chunks.get()
    client = client_for(reader)
    assert status(client, chunk) == 200
    services.document_retire(document=document, user=curator)
    assert status(client, chunk) == 404


def test_superseded_and_unfinished_versions_are_not_readable_by_their_ids(hr, reader):
    """An older version's passage, and one of a version still ingesting or failed, are 404s."""
    document = factories.add_document(hr, ["Version one says 5 days."])
    old = document.current_version.chunks.get()
    Chunk.objects.filter(pk=old.pk).update(searchable=False)  # what publishing version 2 does
    unfinished = DocumentVersion.objects.create(
        document=document, number=2, file="x.md", original_filename="x.md", sha256="1" * 64, size_bytes=1,
        status=VersionStatus.EMBEDDING,
    )  # fmt: skip
    draft = Chunk.objects.create(
        version=unfinished, collection=hr, searchable=False, ordinal=0, text="Draft says 10 days.",
        char_start=0, char_end=19,
    )  # fmt: skip
    client = client_for(reader)
    assert status(client, old) == 404
    assert status(client, draft) == 404
    assert b"10 days" not in client.get(f"/curate/passage/{draft.pk}/").content


def test_a_passage_cited_to_you_stays_readable_and_the_read_is_audited(hr, reader, other_reader, curator):
    """Citations keep working after the document is retired, for the person who was given the answer
    only; each such read is recorded; the curator of the collection may still read it."""
    document = factories.add_document(hr, ["Retired rule: claim within 90 days."])
    chunk = document.current_version.chunks.get()
    cite(chunk, reader)
    services.document_retire(document=document, user=curator)
    page = client_for(reader).get(f"/curate/passage/{chunk.pk}/")
    assert page.status_code == 200 and b"claim within 90 days" in page.content
    event = AuditEvent.objects.get(action="passage.read_cited")
    assert event.actor_id == reader.pk and event.data["chunk_id"] == chunk.pk
    assert status(client_for(other_reader), chunk) == 404
    assert status(client_for(curator), chunk) == 200  # the collection's owner curates it
    assert AuditEvent.objects.filter(action="passage.read_cited").count() == 1


def test_a_citation_does_not_outlive_the_right_to_read_the_collection(hr, reader, make_user):
    """Cited once, but no longer in a group that may read the collection: 404."""
    document = factories.add_document(hr, ["Rule: claim within 90 days."])
    chunk = document.current_version.chunks.get()
    cite(chunk, reader)
    Chunk.objects.filter(pk=chunk.pk).update(searchable=False)
    reader.groups.clear()
    assert status(client_for(reader), chunk) == 404


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    searchable=st.booleans(),
    retired=st.booleans(),
    cited_to=st.sampled_from(["nobody", "reader", "someone else"]),
    in_group=st.booleans(),
)
def test_no_url_gives_a_passage_that_could_be_neither_searched_nor_was_cited(
    hr, reader, other_reader, curator, searchable, retired, cited_to, in_group
):
    """Whatever the passage's state and whoever was cited it, the reader gets it exactly when they may
    read the collection and it is searchable or was cited to them."""
    reader.groups.clear()
    if in_group:
        reader.groups.add(*hr.reader_groups.all())
    document = factories.add_document(hr, [f"Rule {next(_seq)}: claim within 90 days."])
    chunk = document.current_version.chunks.get()
    if cited_to != "nobody":
        cite(chunk, reader if cited_to == "reader" else other_reader)
    if retired:
        services.document_retire(document=document, user=curator)
    if not searchable:
        Chunk.objects.filter(pk=chunk.pk).update(searchable=False)
    chunk.refresh_from_db()
    expected = in_group and (chunk.searchable or cited_to == "reader")
    assert status(client_for(reader), chunk) == (200 if expected else 404)


def test_a_passage_opened_from_an_answer_leads_back_to_that_conversation_only(hr, reader):
    """A citation opened from a conversation offers the way back to it; a link from anywhere else (another
    site, a curator's page, a forged address) offers none."""
    document = factories.add_document(hr, ["Claims must be made within 90 days."])
    chunk = document.current_version.chunks.get()
    answer = cite(chunk, reader)
    client = client_for(reader)
    url = f"/curate/passage/{chunk.pk}/"
    came_from = f"/chat/c/{answer.message.conversation_id}/"
    page = client.get(url, HTTP_REFERER=f"http://testserver{came_from}").content.decode()
    assert f'<a href="{came_from}" class="govuk-back-link">Back to your conversation</a>' in page
    # The key says what the yellow is, not only what bold and underlined are.
    assert "The passage the answer cited is <mark" in page
    for elsewhere in ("https://evil.example/chat/c/1/", "http://testserver/curate/", "http://testserver/nope/", ""):
        page = client.get(url, HTTP_REFERER=elsewhere).content.decode()
        assert "Back to your conversation" not in page, elsewhere


def test_a_passage_not_cited_to_the_reader_is_not_called_cited_and_leads_back_to_chat(hr, reader):
    """A "not covered" reply's nearest guidance opens passages nobody cited to the reader: the page does
    not call it cited, says it was not quoted as an answer, and still offers a way back to chat. A
    passage cited to them is called cited. The date shown is when Humphrey was given the document,
    said so, not the document's own version."""
    document = factories.add_document(hr, ["Claims must be made within 90 days."])
    chunk = document.current_version.chunks.get()
    client = client_for(reader)
    url = f"/curate/passage/{chunk.pk}/"
    page = client.get(url).content.decode()
    assert "Cited passage" not in page and "The passage the answer cited" not in page
    assert "Humphrey did not quote it as an answer" in page
    assert 'class="govuk-back-link">Back to chat</a>' in page
    assert "Added to Humphrey" in page and "(upload 1: see the document itself" in page
    cite(chunk, reader)
    page = client.get(url).content.decode()
    assert "Cited passage" in page and "The passage the answer cited is <mark" in page
