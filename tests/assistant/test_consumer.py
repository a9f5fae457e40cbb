"""The chat websocket in-process (WebsocketCommunicator): frames, grounding, access, storage, audit."""

# Over 500 lines by design: it mirrors the consumer's frames one test each; shared helpers live in
# tests/assistant/helpers.py (issue #20 reshapes the test helpers across apps).

from __future__ import annotations

import asyncio
import io
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from assistant import intake, services
from assistant.models import Citation, Conversation, Message, Status
from assistant.providers.fake import FakeChatModel
from assistant.services import pipeline
from audit.models import AuditEvent
from documents.models import Marking

from .conftest import add_document, make_collection
from .helpers import APP, ask, ask_once, connect, frames_until_end

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def answer_events():
    return list(AuditEvent.objects.filter(action="answer").order_by("seq"))


@database_sync_to_async
def db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


async def test_answer_streams_sources_deltas_and_done(guidance, staff, fake_model):
    """An ask gets accepted, the numbered sources, coalesced deltas and a done frame; the answer, its
    citation and exactly one audit event are stored."""
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.", delay=0.001)
    frames = await ask_once(staff, "How many days of annual leave do full-time staff get?")
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "accepted" and kinds[1] == "sources" and kinds[-1] == "done"
    assert "delta" in kinds
    accepted, sources, done = frames[0], frames[1], frames[-1]
    assert sources["sources"][0]["document_title"] == "Leave policy"
    assert sources["sources"][0]["url"].endswith(f"/passage/{sources['sources'][0]['chunk_id']}/")
    streamed = "".join(f["text"] for f in frames if f["type"] == "delta")
    assert streamed == done["text"] == "Full-time staff get 25 days of annual leave [1]."
    assert done["status"] == "complete"
    assert [c["n"] for c in done["citations"]] == [1]
    assert 'class="govuk-link humphrey-citation"' in done["html"]
    assert '<span class="govuk-visually-hidden humphrey-citation__title"> (Leave policy)</span>' in done["html"]
    assert done["usage"]["total_tokens"] > 0

    answer = await db(Message.objects.get, pk=accepted["answer"])
    assert answer.status == Status.COMPLETE and answer.text == done["text"]
    citation = await db(Citation.objects.get, message=answer)
    assert citation.chunk_id == sources["sources"][0]["chunk_id"]
    question = await db(Message.objects.get, pk=accepted["message"])
    assert question.text == "How many days of annual leave do full-time staff get?"
    events = await db(answer_events)
    assert len(events) == 1
    event = events[0]
    assert event.outcome == "answered" and event.subject == f"conversation:{accepted['conversation']}"
    assert event.data["message_id"] == answer.pk and event.data["question_message_id"] == question.pk
    assert event.data["prompt_version"] == "answer_v1"
    assert event.data["citations"] == [
        {
            "n": 1,
            "chunk_id": citation.chunk_id,
            "version_id": citation.version_id,
            "highlights": citation.highlights,  # the passage's sentences that support the answer
        }
    ]
    assert citation.highlights and event.data["coverage"]["covered"] is True
    assert event.data["claims"] == {"checked": 1, "unsupported": 0, "uncited": 0}
    assert event.data["user_groups"] == ["All staff"]
    assert event.data["collections"] == ["hr"]  # everything the user may read, not the restricted one
    content = await db(lambda: event.content.body)
    assert content["messages"][0]["role"] == "system"
    assert '<passage n="1"' in content["messages"][-1]["content"]


async def test_deltas_are_coalesced_not_one_frame_per_token(guidance, staff, fake_model):
    """Hundreds of tokens arriving quickly reach the client in far fewer delta frames."""
    fake_model(reply=" ".join(["leave"] * 300) + " {cite}", delay=0.0005)
    frames = await ask_once(staff, "How many days of annual leave do full-time staff get?")
    deltas = [f for f in frames if f["type"] == "delta"]
    assert "".join(d["text"] for d in deltas) == frames[-1]["text"]
    assert 1 <= len(deltas) < 100


