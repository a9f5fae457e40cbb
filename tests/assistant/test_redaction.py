"""Personal data in a question reaches neither the model, nor the embedder, nor the audit content:
not in the question itself, not later as conversation history or in a follow-up's condensed query
(the person's own conversation still shows what they typed). Over real HTTP to the fake model."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from assistant import intake
from assistant.batching import QueryEmbedder
from assistant.models import Conversation, Message, Speaker
from assistant.scanning import ScanPool
from audit.models import AuditEvent
from documents.embeddings import FakeEmbeddings

from .helpers import ask, connect, frames_until_end

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

NI = "AB 12 34 56 C"
EMAIL = "jo.bloggs@example.com"


@database_sync_to_async
def db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


@pytest.fixture
def embedded(monkeypatch) -> list[str]:
    """Every text the embedder is given, from now on."""
    seen: list[str] = []
    real = FakeEmbeddings.embed_documents

    def spy(self, texts):
        seen.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(FakeEmbeddings, "embed_documents", spy)
    return seen


def audit_contents() -> str:
    return json.dumps([e.content.body for e in AuditEvent.objects.filter(action="answer").select_related("content")])


async def converse(user, *questions: str) -> list[list[dict]]:
    communicator = await connect(user)
    conversation, answers = None, []
    try:
        for question in questions:
            await ask(communicator, question, conversation=conversation)
            frames = await frames_until_end(communicator)
            conversation = next(f["conversation"] for f in frames if f["type"] == "accepted")
            answers.append(frames)
    finally:
        await communicator.disconnect()
    return answers


async def test_personal_data_from_the_first_question_never_reaches_the_model_or_embedder_later(
    guidance, staff, openai_model, openai_server, settings, embedded
):
    """An NI number and an email in question 1 are redacted for that answer and stay redacted when
    question 1 is sent again as history, and in the follow-up's condensed query; the audit content
    holds the redacted text; the person's own stored question keeps what they typed."""
    settings.HUMPHREY_CHAT_PERSONAL_DATA = "redact"
    openai_server.configure(reply="Full-time staff get 25 days of annual leave a year [1].")
    answers = await converse(
        staff,
        f"My NI number is {NI} and my email {EMAIL}. How many days of annual leave do full-time staff get?",
        "and part-time staff?",
    )
    assert [frames[-1]["status"] for frames in answers] == ["complete", "complete"]
    sent = json.dumps([r for r in openai_server.requests if "messages" in r])
    assert len([r for r in openai_server.requests if "messages" in r]) == 2
    assert "annual leave" in sent and "part-time" in sent
    for secret in (NI, NI.replace(" ", ""), EMAIL, "jo.bloggs"):
        assert secret not in sent, secret
        assert not any(secret in text for text in embedded), secret
        assert secret not in await db(audit_contents), secret
    stored = await db(lambda: Message.objects.filter(role=Speaker.USER).order_by("pk").first().text)
    assert NI in stored  # the person's own view keeps what they typed


async def test_a_first_question_with_personal_data_is_scanned_once_and_embedded_redacted_once(
    guidance, staff, settings, embedded, monkeypatch
):
    """The first question of a conversation is scanned before it is stored, so its redacted form can
    be embedded while it is stored: one scan (the intake does not scan it again) and one embedding,
    of the redacted text, which is the one retrieval then uses."""
    settings.HUMPHREY_CHAT_PERSONAL_DATA = "redact"
    scanned: list[str] = []
    real_scan = ScanPool.scan

    def spy(self, text):
        scanned.append(text)
        return real_scan(self, text)

    monkeypatch.setattr(ScanPool, "scan", spy)
    asked_to_embed: list[str] = []
    real_embed = QueryEmbedder.embed

    async def embed_spy(self, text):
        asked_to_embed.append(text)
        return await real_embed(self, text)

    monkeypatch.setattr(QueryEmbedder, "embed", embed_spy)
    asked_when_stored: list[list[str]] = []
    real_store = intake.questions_store

    def store_spy(asks):
        asked_when_stored.append(list(asked_to_embed))
        return real_store(asks)

    monkeypatch.setattr(intake, "questions_store", store_spy)
    question = f"My NI number is {NI}. How many days of annual leave do full-time staff get?"
    (frames,) = await converse(staff, question)
    assert frames[-1]["status"] == "complete"
    assert frames[-1]["citations"]
    assert scanned == [question]
    # Its embedding was asked for before the question was stored, not after.
    assert len(asked_when_stored) == 1 and len(asked_when_stored[0]) == 1, asked_when_stored
    # The sentence that held it is about the person, not the guidance: it is not searched at all.
    assert asked_when_stored[0][0] == "How many days of annual leave do full-time staff get?"
    asked = [text for text in embedded if "annual leave" in text]
    assert len(asked) == 1, embedded
    assert NI not in asked[0] and NI.replace(" ", "") not in asked[0]


