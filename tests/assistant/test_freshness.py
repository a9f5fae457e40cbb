"""Answers say how fresh their sources are (issue 22): an overdue document's citation carries its
review status in the frames, on the conversation page and in the audit trace; an expired document is
not searched; a newer version of a cited document makes the old answer say "has changed since"
(page, history, trace, and ``superseded: true`` in the frames), at a fixed number of queries."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assistant.models import Citation, Conversation, Message, Speaker, Status
from audit.models import AuditEvent
from documents.lifecycle import document_expiry_refresh
from documents.models import Chunk, Document
from documents.review import Review, ReviewStatus
from tests.versions import publish_version

from .conftest import LEAVE
from .helpers import ask, connect, frames_until_end

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How many days of annual leave do full-time staff get?"
LEAVE_V2 = (
    "Annual leave: full-time staff get 27 days of annual leave a year, rising to 32 days after five years "
    "of service. Part-time staff get annual leave pro rata."
)


@database_sync_to_async
def db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


async def ask_frames(user, text: str = QUESTION) -> list[dict]:
    communicator = await connect(user)
    try:
        await ask(communicator, text)
        return await frames_until_end(communicator)
    finally:
        await communicator.disconnect()


def leave_policy() -> Document:
    return Document.objects.select_related("collection", "current_version").get(title="Leave policy")


def make_overdue(days: int = 20) -> dt.date:
    """The leave policy's review date set ``days`` ago by a curator: overdue."""
    review_by = timezone.localdate() - dt.timedelta(days=days)
    Document.objects.filter(title="Leave policy").update(review_by=review_by, review_by_source="curator")
    document_expiry_refresh(leave_policy())
    return review_by