async def test_anonymous_socket_is_closed_with_4401(guidance):
    """A socket without a signed-in user is closed with the documented code 4401."""
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.models import AnonymousUser

    from .helpers import APP

    ws = WebsocketCommunicator(APP, "/ws/chat/")
    ws.scope["user"] = AnonymousUser()
    connected, _ = await ws.connect()
    assert connected
    closed = await ws.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4401}
    await ws.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ('["ask"]', "bad_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "ask"}', "bad_frame"),
        ('{"type": "ask", "text": "hi", "conversation": "1; DROP TABLE"}', "bad_frame"),
        ('{"type": "ask", "text": "hi", "collections": "hr"}', "bad_frame"),
        ('{"type": "ask", "text": "   "}', "empty_question"),
    ],
)
async def test_bad_frames_get_a_clear_error_and_store_nothing(guidance, staff, raw, code):
    """Malformed or incomplete frames get an error frame with a stable code; nothing is stored."""
    ws = await connect(staff)
    try:
        await ws.send_to(text_data=raw)
        frame = json.loads(await ws.receive_from(timeout=5))
        # The socket still works afterwards.
        await ws.send_to(text_data='{"type": "ping"}')
        pong = json.loads(await ws.receive_from(timeout=5))
    finally:
        await ws.disconnect()
    assert frame["type"] == "error" and frame["code"] == code and frame["message"]
    assert pong == {"type": "pong"}
    assert await db(Message.objects.count) == 0


async def test_binary_frames_are_refused(guidance, staff):
    """A binary frame gets a bad_frame error."""
    ws = await connect(staff)
    try:
        await ws.send_to(bytes_data=b"\xff\xfe\x00")
        frame = json.loads(await ws.receive_from(timeout=5))
    finally:
        await ws.disconnect()
    assert frame["code"] == "bad_frame"


async def test_other_users_conversation_and_unreadable_collection_are_refused(guidance, staff, make_user):
    """Another person's conversation id, or a collection the user cannot read, is refused without
    revealing whether it exists; nothing is stored, and the trail records who reached for what, from where."""
    other = await db(make_user, "olive@example.gov.uk", groups=["All staff"])
    theirs = await db(Conversation.objects.create, owner=other, title="Theirs")
    ws = WebsocketCommunicator(APP, "/ws/chat/")
    ws.scope["user"], ws.scope["client"] = staff, ("10.9.8.7", 50123)
    assert (await ws.connect())[0]
    try:
        await ask(ws, "What about annual leave?", conversation=theirs.pk)
        first = json.loads(await ws.receive_from(timeout=5))
        await ask(ws, "What about annual leave?", collections=["restricted"])
        second = json.loads(await ws.receive_from(timeout=5))
        await ask(ws, "What about annual leave?", collections=["no-such-collection"])
        third = json.loads(await ws.receive_from(timeout=5))
    finally:
        await ws.disconnect()
    assert first["code"] == "conversation_not_found"
    assert second["code"] == third["code"] == "collection_unavailable"
    assert second["message"] == third["message"]
    assert await db(Message.objects.count) == 0
    refused = await db(
        lambda: list(
            AuditEvent.objects.filter(action="access.denied").order_by("seq").values("actor_id", "subject", "data")
        )
    )
    assert [(e["actor_id"], e["data"]["code"], e["data"]["ip"]) for e in refused] == [
        (staff.pk, "conversation_not_found", "10.9.8.7"),
        (staff.pk, "collection_unavailable", "10.9.8.7"),
        (staff.pk, "collection_unavailable", "10.9.8.7"),
    ]
    assert refused[0]["subject"] == f"conversation:{theirs.pk}"
    assert [e["data"]["collections"] for e in refused[1:]] == [["restricted"], ["no-such-collection"]]


async def test_never_sources_from_a_collection_the_user_cannot_read(guidance, staff, fake_model):
    """A question that matches restricted guidance best still only gets passages the user may read."""
    frames = await ask_once(staff, "What does the secret rota say about annual leave in the restricted unit?")
    shown = [s for f in frames if f["type"] == "sources" for s in f["sources"]]
    assert shown, "the readable leave policy should still be found"
    assert {s["collection"] for s in shown} == {"hr"}
    # Only the asker's own words name it: the new conversation's title, made from the question.
    assert frames[0]["type"] == "accepted" and frames[0]["title"].startswith("What does the secret rota say")
    assert "secret rota" not in json.dumps(frames[1:]).lower()
    sent = FakeChatModel.requests["test"][0]
    assert all(s.collection_slug == "hr" for s in sent.sources)