async def test_what_was_redacted_is_not_searched_or_judged_and_the_title_holds_none_of_it(guidance, staff, settings):
    """A question whose personal data was removed is searched and judged without the sentence that
    held it: the labels left in its place ("[National Insurance number]", "[phone number]") and the
    words around them are not the guidance's words, and made a covered question "not covered". The
    conversation's title, on screen beside every conversation, is the redacted question."""
    settings.HUMPHREY_CHAT_PERSONAL_DATA = "redact"
    question = (
        f"My NI number is {NI} and my mobile is 07911 123456. How many days of annual leave do full-time staff get?"
    )
    (frames,) = await converse(staff, question)
    assert frames[-1]["status"] == "complete" and frames[-1]["citations"], frames[-1]
    body = await db(lambda: AuditEvent.objects.select_related("content").get(action="answer").content.body)
    assert body["condensed_question"] == "How many days of annual leave do full-time staff get?"
    title = await db(lambda: Conversation.objects.get().title)
    assert NI not in title and "07911" not in title
    assert title.startswith("My NI number is [National Insurance number] and my mobile is [phone number].")


async def test_a_question_leaning_on_the_sentence_that_held_personal_data_is_judged_with_it(guidance, staff, settings):
    """ "My colleague (<address>) says full-time staff get 25 days of annual leave. Is he right?": left
    without the sentence that held the address, "Is he right?" asks nothing, and was told "not covered".
    It is judged with that sentence, less the label alone; the address reaches nothing."""
    settings.HUMPHREY_CHAT_PERSONAL_DATA = "redact"
    address = "john.smith@cabinetoffice.gov.uk"
    question = f"My colleague ({address}) says full-time staff get 25 days of annual leave. Is he right?"
    (frames,) = await converse(staff, question)
    assert frames[-1]["status"] == "complete" and frames[-1]["citations"], frames[-1]
    body = await db(lambda: AuditEvent.objects.select_related("content").get(action="answer").content.body)
    assert (
        body["condensed_question"] == "My colleague ( ) says full-time staff get 25 days of annual leave. Is he right?"
    )
    assert address not in json.dumps(body)


async def test_blocked_personal_data_is_kept_nowhere(guidance, staff, openai_model, openai_server, settings, embedded):
    """With ``block``, the question is refused; neither the stored question, the conversation's title,
    the embedder nor the audit content holds the NI number."""
    settings.HUMPHREY_CHAT_PERSONAL_DATA = "block"
    openai_server.requests.clear()
    (frames,) = await converse(staff, f"My NI number is {NI}. How many days of annual leave do I get?")
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "personal_data_blocked"
    assert not [r for r in openai_server.requests if "messages" in r]
    assert not any(NI in text or NI.replace(" ", "") in text for text in embedded)
    assert NI not in await db(audit_contents)
    assert NI not in await db(lambda: Message.objects.get(role=Speaker.USER).text)
    assert NI not in await db(lambda: Conversation.objects.get().title)


async def test_a_question_asked_while_only_warning_is_redacted_when_sent_again_after_redaction_is_switched_on(
    guidance, staff, openai_model, openai_server, settings
):
    """The redacted form is kept beside every question (``Message.redacted``), whatever the setting
    when it was asked: switched from ``warn`` to ``redact`` mid-conversation, the earlier question goes
    to the model redacted. One stored before that field existed (null) is scanned again when sent."""
    settings.HUMPHREY_CHAT_PERSONAL_DATA = "warn"
    openai_server.configure(reply="Full-time staff get 25 days of annual leave a year [1].")
    communicator = await connect(staff)
    try:
        await ask(communicator, f"My NI number is {NI}. How many days of annual leave do full-time staff get?")
        first = await frames_until_end(communicator)
        conversation = next(f["conversation"] for f in first if f["type"] == "accepted")
        question = await db(lambda: Message.objects.get(role=Speaker.USER))
        assert NI in question.text and question.redacted and NI not in question.redacted

        settings.HUMPHREY_CHAT_PERSONAL_DATA = "redact"
        openai_server.requests.clear()
        await ask(communicator, "and part-time staff?", conversation=conversation)
        await frames_until_end(communicator)
        history = json.dumps([r for r in openai_server.requests if "messages" in r])
        assert "annual leave" in history and NI not in history

        await db(lambda: Message.objects.filter(pk=question.pk).update(redacted=None))  # as stored before
        openai_server.requests.clear()
        await ask(communicator, "and contractors?", conversation=conversation)
        await frames_until_end(communicator)
        history = json.dumps([r for r in openai_server.requests if "messages" in r])
        assert "annual leave" in history and NI not in history
    finally:
        await communicator.disconnect()