def page(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def leave_entry(entries: list[dict]) -> dict:
    return next(e for e in entries if e["document_title"] == "Leave policy")


@pytest.fixture(params=["extractive", "model"])
def answerer(request, settings, openai_server):
    """The extractive answerer (the default) and a language model (the real SDK, fake server) alike."""
    if request.param == "model":
        request.getfixturevalue("openai_model")
        openai_server.configure(scenario="ok", reply="Full-time staff get 25 days of annual leave a year [1].")
    return request.param


@pytest.mark.asyncio
async def test_an_overdue_documents_citation_carries_its_status_in_frames_page_and_audit(
    guidance, staff, auditor, answerer
):
    review_by = await db(make_overdue)
    note = Review(ReviewStatus.OVERDUE, review_by, "curator").note()
    assert note.startswith("due for review since ")

    frames = await ask_frames(staff)
    sources = next(f for f in frames if f["type"] == "sources")["sources"]
    done = frames[-1]
    assert done["type"] == "done" and done["status"] == "complete", done
    for entries in (sources, done["citations"]):
        entry = leave_entry(entries)
        assert entry["review_status"] == "overdue"
        assert entry["review_by"] == review_by.isoformat()
        assert entry["review_note"] == note
        assert entry["superseded"] is False
    others = [e for e in sources if e["document_title"] != "Leave policy"]
    assert all(e["review_status"] == "current" and e["review_note"] == "" for e in others)

    # On reload: the conversation page shows the same words beside the citation.
    html = await db(page, staff, reverse("assistant:conversation", args=[done["conversation"]]))
    assert note in html and 'data-review-status="overdue"' in html

    # The audit records each passage's status at answer time, and the trace shows it.
    event = await db(AuditEvent.objects.get, action="answer", data__message_id=done["message"])
    leave = await db(leave_policy)
    passages = [p for p in event.data["passages"] if p["document_id"] == leave.pk]
    assert passages and all(p["review_status"] == "overdue" for p in passages)
    assert all(p["review_by"] == review_by.isoformat() for p in passages)
    trace = await db(page, auditor, reverse("audit:event", args=[event.seq]))
    assert f"overdue for review (review by {review_by.day} {review_by.strftime('%B %Y')})" in trace


@pytest.mark.asyncio
async def test_an_expired_document_is_not_searched_by_chat(guidance, staff):
    """Past its review date by more than its collection allows: the leave policy is not retrieved."""

    def expire():
        guidance["hr"].expire_after_days = 5
        guidance["hr"].save(update_fields=["expire_after_days"])
        make_overdue(days=30)

    await db(expire)
    frames = await ask_frames(staff)
    shown = [e for f in frames if f["type"] == "sources" for e in f["sources"]]
    done = frames[-1]
    assert all(e["document_title"] != "Leave policy" for e in shown + done.get("citations", []))
    assert "25 days" not in done["text"]
    event = await db(AuditEvent.objects.get, action="answer", data__message_id=done["message"])
    leave = await db(leave_policy)
    assert all(p["document_id"] != leave.pk for p in event.data["passages"])


@pytest.mark.asyncio
async def test_a_new_version_makes_an_old_answer_say_it_has_changed_since(guidance, staff, auditor):
    frames = await ask_frames(staff)
    done = frames[-1]
    assert done["status"] == "complete" and not leave_entry(done["citations"])["superseded"]
    conversation_url = reverse("assistant:conversation", args=[done["conversation"]])
    before = await db(page, staff, conversation_url)
    assert "has changed since" not in before and 'data-superseded="true"' not in before
    assert "Guidance changed since" not in await db(page, staff, reverse("assistant:history"))

    leave = await db(leave_policy)
    old_version = leave.current_version
    new_version = await db(publish_version, leave, [LEAVE_V2], headings=["Leave policy > Section 1"])

    html = await db(page, staff, conversation_url)
    assert "The guidance quoted here has changed since" in html
    assert 'data-superseded="true"' in html
    citation = await db(Citation.objects.get, message_id=done["message"], version=old_version)
    changes = reverse("documents:version_changes", args=[leave.pk, old_version.pk, new_version.pk])
    assert f'href="{changes}?via={citation.chunk_id}"' in html
    assert "Guidance changed since" in await db(page, staff, reverse("assistant:history"))

    # What changed: the link opens the comparison, the new words marked as added.
    diff = await db(page, staff, f"{changes}?via={citation.chunk_id}")
    assert "<del><span" in diff and "25" in diff and "27" in diff and "<ins><span" in diff

    event = await db(AuditEvent.objects.get, action="answer", data__message_id=done["message"])
    trace = await db(page, auditor, reverse("audit:event", args=[event.seq]))
    assert "audit-superseded" in trace and "a newer version of the document is searched now" in trace


@pytest.mark.asyncio
async def test_a_version_published_while_the_answer_is_written_is_superseded_in_the_done_frame(
    guidance, staff, fake_model
):
    """The ``done`` frame's citations carry ``superseded: true`` when the version quoted was replaced
    before the answer was stored."""
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.", delay=0.05)
    communicator = await connect(staff)
    try:
        await ask(communicator, QUESTION)
        while True:
            frame = json.loads(await communicator.receive_from(timeout=10))
            if frame["type"] == "sources":
                break
        leave = await db(leave_policy)
        await db(publish_version, leave, [LEAVE_V2], headings=["Leave policy > Section 1"])
        await asyncio.sleep(0)
        rest = await frames_until_end(communicator)
    finally:
        await communicator.disconnect()
    done = rest[-1]
    assert done["type"] == "done" and done["status"] == "complete", done
    assert leave_entry(done["citations"])["superseded"] is True


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_chat_and_history_pages_cost_no_more_when_guidance_has_changed_and_is_overdue(guidance, staff):
    """Review notes and "changed since" come with the citations: no query per citation or conversation."""
    chunk = Chunk.objects.get(text=LEAVE)
    conversations = []
    for i in range(3):
        conversation = Conversation.objects.create(owner=staff, title=f"Leave {i}")
        question = Message.objects.create(conversation=conversation, role=Speaker.USER, text="Leave?")
        answer = Message.objects.create(
            conversation=conversation, role=Speaker.ASSISTANT, text="25 days [1].", status=Status.COMPLETE
        )
        answer.question = question
        answer.save(update_fields=["question"])
        Citation.objects.create(message=answer, n=1, chunk=chunk, version_id=chunk.version_id, quote=chunk.text)
        conversations.append(conversation)
    client = Client()
    client.force_login(staff)
    chat = reverse("assistant:conversation", args=[conversations[0].pk])
    history = reverse("assistant:history")
    client.get(chat)
    fresh = (_queries(client, chat), _queries(client, history))

    make_overdue()
    publish_version(leave_policy(), [LEAVE_V2], headings=["Leave policy > Section 1"])
    assert (_queries(client, chat), _queries(client, history)) == fresh
    html = client.get(chat).content.decode()
    assert "has changed since" in html and "due for review since" in html
    assert client.get(history).content.decode().count("Guidance changed since") == 3