async def test_passages_above_the_models_marking_are_never_sent(guidance, staff, fake_model, settings):
    """An OFFICIAL-only model endpoint is never sent OFFICIAL-SENSITIVE passages."""
    sensitive = await db(make_collection, "sensitive-hr", groups=["All staff"], marking=Marking.OFFICIAL_SENSITIVE)
    await db(add_document, sensitive, ["Annual leave for full-time staff: sensitive appendix on leave days."])
    fake_model(max_marking="OFFICIAL")
    frames = await ask_once(staff, "Annual leave for full-time staff: how many leave days?")
    sent = FakeChatModel.requests["test"][0]
    assert sent.sources and all(s.marking == "OFFICIAL" for s in sent.sources)
    assert "sensitive appendix" not in json.dumps(sent.messages)
    assert "sensitive appendix" not in json.dumps(frames)


async def test_extractive_answer_when_no_model_is_configured(guidance, staff):
    """With no language model, the answer quotes the best passages, cited, and says so plainly."""
    frames = await ask_once(staff, "How many days of annual leave do full-time staff get?")
    done = frames[-1]
    assert done["type"] == "done" and done["status"] == "complete"
    assert "No language model is configured" in done["text"]
    assert "25 days of annual leave" in done["text"]
    assert done["citations"][0]["document_title"] == "Leave policy"
    event = (await db(answer_events))[0]
    assert event.data["model"]["name"] == "extractive"


async def test_guidance_that_does_not_cover_it_gets_an_honest_no_answer(guidance, staff, fake_model):
    """Nothing relevant retrieved: no model call, the user is told the guidance does not cover it."""
    frames = await ask_once(staff, "Which quantum chromodynamics gluon flavours exist?")
    done = frames[-1]
    assert done["status"] == "no_answer" and "does not cover" in done["text"]
    assert "The closest passages do not mention “quantum”, “chromodynamics”, “gluon”." in done["text"]
    assert "test" not in FakeChatModel.requests
    event = (await db(answer_events))[0]
    assert event.outcome == "no_answer"
    # The question's own words are its content, purged with it; the data, kept for ever, counts them.
    assert "quantum" not in str(event.data) and event.data["coverage"]["missing_count"] >= 3
    content = await db(lambda: event.content.body)
    assert {"quantum", "chromodynam", "gluon"} <= set(content["coverage_missing"])


async def test_a_not_covered_reply_says_what_to_do_about_several_questions_or_collections_left_out(
    guidance, staff, fake_model
):
    """A pasted message asking several questions the guidance does not cover as one is told to ask them
    one at a time; a question asked of some of the person's collections is told which others they
    may search (never one they may not read)."""
    pasted = (
        "Hi all, quick ones before Tuesday. Which quantum gluon flavours exist? "
        "Who won the chromodynamics cup? Can we book the planetarium?"
    )
    done = (await ask_once(staff, pasted))[-1]
    assert done["status"] == "no_answer" and "Your message asks 3 questions. Ask them one at a time" in done["text"]
    assert "Only the collections you chose" not in done["text"]

    await db(make_collection, "travel", groups=["All staff"], name="Travel guidance")
    done = (await ask_once(staff, "Which quantum chromodynamics gluon flavours exist?", collections=["hr"]))[-1]
    assert done["status"] == "no_answer" and "asks" not in done["text"]
    assert "Only the collections you chose were searched. You can also search “Travel guidance”." in done["text"]
    assert "rota" not in done["text"].lower() and "restricted" not in done["text"].lower()


async def test_an_answer_that_cites_nothing_is_not_shown_as_an_answer(guidance, staff, fake_model):
    """The model answers without citing a passage: the user is told the guidance does not cover it,
    with the nearest documents; what the model said is kept in the audit."""
    fake_model(reply="Everyone gets 99 days off, trust me.")
    frames = await ask_once(staff, "How many days of annual leave do full-time staff get?")
    done = frames[-1]
    assert done["status"] == "no_answer"
    assert "99 days" not in done["text"] and "Leave policy" in done["text"]
    assert done["citations"] == []
    event = (await db(answer_events))[0]
    content = await db(lambda: event.content.body)
    assert event.outcome == "no_answer" and "99 days" in content["model_output"]


