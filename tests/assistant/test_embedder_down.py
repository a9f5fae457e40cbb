"""When the embedder fails, the person still gets an answer, and is told how it was found.

The embedding endpoint is the fake OpenAI server over real HTTP (``HUMPHREY_EMBEDDINGS_PROVIDER=openai``),
made to answer 503 (after the SDK's own retries) or to take longer than
``HUMPHREY_CHAT_EMBEDDING_TIMEOUT``. The question is then searched by its words alone: the answer
comes with a ``words_only`` notice and the audit event says why there was no search by meaning. An
answer's sentences the embedder fails on are checked against their citations by words alone.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from audit.models import AuditEvent

from .helpers import ask_once, conversation_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

QUESTION = "How many days of annual leave do full-time staff get?"


@database_sync_to_async
def answer_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="answer").order_by("id"))


def notices(frames: list[dict]) -> list[str]:
    return [f["code"] for f in frames if f["type"] == "notice"]


async def test_an_embedder_that_fails_gives_an_answer_found_by_words(remote_embedder, guidance, staff):
    """A new conversation's question (embedded while it is stored) and its follow-up (embedded when
    answered): both answered from the words, both told so, both audited as searched by words."""
    remote_embedder.configure(merge=True, embeddings_status=503)
    first = await ask_once(staff, QUESTION)
    assert first[-1]["type"] == "done" and first[-1]["status"] == "complete"
    assert "25 days" in first[-1]["text"]
    assert notices(first) == ["words_only"]
    follow = await ask_once(staff, "And for part-time staff?", conversation=first[0]["conversation"])
    assert follow[-1]["status"] == "complete"
    assert notices(follow) == ["words_only"]
    assert remote_embedder.embedding_requests, "the embedder was asked"
    page = await conversation_page(staff, first[0]["conversation"])
    assert page.count('data-notice="words_only"') == 2, "reopened, both answers still say how they were found"
    for event in await answer_events():
        assert event.data["vector_search"] == {"skipped": "embedder_error", "error": "InternalServerError"}
        assert event.data["passages"] and all(p["vector_score"] is None for p in event.data["passages"])


async def test_an_embedder_slower_than_the_deadline_is_not_waited_for(remote_embedder, guidance, staff, settings):
    """The SDK retries a 503 with back-off: far longer than a deadline of a tenth of a second."""
    settings.HUMPHREY_CHAT_EMBEDDING_TIMEOUT = 0.1
    remote_embedder.configure(merge=True, embeddings_status=503)
    frames = await ask_once(staff, QUESTION)
    assert frames[-1]["status"] == "complete" and "25 days" in frames[-1]["text"]
    assert notices(frames) == ["words_only"]
    (event,) = await answer_events()
    assert event.data["vector_search"] == {"skipped": "embedder_error", "error": "TimeoutError"}


async def test_a_working_embedder_gives_no_notice(remote_embedder, guidance, staff):
    """The same question with the endpoint answering: searched by meaning too, nothing said."""
    frames = await ask_once(staff, QUESTION)
    assert frames[-1]["status"] == "complete"
    assert notices(frames) == []
    (event,) = await answer_events()
    assert "vector_search" not in event.data
    assert any(p["vector_score"] is not None for p in event.data["passages"])


async def test_sentences_the_embedder_fails_on_are_checked_by_words(remote_embedder, guidance, staff, fake_model):
    """The question is embedded; the model's sentence is not (its embedding request fails): the
    answer is still given and checked, and the audit says the check had words alone."""
    remote_embedder.configure(merge=True, embeddings_status=503, embeddings_fail_on="25 days")
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.")
    frames = await ask_once(staff, QUESTION)
    assert frames[-1]["status"] == "complete"
    assert notices(frames) == []
    (event,) = await answer_events()
    assert "vector_search" not in event.data
    assert event.data["claims"] == {"checked": 1, "unsupported": 0, "uncited": 0, "by_words_only": True}


async def test_a_question_the_endpoint_refuses_does_not_fail_the_others_in_its_batch(remote_embedder):
    """Questions arriving together are embedded in one request. If the endpoint refuses that request
    for what one of them holds (HTTP 400), each is tried alone: the others get their vectors and only
    that one fails. An endpoint that is down (503) is not asked again text by text."""
    import asyncio

    import openai

    from assistant.batching import QueryEmbedder

    remote_embedder.configure(merge=True, embeddings_status=400, embeddings_fail_on="poison")
    batcher = QueryEmbedder()
    texts = ["annual leave for part-time staff", "a poison question", "travel expenses receipts"]
    results = await asyncio.gather(*(batcher.embed(t) for t in texts), return_exceptions=True)
    assert isinstance(results[1], openai.BadRequestError)
    assert [len(results[0]), len(results[2])] == [384, 384]
    assert [r["input"] for r in remote_embedder.embedding_requests] == [texts, *([t] for t in texts)]

    remote_embedder.configure(merge=True, embeddings_status=503, embeddings_fail_on="")
    remote_embedder.embedding_requests.clear()
    results = await asyncio.gather(*(batcher.embed(t) for t in texts[::2]), return_exceptions=True)
    assert all(isinstance(r, openai.InternalServerError) for r in results)
    assert all(r["input"] == texts[::2] for r in remote_embedder.embedding_requests)  # the SDK's retries only
