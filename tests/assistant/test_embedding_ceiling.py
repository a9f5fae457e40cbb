"""Marking ceilings cover embeddings (issue 19, item 7): questions, from the asker's side.

The embedding endpoint is the fake OpenAI server over real HTTP (``HUMPHREY_EMBEDDINGS_PROVIDER=openai``),
approved up to OFFICIAL. A question asked of an OFFICIAL-SENSITIVE collection is as sensitive as what
it is asked of: it must never reach that server (nor must the answer's sentences), yet the person
still gets an answer, found by the words of the question, and the audit says vector search was skipped.
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from audit.models import AuditEvent
from documents.models import Marking

from .conftest import add_document, make_collection
from .helpers import ask_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

QUESTION = "How many days of annual leave do full-time staff get?"
SENSITIVE = "Annual leave on sensitive postings: full-time staff get 25 days of annual leave plus two travel days."


@database_sync_to_async
def db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


@pytest.fixture
def sensitive(guidance):
    """An OFFICIAL-SENSITIVE collection all staff may read, beside the OFFICIAL HR guidance."""
    collection = make_collection("postings", groups=["All staff"], marking=Marking.OFFICIAL_SENSITIVE)
    add_document(collection, [SENSITIVE], title="Sensitive postings")
    return collection


def answer_event() -> AuditEvent:
    return AuditEvent.objects.get(action="answer")


async def test_a_question_asked_of_a_sensitive_collection_never_reaches_the_embedder(remote_embedder, sensitive, staff):
    """Asked of everything (an OFFICIAL-SENSITIVE collection among it) with an answerer approved for
    OFFICIAL-SENSITIVE: nothing is sent to the embedding endpoint at all, not even early; the answer
    comes from the words of the question, and the audit records why vector search was skipped."""
    frames = await ask_once(staff, QUESTION)
    done = frames[-1]
    assert done["type"] == "done" and done["status"] == "complete"
    assert "25 days" in done["text"]
    assert remote_embedder.embedding_requests == []
    event = await db(answer_event)
    assert event.data["vector_search"] == {
        "skipped": "marking",
        "marking": "OFFICIAL-SENSITIVE",
        "embeddings_max_marking": "OFFICIAL",
    }
    assert event.data["passages"] and all(p["vector_score"] is None for p in event.data["passages"])


async def test_the_answers_sentences_are_not_embedded_either(remote_embedder, sensitive, staff, fake_model):
    """A language model approved for OFFICIAL-SENSITIVE writes the answer: its sentences (checked
    against their citations by meaning when they may be embedded) are not sent either."""
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.", max_marking="OFFICIAL-SENSITIVE")
    frames = await ask_once(staff, QUESTION)
    assert frames[-1]["status"] == "complete"
    assert remote_embedder.embedding_requests == []


async def test_choosing_only_official_collections_uses_the_embedder(remote_embedder, sensitive, staff):
    """The same person asking of the OFFICIAL collection alone: the question is embedded remotely
    and searched by meaning as well as by words; nothing is recorded as skipped."""
    frames = await ask_once(staff, QUESTION, collections=["hr"])
    assert frames[-1]["status"] == "complete"
    sent = json.dumps([r["input"] for r in remote_embedder.embedding_requests])
    assert QUESTION in sent
    event = await db(answer_event)
    assert "vector_search" not in event.data
    assert any(p["vector_score"] is not None for p in event.data["passages"])


async def test_an_official_only_answerer_keeps_early_embedding(remote_embedder, sensitive, staff, fake_model):
    """With an answerer approved for OFFICIAL only, retrieval never reaches the sensitive collection,
    so the question may be embedded (and is, without waiting): meaning search is kept."""
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.", max_marking="OFFICIAL")
    frames = await ask_once(staff, QUESTION)
    assert frames[-1]["status"] == "complete"
    sent = json.dumps([r["input"] for r in remote_embedder.embedding_requests])
    assert QUESTION in sent and "sensitive postings" not in sent.lower()
    event = await db(answer_event)
    assert "vector_search" not in event.data
    assert {p["collection"] for p in event.data["passages"]} == {"hr"}


async def test_a_follow_up_in_a_sensitive_scope_is_not_embedded(remote_embedder, sensitive, staff):
    """The condensed follow-up (first question and the next, together) is the text embedded for a
    follow-up: it is kept from the endpoint too."""
    first = await ask_once(staff, QUESTION)
    conversation = first[0]["conversation"]
    await ask_once(staff, "And part-time staff?", conversation=conversation)
    assert remote_embedder.embedding_requests == []