async def test_stop_keeps_the_partial_answer_marked_stopped(guidance, staff, fake_model):
    """``stop`` ends generation; the partial answer is stored as stopped and audited once."""
    fake_model(reply=" ".join(["word"] * 400) + " {cite}", delay=0.01)
    ws = await connect(staff)
    try:
        await ask(ws, "How many days of annual leave do full-time staff get?")
        frames = []
        while True:
            frame = json.loads(await ws.receive_from(timeout=5))
            frames.append(frame)
            if frame["type"] == "delta":
                break
        await ws.send_to(text_data='{"type": "stop"}')
        frames += await frames_until_end(ws)
    finally:
        await ws.disconnect()
    done = frames[-1]
    assert done["type"] == "done" and done["status"] == "stopped"
    answer = await db(Message.objects.get, pk=frames[0]["answer"])
    assert answer.status == Status.STOPPED and answer.text.startswith("word")
    assert len(answer.text.split()) < 400
    events = await db(answer_events)
    assert [e.outcome for e in events] == ["stopped"]


async def test_socket_dropping_mid_answer_still_completes_and_stores_it(guidance, staff, fake_model):
    """The socket goes away mid-answer: the answer still completes, is stored and audited once."""
    fake_model(reply=" ".join(["leave"] * 60) + " {cite}", delay=0.005)
    ws = await connect(staff)
    await ask(ws, "How many days of annual leave do full-time staff get?")
    accepted = json.loads(await ws.receive_from(timeout=5))
    await ws.disconnect()
    await services.answers_wait()
    answer = await db(Message.objects.get, pk=accepted["answer"])
    assert answer.status == Status.COMPLETE and answer.text.endswith("[1]")
    assert [e.outcome for e in await db(answer_events)] == ["answered"]


async def test_follow_up_is_condensed_with_the_previous_question(guidance, staff, fake_model):
    """One socket, two questions: the follow-up is searched together with the previous question and
    the earlier turns are sent to the model."""
    ws = await connect(staff)
    try:
        await ask(ws, "How many days of annual leave do full-time staff get?")
        first = await frames_until_end(ws)
        await ask(ws, "And part-time staff?", conversation=first[0]["conversation"])
        second = await frames_until_end(ws)
    finally:
        await ws.disconnect()
    assert second[0]["conversation"] == first[0]["conversation"]
    assert second[-1]["status"] == "complete"
    events = await db(answer_events)
    content = await db(lambda: events[1].content.body)
    assert content["condensed_question"].startswith("How many days of annual leave")
    roles = [m["role"] for m in content["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


async def test_question_too_long_is_refused(guidance, staff, settings):
    """A question over the limit gets question_too_long; nothing is stored."""
    settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS = 50
    ws = await connect(staff)
    try:
        await ask(ws, "annual leave " * 10)
        frame = json.loads(await ws.receive_from(timeout=5))
    finally:
        await ws.disconnect()
    assert frame["code"] == "question_too_long"
    assert await db(Message.objects.count) == 0


async def test_oversized_frame_closes_1009_and_flood_closes_1008(guidance, staff, settings):
    """A frame over the size limit closes the socket with 1009; too many frames a minute with 1008."""
    settings.HUMPHREY_CHAT_MAX_FRAME_BYTES = 1000
    settings.HUMPHREY_CHAT_FRAMES_PER_MINUTE = 5
    ws = await connect(staff)
    try:
        await ws.send_to(text_data=json.dumps({"type": "ask", "text": "x" * 2000}))
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 1009}
    finally:
        await ws.disconnect()
    ws = await connect(staff)
    try:
        for _ in range(5):
            await ws.send_to(text_data='{"type": "ping"}')
            assert json.loads(await ws.receive_from(timeout=5)) == {"type": "pong"}
        await ws.send_to(text_data='{"type": "ping"}')
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 1008}
    finally:
        await ws.disconnect()


