"""A new conversation's question is embedded and searched while it is being stored, and the answer
uses that search only when it was made for the question as stored; a follow-up, or an ask the intake
refuses, gets none of it, and a search begun for a collection the person may not read finds nothing
there (access is checked in the SQL). Fake embedder; the intake slowed down so the overlap shows."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async

from assistant import intake
from assistant.services import headstart, pipeline
from audit.models import AuditEvent

from .helpers import ask, ask_once, connect, frames_until_end

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

QUESTION = "How many days of annual leave do full-time staff get?"


@pytest.fixture
def calls(monkeypatch) -> dict[str, list]:
    """When each question was stored, and each search: begun early (``head``) or by the answer."""
    seen: dict[str, list] = {"stored": [], "head": [], "answer": []}
    real_store = intake.questions_store

    def slow_store(asks):
        time.sleep(0.3)  # long enough for the embedding and the search to begin meanwhile
        results = real_store(asks)
        seen["stored"].append(time.monotonic())
        return results

    def spy(name, real):
        def search(user, query, collections, *args):
            began = time.monotonic()
            found = real(user, query, collections, *args)
            seen[name].append((began, query, collections, [s.document_title for s in found[0]]))
            return found

        return search

    monkeypatch.setattr(intake, "questions_store", slow_store)
    monkeypatch.setattr(headstart, "sources_retrieve_reviewed", spy("head", headstart.sources_retrieve_reviewed))
    monkeypatch.setattr(pipeline, "sources_retrieve_reviewed", spy("answer", pipeline.sources_retrieve_reviewed))
    return seen


async def test_a_new_question_is_searched_while_it_is_stored_and_the_answer_uses_that(guidance, staff, calls):
    frames = await ask_once(staff, QUESTION, collections=["hr"])
    done = frames[-1]
    assert done["status"] == "complete" and "25 days of annual leave" in done["text"]
    assert done["citations"][0]["document_title"] == "Leave policy"
    ((began, query, collections, titles),) = calls["head"]
    assert query == QUESTION and collections == ["hr"] and "Leave policy" in titles
    assert began < calls["stored"][0]  # searched before the question was stored
    assert calls["answer"] == []  # and the answer did not search again


async def test_an_answer_from_a_head_start_records_the_time_its_search_took_not_the_wait(
    guidance, staff, calls, monkeypatch
):
    """The audit's retrieval time is the head start's own embedding and search, which ran while the
    question was stored; before, it recorded only what was left to wait after storing (0 ms)."""
    searched = headstart.sources_retrieve_reviewed

    def slow_search(*args):
        time.sleep(0.1)  # well inside the 0.3 s the question takes to store
        return searched(*args)

    monkeypatch.setattr(headstart, "sources_retrieve_reviewed", slow_search)
    frames = await ask_once(staff, QUESTION, collections=["hr"])
    assert frames[-1]["status"] == "complete" and calls["answer"] == []
    event = await database_sync_to_async(AuditEvent.objects.get)(action="answer")
    assert event.data["timings_ms"]["retrieval"] >= 100, event.data["timings_ms"]


async def test_a_follow_up_is_searched_by_the_answer_once_it_is_stored(guidance, staff, calls):
    communicator = await connect(staff)
    try:
        await ask(communicator, QUESTION, collections=["hr"])
        first = await frames_until_end(communicator)
        conversation = next(f["conversation"] for f in first if f["type"] == "accepted")
        await ask(communicator, "and part-time staff?", conversation=conversation, collections=["hr"])
        second = await frames_until_end(communicator)
    finally:
        await communicator.disconnect()
    assert second[-1]["status"] == "complete"
    assert len(calls["head"]) == 1  # the first question only
    ((began, query, _collections, _titles),) = calls["answer"]
    assert "part-time" in query and began > calls["stored"][1]


async def test_a_search_begun_for_a_collection_the_person_may_not_read_finds_nothing_and_is_not_used(
    guidance, staff, calls
):
    """The intake refuses the ask; the search begun meanwhile (access checked in its SQL) found
    nothing in the restricted collection, and nothing of it reached the person."""
    communicator = await connect(staff)
    try:
        await ask(communicator, "How many days of annual leave does the security team get?", collections=["restricted"])
        frames = await frames_until_end(communicator)
    finally:
        await communicator.disconnect()
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "collection_unavailable"
    assert not any("40 days" in str(f) or "rota" in str(f) for f in frames)
    for _began, _query, collections, titles in calls["head"]:
        assert collections == ["restricted"] and titles == []
    assert calls["answer"] == []
