"""Query counts: the answer record and the chat pages cost a fixed number of statements, however many
passages an answer cites, messages a conversation holds or conversations a person has. Each test
measures the small case and asserts the large one costs exactly the same, so a query added per
citation, message or conversation (an N+1) fails here."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assistant import intake
from assistant.core.types import Source, Usage
from assistant.models import Citation, Conversation, Message, Speaker, Status
from assistant.services.record import Outcome, answer_record
from audit.models import AuditEvent
from documents.models import Chunk

from .conftest import add_document

pytestmark = pytest.mark.django_db

PASSAGES = [
    f"Annual leave rule {i}: staff in grade {i} book leave {i + 2} weeks ahead through the HR system."
    for i in range(1, 7)
]


@pytest.fixture
def six_chunks(guidance) -> list[Chunk]:
    """Six passages the user may read, in three documents (two each)."""
    for pair in (PASSAGES[0:2], PASSAGES[2:4], PASSAGES[4:6]):
        add_document(guidance["hr"], pair)
    chunks = list(
        Chunk.objects.filter(text__in=PASSAGES).select_related("version__document", "collection").order_by("pk")
    )
    assert len(chunks) == 6
    return chunks


def _sources(chunks: list[Chunk]) -> list[Source]:
    return [
        Source(
            n=n,
            chunk_id=c.pk,
            text=c.text,
            document_id=c.version.document_id,
            document_title=c.version.document.title,
            version_id=c.version_id,
            version_number=c.version.number,
            version_sha256=c.version.sha256,
            collection_slug=c.collection.slug,
            marking=c.collection.marking,
            heading_path=c.heading_path,
            anchor=c.anchor,
        )
        for n, c in enumerate(chunks, start=1)
    ]


def _outcome(chunks: list[Chunk]) -> Outcome:
    """A model answer citing every one of ``chunks``, each sentence checked and highlighted."""
    sources = _sources(chunks)
    sentences = [f"Rule {s.n} applies [{s.n}]." for s in sources]
    return Outcome(
        text=" ".join(sentences),
        condensed="When must leave be booked?",
        sources=sources,
        cited=[s.n for s in sources],
        messages=[{"role": "user", "content": "When must leave be booked?"}],
        model={"alias": "test", "name": "fake-model"},
        usage=Usage(prompt_tokens=100, completion_tokens=20, total_tokens=120),
        timings={"retrieval": 5, "first_token": 50, "total": 80},
        checks=[
            {"sentence": t, "cited": [s.n], "unsupported": [], "uncited": False}
            for t, s in zip(sentences, sources, strict=True)
        ],
        highlights={s.n: [[0, 10]] for s in sources},
    )


def test_the_answer_record_costs_the_same_statements_however_many_passages_it_cites(
    staff, six_chunks, django_assert_num_queries
):
    """The final write (the answer, its citations and its one audit event) is a fixed number of
    statements: an answer citing six passages costs exactly what an answer citing one does."""
    asks = [
        intake.ask_store(user=staff, conversation_id=None, text=f"When must leave be booked ({i})?", collections=None)
        for i in range(3)
    ]
    # The first audit event of a chain may differ from the rest: record one before measuring.
    answer_record(user=staff, prepared=asks[0], outcome=_outcome(six_chunks[:1]))

    with CaptureQueriesContext(connection) as citing_one:
        answer_record(user=staff, prepared=asks[1], outcome=_outcome(six_chunks[:1]))
    with django_assert_num_queries(len(citing_one)):
        answer_record(user=staff, prepared=asks[2], outcome=_outcome(six_chunks))

    assert Citation.objects.filter(message_id=asks[1].answer_id).count() == 1
    assert Citation.objects.filter(message_id=asks[2].answer_id).count() == 6
    event = AuditEvent.objects.filter(action="answer", data__message_id=asks[2].answer_id).get()
    assert len(event.data["citations"]) == 6 and len(event.data["passages"]) == 6


def _conversation(user, chunks: list[Chunk], *, turns: int, cites: int) -> Conversation:
    """A conversation of ``turns`` questions, each answered citing ``cites`` of ``chunks``."""
    conversation = Conversation.objects.create(owner=user, title=f"Leave {Conversation.objects.count()}")
    for _ in range(turns):
        _add_turn(conversation, chunks, cites)
    return conversation


def _add_turn(conversation: Conversation, chunks: list[Chunk], cites: int) -> None:
    question = Message.objects.create(conversation=conversation, role=Speaker.USER, text="When must leave be booked?")
    text = " ".join(f"Rule {n} applies [{n}]." for n in range(1, cites + 1))
    answer = Message.objects.create(
        conversation=conversation, role=Speaker.ASSISTANT, text=text, status=Status.COMPLETE, question=question
    )
    Citation.objects.bulk_create(
        Citation(message=answer, n=n, chunk=c, version_id=c.version_id, quote=c.text, highlights=[[0, 10]])
        for n, c in enumerate(chunks[:cites], start=1)
    )


def _link(conversation: Conversation) -> str:
    return f'href="{reverse("assistant:conversation", args=[conversation.pk])}"'


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_chat_page_costs_the_same_statements_however_long_the_conversation_and_history(
    client, staff, six_chunks, django_assert_num_queries
):
    """A conversation of five answers citing three passages each (from different documents), with
    ten conversations in the side list, costs exactly what one answer citing one passage does."""
    conversation = _conversation(staff, six_chunks, turns=1, cites=1)
    url = reverse("assistant:conversation", args=[conversation.pk])
    client.force_login(staff)
    client.get(url)  # the session and caches settle on the first request
    small = _queries(client, url)

    for _ in range(4):
        _add_turn(conversation, six_chunks[1:] + six_chunks[:1], 3)
    for _ in range(9):
        _conversation(staff, six_chunks, turns=1, cites=2)
    assert Citation.objects.filter(message__conversation=conversation).count() == 1 + 4 * 3
    with django_assert_num_queries(small):
        page = client.get(url).content.decode()
    assert page.count('class="humphrey-answer"') == 5
    assert page.count("<li value=") == 1 + 4 * 3  # every citation listed under its answer
    assert all(_link(c) in page for c in Conversation.objects.filter(owner=staff))


def test_the_home_page_costs_the_same_statements_however_many_conversations(
    client, staff, six_chunks, django_assert_num_queries
):
    """The chat's home page lists the person's recent conversations: twenty cost what one does."""
    _conversation(staff, six_chunks, turns=1, cites=1)
    client.force_login(staff)
    client.get("/")
    small = _queries(client, "/")
    for _ in range(19):
        _conversation(staff, six_chunks, turns=1, cites=1)
    with django_assert_num_queries(small):
        page = client.get("/").content.decode()
    assert all(_link(c) in page for c in Conversation.objects.filter(owner=staff))


def test_the_history_page_costs_the_same_statements_however_many_conversations(
    client, staff, six_chunks, django_assert_num_queries
):
    """The history page lists every conversation the person has: thirty cost what one does."""
    _conversation(staff, six_chunks, turns=1, cites=1)
    url = reverse("assistant:history")
    client.force_login(staff)
    client.get(url)
    small = _queries(client, url)
    for _ in range(29):
        _conversation(staff, six_chunks, turns=2, cites=2)
    with django_assert_num_queries(small):
        page = client.get(url).content.decode()
    assert all(_link(c) in page for c in Conversation.objects.filter(owner=staff))
    assert page.count("Rename<span") == 30