async def test_daily_token_budget_refuses_with_an_audited_refusal(guidance, staff, fake_model, settings):
    """Over the daily token budget: a clear error frame, the question kept, one ``refused`` event."""
    settings.HUMPHREY_CHAT_DAILY_TOKENS = 50
    ws = await connect(staff)
    try:
        await ask(ws, "How many days of annual leave do full-time staff get?")
        first = await frames_until_end(ws)
        await ask(ws, "How many days of annual leave do part-time staff get?")
        second = await frames_until_end(ws)
    finally:
        await ws.disconnect()
    assert first[-1]["type"] == "done"
    assert second[-1] == {
        "type": "error",
        "message_id": second[0]["answer"],
        "code": "daily_limit",
        "message": second[-1]["message"],
    }
    assert [e.outcome for e in await db(answer_events)] == ["answered", "refused"]
    assert await db(Message.objects.filter(role="user").count) == 2


async def test_personal_data_is_redacted_before_the_model_and_recorded(guidance, staff, fake_model, settings):
    """An email address in a question is removed before retrieval and the model; the user is told;
    the audit records the kind found, not the value."""
    settings.HUMPHREY_CHAT_PERSONAL_DATA = "redact"
    frames = await ask_once(
        staff, "How many days of annual leave do full-time staff get? Reply to jo.bloggs@example.com"
    )
    notice = next(f for f in frames if f["type"] == "notice")
    assert notice["code"] == "personal_data" and "email address" in notice["message"]
    sent = FakeChatModel.requests["test"][0]
    assert "jo.bloggs" not in json.dumps(sent.messages)
    event = (await db(answer_events))[0]
    assert event.data["personal_data"] == ["email"]
    assert "jo.bloggs" not in json.dumps(event.data)


async def test_personal_data_blocked_by_setting(guidance, staff, fake_model, settings):
    """With the block setting, a question holding a National Insurance number is refused, stored
    redacted, and audited as refused."""
    settings.HUMPHREY_CHAT_PERSONAL_DATA = "block"
    frames = await ask_once(staff, "Annual leave for QQ123456C? No wait, for AB123456C")
    assert frames[-1]["code"] == "personal_data_blocked"
    question = await db(Message.objects.get, pk=frames[0]["message"])
    assert "AB123456C" not in question.text
    assert "test" not in FakeChatModel.requests
    assert [e.outcome for e in await db(answer_events)] == ["refused"]


async def test_busy_socket_refuses_a_second_question_until_the_first_ends(guidance, staff, fake_model):
    """One answer at a time per socket: a second ask mid-answer gets ``busy``."""
    fake_model(reply=" ".join(["leave"] * 100) + " {cite}", delay=0.01)
    ws = await connect(staff)
    try:
        await ask(ws, "How many days of annual leave do full-time staff get?")
        json.loads(await ws.receive_from(timeout=5))
        await ask(ws, "And expenses?")
        frames = await frames_until_end(ws)
    finally:
        await ws.disconnect()
        await services.answers_wait()
    assert any(f["type"] == "error" and f["code"] == "busy" for f in frames)
    await asyncio.sleep(0)


async def test_a_second_tab_cannot_ask_in_a_conversation_whose_answer_is_still_being_written(
    guidance, staff, fake_model
):
    """Two sockets (two tabs) of one conversation: while the first tab's answer streams, the second
    tab's question in that conversation is refused (``conversation_busy``), stored nowhere, so it is
    not answered without the first as context; the first answer completes, and then the second tab
    may ask there."""
    fake_model(reply=" ".join(["leave"] * 60) + " {cite}", delay=0.01)
    first, second = await connect(staff), await connect(staff)
    try:
        await ask(first, "How many days of annual leave do full-time staff get?")
        accepted = json.loads(await first.receive_from(timeout=5))
        conversation = accepted["conversation"]
        await ask(second, "And for part-time staff?", conversation=conversation)
        refused = await frames_until_end(second)
        assert refused == [{"type": "error", "code": "conversation_busy", "message": intake.CONVERSATION_BUSY}]
        assert (await frames_until_end(first))[-1]["status"] == "complete"
        await services.answers_wait()
        assert await db(Message.objects.filter(conversation_id=conversation).count) == 2
        await ask(second, "And for part-time staff?", conversation=conversation)
        assert (await frames_until_end(second))[-1]["type"] == "done"
    finally:
        await first.disconnect()
        await second.disconnect()
        await services.answers_wait()


