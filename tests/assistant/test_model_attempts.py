"""The HTTP requests an answer's model call took, retries included, in the answer's audit event (and on
its message): an auditor asking why an answer was slow, or how often the model service refuses, reads
it there. The model is the real ``openai`` SDK talking HTTP to the fake OpenAI-compatible server."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from assistant.core.errors import ModelUnavailable
from assistant.core.types import Attempts, ChatRequest, TextDelta
from assistant.models import Message
from assistant.providers.openai import OpenAIChatModel
from audit.models import AuditEvent

from .helpers import ask_once

QUESTION = "How many days of annual leave do full-time staff get?"


@database_sync_to_async
def answer_event_and_message(answer_id: int) -> tuple[dict, dict]:
    event = AuditEvent.objects.get(action="answer", data__message_id=answer_id)
    return event.data, Message.objects.get(pk=answer_id).model


def _request() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hi"}], sources=[], question="hi")


@pytest.mark.asyncio
async def test_the_model_streams_its_attempts_before_its_first_word(openai_server):
    """A call that met a 503 and then answered says so before its text: two requests, the first refused."""
    openai_server.configure(scenario="error", status=503, fail_times=1)
    try:
        model = OpenAIChatModel(base_url=openai_server.base_url, model="m", retries=2, backoff=0.01)
        items = [item async for item in model.stream(_request())]
    finally:
        openai_server.configure()
    assert items[0] == Attempts(2, (503,))
    assert isinstance(items[1], TextDelta) and not any(isinstance(i, Attempts) for i in items[1:])


@pytest.mark.asyncio
async def test_a_call_that_fails_carries_its_attempts_and_a_breaker_that_refuses_sends_none(openai_server):
    """Every retry refused: the error holds each request's status. With the breaker open, no request
    was sent, and the error says so (0)."""
    openai_server.configure(scenario="error", status=502)
    try:
        model = OpenAIChatModel(
            base_url=openai_server.base_url, model="m", retries=1, backoff=0.01, breaker_threshold=1
        )
        with pytest.raises(ModelUnavailable) as failed:
            [item async for item in model.stream(_request())]
        assert failed.value.attempts == Attempts(2, (502, 502))
        with pytest.raises(ModelUnavailable) as refused:
            [item async for item in model.stream(_request())]
        assert refused.value.attempts == Attempts(0, ())
    finally:
        openai_server.configure()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_answer_that_took_a_retry_records_both_attempts(guidance, staff, openai_model, openai_server):
    """A 503 then an answer: the answer event's model data says two requests were sent and the first
    met a 503; the message keeps the same. An answer that took one request says one, none failed."""
    openai_server.configure(scenario="error", status=503, fail_times=1)
    done = (await ask_once(staff, QUESTION, collections=["hr"]))[-1]
    assert done["type"] == "done" and done["status"] == "complete", done
    data, stored = await answer_event_and_message(done["message"])
    assert (data["model"]["attempts"], data["model"]["failed_attempts"]) == (2, [503])
    assert data["model"]["name"] == "fake-model" and stored == data["model"]

    openai_server.configure(scenario="ok")
    done = (await ask_once(staff, QUESTION, collections=["hr"]))[-1]
    data, _ = await answer_event_and_message(done["message"])
    assert (data["model"]["attempts"], data["model"]["failed_attempts"]) == (1, [])


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_failed_model_call_records_its_attempts_whether_or_not_the_guidance_is_quoted(
    guidance, staff, settings, openai_model, openai_server
):
    """The model down (500 on every retry): the failed answer's event says how many requests met a 500;
    quoted instead, the event names the model that failed with its attempts (``instead_of``)."""
    openai_server.configure(scenario="error", status=500)
    openai_model(retries=1)
    settings.HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS = False
    failed = await ask_once(staff, QUESTION, collections=["hr"])
    assert failed[-1]["type"] == "error" and failed[-1]["code"] == "model_unavailable"
    data, _ = await answer_event_and_message(failed[0]["answer"])
    assert (data["model"]["attempts"], data["model"]["failed_attempts"]) == (2, [500, 500])

    settings.HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS = True
    quoted = (await ask_once(staff, QUESTION, collections=["hr"]))[-1]
    assert quoted["type"] == "done" and quoted["status"] == "complete", quoted
    data, _ = await answer_event_and_message(quoted["message"])
    assert data["model"]["name"] == "extractive" and "attempts" not in data["model"]  # no request: it quotes
    instead_of = data["model"]["instead_of"]
    assert instead_of["name"] == "fake-model"
    assert (instead_of["attempts"], instead_of["failed_attempts"]) == (2, [500, 500])