async def test_too_many_answers_at_once_for_one_person_is_refused_and_audited(guidance, staff, fake_model, settings):
    """Two sockets, one person, a limit of one answer at a time: the second is refused with
    too_many_streams (stored and audited as refused); the first completes."""
    settings.HUMPHREY_CHAT_MAX_STREAMS_PER_USER = 1
    fake_model(reply=" ".join(["leave"] * 80) + " {cite}", delay=0.01)
    first, second = await connect(staff), await connect(staff)
    try:
        await ask(first, "How many days of annual leave do full-time staff get?")
        assert json.loads(await first.receive_from(timeout=5))["type"] == "accepted"
        await ask(second, "How many days of annual leave do part-time staff get?")
        refused = await frames_until_end(second)
        finished = await frames_until_end(first)
    finally:
        await first.disconnect()
        await second.disconnect()
    assert refused[-1]["type"] == "error" and refused[-1]["code"] == "too_many_streams"
    assert finished[-1]["status"] == "complete"
    assert sorted(e.outcome for e in await db(answer_events)) == ["answered", "refused"]


async def test_the_answer_limit_counts_answers_being_written_by_other_processes(guidance, staff, fake_model, settings):
    """Answers still being written for this person elsewhere (another web process: rows in the database,
    nothing in this process) count against the limit; an old abandoned one does not."""
    from datetime import timedelta

    from django.utils import timezone

    settings.HUMPHREY_CHAT_MAX_STREAMS_PER_USER = 1

    def elsewhere(minutes_ago: int) -> int:
        prepared = intake.ask_store(user=staff, conversation_id=None, text="Elsewhere?", collections=None)
        Message.objects.filter(pk=prepared.answer_id).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
        return prepared.answer_id

    stale = await db(elsewhere, 30)
    ws = await connect(staff)
    try:
        await ask(ws, "How many days of annual leave do full-time staff get?")
        answered = await frames_until_end(ws)
        busy = await db(elsewhere, 0)
        await ask(ws, "How many days of annual leave do part-time staff get?")
        refused = await frames_until_end(ws)
    finally:
        await ws.disconnect()
    assert answered[-1]["type"] == "done", "an abandoned answer from long ago does not count"
    assert refused[-1]["type"] == "error" and refused[-1]["code"] == "too_many_streams"
    assert busy != stale


async def test_database_unavailable_when_storing_the_question_gives_a_clear_error(guidance, staff, monkeypatch):
    """If the question cannot be stored (database down), the user gets storage_error, nothing is sent
    to a model, and the socket keeps working."""
    from django.db import OperationalError

    def down(asks):
        raise OperationalError("connection refused")

    monkeypatch.setattr(intake, "questions_store", down)
    ws = await connect(staff)
    try:
        await ask(ws, "How many days of annual leave do full-time staff get?")
        frame = json.loads(await ws.receive_from(timeout=5))
        await ws.send_to(text_data='{"type": "ping"}')
        pong = json.loads(await ws.receive_from(timeout=5))
    finally:
        await ws.disconnect()
    assert frame["type"] == "error" and frame["code"] == "storage_error"
    assert "connection refused" not in frame["message"]
    assert pong == {"type": "pong"}


async def test_answer_is_stored_once_the_database_comes_back(guidance, staff, fake_model, monkeypatch):
    """The final write fails while the database restarts, then succeeds: the answer is stored and
    audited exactly once, and the user gets the done frame."""
    calls = answer_record_failing(monkeypatch, times=2)
    frames = await ask_once(staff, "How many days of annual leave do full-time staff get?")
    assert frames[-1]["type"] == "done" and frames[-1]["status"] == "complete"
    assert len(calls) == 3
    assert [e.outcome for e in await db(answer_events)] == ["answered"]


def _no_wait(sleep):
    async def short(seconds, *args, **kwargs):
        return await sleep(min(seconds, 0.01), *args, **kwargs)

    return short


def answer_record_failing(monkeypatch, *, times: int) -> list:
    """The final write fails ``times`` times as if PostgreSQL were restarting, then works; retries
    wait at most 10 ms. Returns the list that grows by one per attempt."""
    from django.db import OperationalError

    real, calls = pipeline.answer_record, []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    # Patched where AnswerRun looks it up (assistant.services.pipeline), not on the package's re-export.
    monkeypatch.setattr(pipeline, "answer_record", flaky)
    monkeypatch.setattr(pipeline.asyncio, "sleep", _no_wait(asyncio.sleep))
    return calls


async def test_an_answer_the_database_lost_for_long_is_recorded_as_failed_once_it_returns(
    guidance, staff, fake_model, monkeypatch
):
    """Every quick retry fails: the user is told storage_error at once; the answer is then recorded
    as failed (storage_error), with one audit event keeping what the model said, when the database returns."""
    calls = answer_record_failing(monkeypatch, times=7)  # the five quick tries and two late ones
    frames = await ask_once(staff, "How many days of annual leave do full-time staff get?")
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "storage_error"
    await services.answers_wait()
    assert len(calls) == 8
    answer = await db(lambda: Message.objects.filter(role="assistant").latest("pk"))
    assert (answer.status, answer.error_code) == (Status.FAILED, "storage_error")
    events = await db(lambda: list(AuditEvent.objects.filter(action="answer").select_related("content")))
    assert [(e.outcome, e.data["error_code"]) for e in events] == [("error", "storage_error")]
    assert events[0].content.body["model_output"] == "The answer is in the guidance [1]."


async def test_answers_left_streaming_by_a_stopped_process_are_closed_once(guidance, staff):
    """A process killed mid-answer leaves it 'streaming': the sweep records it as failed (interrupted)
    with one audit event; a young answer (perhaps still being written) and a second sweep change nothing."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    def store_two():
        old = intake.ask_store(user=staff, conversation_id=None, text="What is the leave policy?", collections=None)
        young = intake.ask_store(user=staff, conversation_id=None, text="And sick leave?", collections=None)
        Message.objects.filter(pk=old.answer_id).update(created_at=timezone.now() - timedelta(minutes=30))
        return old.answer_id, young.answer_id

    old_id, young_id = await db(store_two)
    out = io.StringIO()
    await db(call_command, "close_interrupted_answers", stdout=out)
    assert "closed 1" in out.getvalue()
    old, young = await db(lambda: (Message.objects.get(pk=old_id), Message.objects.get(pk=young_id)))
    assert (old.status, old.error_code) == (Status.FAILED, "interrupted")
    assert young.status == Status.STREAMING
    events = await db(lambda: list(AuditEvent.objects.filter(action="answer").select_related("content")))
    assert [(e.outcome, e.data["message_id"], e.content.body["question"]) for e in events] == [
        ("error", old_id, "What is the leave policy?")
    ]
    await db(call_command, "close_interrupted_answers", stdout=io.StringIO())
    assert len(await db(answer_events)) == 1


async def test_an_answer_records_where_it_was_asked_from(guidance, staff, fake_model, settings):
    """A question comes over a socket, not an HTTP request: its answer's event still records the
    client's address, read behind our own proxies by the rule HTTP requests follow (a spoofed
    entry left of the proxy's is ignored)."""
    settings.HUMPHREY_TRUSTED_PROXIES = ["172.16.0.0/12"]
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.", delay=0.001)
    ws = WebsocketCommunicator(APP, "/ws/chat/", headers=[(b"x-forwarded-for", b"10.0.0.1, 203.0.113.9")])
    ws.scope["user"], ws.scope["client"] = staff, ("172.18.0.5", 40000)
    assert (await ws.connect())[0]
    try:
        await ask(ws, "How many days of annual leave do full-time staff get?")
        frames = await frames_until_end(ws)
    finally:
        await ws.disconnect()
    assert frames[-1]["type"] == "done"
    (event,) = await db(answer_events)
    assert event.data["ip"] == "203.0.113.9"


async def test_an_answers_cost_is_recorded_with_the_prices_it_was_reckoned_at(guidance, staff, fake_model, settings):
    """Prices change: the event keeps the rates beside the amount, so an auditor can check the sum."""
    settings.HUMPHREY_CHAT_COST_PER_1K_TOKENS = (0.002, 0.008)
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.", delay=0.001)
    frames = await ask_once(staff, "How many days of annual leave do full-time staff get?")
    assert frames[-1]["type"] == "done"
    (event,) = await db(answer_events)
    usage, cost = event.data["usage"], event.data["cost"]
    assert cost["per_1k_tokens"] == [0.002, 0.008]
    assert cost["amount"] == round(usage["prompt_tokens"] * 0.002 / 1000 + usage["completion_tokens"] * 0.008 / 1000, 6)
