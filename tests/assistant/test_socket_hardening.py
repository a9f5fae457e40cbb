"""The chat websocket against a signed-in attacker: characters the database cannot store, deeply nested
JSON, too many sockets, and an account deactivated or re-passworded while its socket is open."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from assistant import consumers, intake
from assistant.core.errors import AnswerError
from assistant.intake import Ask, Prepared, questions_store
from assistant.models import Conversation, Message, Speaker, Status
from audit.models import AuditEvent

from .helpers import ask, connect, frames_until_end

ATTACKS = {
    "nul": "hello\u0000",
    "escape": "hello \u001b[2J annual leave",
    "lone surrogate": "annual leave \ud800?",
}


@database_sync_to_async
def db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def questions_of(user) -> list[str]:
    return list(Message.objects.filter(conversation__owner=user, role=Speaker.USER).values_list("text", flat=True))


def stored_rows_of(user) -> tuple[int, int, int]:
    """(conversations, messages, answer audit events) belonging to ``user``."""
    conversations = Conversation.objects.filter(owner=user)
    return (
        conversations.count(),
        Message.objects.filter(conversation__in=conversations).count(),
        AuditEvent.objects.filter(action="answer", subject__in=[f"conversation:{c.pk}" for c in conversations]).count(),
    )


def checks_off(monkeypatch) -> None:
    """Let bad characters through the checks, to show what the database does with them."""
    monkeypatch.setattr(intake, "refuse_bad_characters", lambda text: None)
    monkeypatch.setattr(consumers, "refuse_bad_characters", lambda text: None)


def asks_stored_together(monkeypatch, n: int) -> list[int]:
    """The next ``n`` questions submitted on this event loop wait for each other, so they are stored
    in one batch. Returns the list of batch sizes ``questions_store`` is called with."""
    batcher, real_submit, real_store = intake.question_intake(), intake.question_intake().submit, intake.questions_store
    waiting, everyone_here, sizes = [], asyncio.Event(), []

    async def submit(item):
        waiting.append(item)
        if len(waiting) >= n:
            everyone_here.set()
        await everyone_here.wait()
        return await real_submit(item)

    def store(asks):
        sizes.append(len(asks))
        return real_store(asks)

    monkeypatch.setattr(batcher, "submit", submit)
    monkeypatch.setattr(intake, "questions_store", store)
    return sizes


# --- Characters PostgreSQL cannot store ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
async def test_a_question_with_control_characters_is_refused_while_another_person_is_answered(
    guidance, staff, make_user, attack
):
    """Two people ask at the same moment, one with a NUL (or another control character, or a lone
    surrogate): the other is answered normally; the attacker gets bad_characters, nothing of theirs
    is stored, and their socket keeps working."""
    attacker = await db(make_user, "mallory@example.gov.uk", groups=["All staff"])
    honest_ws, attacker_ws = await connect(staff), await connect(attacker)
    try:
        await ask(honest_ws, "How many days of annual leave do full-time staff get?")
        await ask(attacker_ws, ATTACKS[attack])
        honest, refused = await asyncio.gather(frames_until_end(honest_ws), frames_until_end(attacker_ws))
        await attacker_ws.send_to(text_data='{"type": "ping"}')
        pong = json.loads(await attacker_ws.receive_from(timeout=5))
    finally:
        await honest_ws.disconnect()
        await attacker_ws.disconnect()
    assert honest[0]["type"] == "accepted" and honest[-1]["type"] == "done" and honest[-1]["status"] == "complete"
    assert refused == [{"type": "error", "code": "bad_characters", "message": refused[0]["message"]}]
    assert "control characters" in refused[0]["message"]
    assert pong == {"type": "pong"}
    assert await db(questions_of, staff) == ["How many days of annual leave do full-time staff get?"]
    assert await db(stored_rows_of, attacker) == (0, 0, 0)


@pytest.mark.django_db
def test_intake_refuses_control_characters_and_stores_the_rest_of_the_batch(guidance, staff, make_user):
    """Stored without the websocket (commands, other callers): in one batch, each question holding a
    control character or lone surrogate gets bad_characters and stores nothing; tab, newline and
    carriage return are fine; the other questions are stored."""
    attacker = make_user("mallory@example.gov.uk", groups=["All staff"])
    asks = [
        Ask(staff, None, "How many days of leave?", None),
        *(Ask(attacker, None, text, None) for text in ATTACKS.values()),
        Ask(attacker, None, "\u0000", None),
        Ask(staff, None, "Leave:\tfull-time\r\npart-time?", None),
    ]

    results = questions_store(asks)

    codes = [r.code if isinstance(r, AnswerError) else "ok" for r in results]
    assert codes == ["ok"] + ["bad_characters"] * 4 + ["ok"]
    assert sorted(questions_of(staff)) == ["How many days of leave?", "Leave:\tfull-time\r\npart-time?"]
    assert stored_rows_of(attacker) == (0, 0, 0)


@pytest.mark.django_db
def test_a_row_the_database_refuses_fails_alone_and_the_rest_of_the_batch_is_stored(
    guidance, staff, make_user, monkeypatch
):
    """Should a question the database cannot store get past the checks, it fails alone with
    storage_error and nothing of it is stored (no conversation left without its question); the
    others in the same transaction, new conversations and a follow-up, are stored whole."""
    checks_off(monkeypatch)
    attacker = make_user("mallory@example.gov.uk", groups=["All staff"])
    mine = Conversation.objects.create(owner=staff, title="Mine")
    Message.objects.create(conversation=mine, role=Speaker.USER, text="What is annual leave?")
    Conversation.objects.filter(pk=mine.pk).update(updated_at=mine.created_at)
    asks = [
        Ask(staff, None, "How many days of leave?", None),
        Ask(attacker, None, ATTACKS["nul"], None),
        Ask(staff, mine.pk, "And after five years?", None),
        Ask(attacker, None, ATTACKS["lone surrogate"], None),
    ]

    results = questions_store(asks)

    codes = [r.code if isinstance(r, AnswerError) else "ok" for r in results]
    assert codes == ["ok", "storage_error", "ok", "storage_error"]
    new, follow_up = results[0], results[2]
    assert isinstance(new, Prepared) and isinstance(follow_up, Prepared)
    assert new.created_conversation and not follow_up.created_conversation
    assert follow_up.conversation_id == mine.pk and [t.text for t in follow_up.turns] == ["What is annual leave?"]
    for prepared in (new, follow_up):
        question, answer = Message.objects.get(pk=prepared.question_id), Message.objects.get(pk=prepared.answer_id)
        assert question.conversation_id == answer.conversation_id == prepared.conversation_id
        assert answer.question_id == question.pk and answer.status == Status.STREAMING
    assert Conversation.objects.get(pk=new.conversation_id).title == "How many days of leave?"
    mine.refresh_from_db()
    assert mine.updated_at > mine.created_at
    assert sorted(questions_of(staff)) == ["And after five years?", "How many days of leave?", "What is annual leave?"]
    assert stored_rows_of(attacker) == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
async def test_a_bad_row_in_a_batch_over_sockets_does_not_fail_the_other_persons_question(
    guidance, staff, make_user, monkeypatch
):
    """Over sockets, with the character checks out of the way: the attacker's NUL and an honest
    question are stored in the same transaction; the honest one is answered, the attacker gets
    storage_error with nothing of theirs stored."""
    checks_off(monkeypatch)
    attacker = await db(make_user, "mallory@example.gov.uk", groups=["All staff"])
    honest_ws, attacker_ws = await connect(staff), await connect(attacker)
    batch_sizes = asks_stored_together(monkeypatch, 2)
    try:
        await ask(honest_ws, "How many days of annual leave do full-time staff get?")
        await ask(attacker_ws, ATTACKS["nul"])
        honest, refused = await asyncio.gather(frames_until_end(honest_ws), frames_until_end(attacker_ws))
    finally:
        await honest_ws.disconnect()
        await attacker_ws.disconnect()
    assert batch_sizes == [2]
    assert honest[-1]["type"] == "done" and honest[-1]["status"] == "complete"
    assert [(f["type"], f["code"]) for f in refused] == [("error", "storage_error")]
    assert await db(questions_of, staff) == ["How many days of annual leave do full-time staff get?"]
    assert await db(stored_rows_of, attacker) == (0, 0, 0)


# --- Deeply nested JSON -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 6000,
        '{"a":' * 3000,
        '{"type": "ask", "text": "Leave?", "collections": ' + "[" * 3000 + "]" * 3000 + "}",
    ],
    ids=["open arrays", "open objects", "valid but deep"],
)
async def test_deeply_nested_json_gets_bad_json_and_the_socket_keeps_working(guidance, staff, raw):
    """JSON nested thousands deep gets the documented bad_json error (no traceback, no close); the
    socket still answers afterwards and nothing is stored."""
    ws = await connect(staff)
    try:
        await ws.send_to(text_data=raw)
        frame = json.loads(await ws.receive_from(timeout=5))
        await ws.send_to(text_data='{"type": "ping"}')
        pong = json.loads(await ws.receive_from(timeout=5))
    finally:
        await ws.disconnect()
    assert frame["type"] == "error" and frame["code"] == "bad_json" and frame["message"]
    assert pong == {"type": "pong"}
    assert await db(Message.objects.count) == 0


# --- Sockets per person -----------------------------------------------------------------------


async def _pong(ws) -> bool:
    await ws.send_to(text_data='{"type": "ping"}')
    return json.loads(await ws.receive_from(timeout=5)) == {"type": "pong"}


@pytest.mark.django_db(transaction=True)
async def test_one_socket_over_the_per_person_limit_is_closed_4429(guidance, staff, make_user, settings):
    """With a limit of two, a person's third chat socket is closed with 4429 while their two keep
    working; someone else is not affected; once one of the two closes, a new one is served."""
    settings.HUMPHREY_CHAT_MAX_SOCKETS_PER_USER = 2
    other = await db(make_user, "olive@example.gov.uk", groups=["All staff"])
    first, second = await connect(staff), await connect(staff)
    third = await connect(staff)
    others = await connect(other)
    try:
        assert await third.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}
        assert await _pong(first) and await _pong(second) and await _pong(others)
        await first.disconnect()
        again = await connect(staff)
        try:
            assert await _pong(again)
        finally:
            await again.disconnect()
    finally:
        for ws in (second, third, others):
            await ws.disconnect()
    assert consumers._open_sockets[staff.pk] == consumers._open_sockets[other.pk] == 0


# --- Accounts changed while a socket is open --------------------------------------------------


def _deactivate(user) -> None:
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)


def _change_password(user) -> None:
    fresh = get_user_model().objects.get(pk=user.pk)
    fresh.set_password("a-quite-different-passphrase-2")
    fresh.save()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", [_deactivate, _change_password], ids=["deactivated", "password changed"])
async def test_an_account_changed_after_connecting_has_its_next_frame_refused_with_4401(guidance, staff, change):
    """The socket works; then the account is deactivated, or its password changed (elsewhere): the
    next frame, a question, is not handled, the socket is closed with 4401 and nothing is stored."""
    ws = await connect(staff)
    try:
        assert await _pong(ws)
        await db(change, staff)
        await ask(ws, "How many days of annual leave do full-time staff get?")
        closed = await ws.receive_output(timeout=5)
    finally:
        await ws.disconnect()
    assert closed == {"type": "websocket.close", "code": 4401}
    assert await db(Message.objects.count) == 0


REFUSED_ASKS = {
    "text not a string": {"type": "ask", "text": 5},
    "conversation not a number": {"type": "ask", "text": "Annual leave?", "conversation": "1"},
    "collections not a list": {"type": "ask", "text": "Annual leave?", "collections": "all"},
    "bad characters": {"type": "ask", "text": ATTACKS["nul"]},
    "too quickly": {"type": "ask", "text": "Annual leave?"},  # the second of one a minute
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("frame", list(REFUSED_ASKS.values()), ids=list(REFUSED_ASKS))
async def test_a_deactivated_account_whose_ask_would_be_refused_is_closed_4401_and_told_nothing_else(
    guidance, staff, frame, settings
):
    """An ask refused before it is stored (malformed, bad characters, too many questions) from an
    account deactivated since its socket opened gets the same 4401 as any other frame, not the
    refusal: the account's check is not skipped because the store never ran."""
    settings.HUMPHREY_CHAT_QUESTIONS_PER_MINUTE = 1
    ws = await connect(staff)
    try:
        if frame is REFUSED_ASKS["too quickly"]:
            await ask(ws, "How many days of annual leave do full-time staff get?")
            assert (await frames_until_end(ws))[-1]["type"] == "done"
        else:  # the same frame is refused with its own error while the account is active
            await ws.send_to(text_data=json.dumps(frame))
            refused = await ws.receive_json_from(timeout=5)
            assert refused["type"] == "error" and refused["code"] in ("bad_frame", "bad_characters")
        await db(_deactivate, staff)
        await ws.send_to(text_data=json.dumps(frame))
        closed = await ws.receive_output(timeout=5)
    finally:
        await ws.disconnect()
    assert closed == {"type": "websocket.close", "code": 4401}


@pytest.mark.django_db(transaction=True)
async def test_an_unchanged_account_keeps_its_socket_when_another_account_changes(guidance, staff, make_user):
    """Another person's password change or deactivation does not touch this person's socket."""
    other = await db(make_user, "olive@example.gov.uk", groups=["All staff"])
    ws = await connect(staff)
    try:
        await db(_change_password, other)
        await db(_deactivate, other)
        await ask(ws, "How many days of annual leave do full-time staff get?")
        frames = await frames_until_end(ws)
    finally:
        await ws.disconnect()
    assert frames[-1]["type"] == "done" and frames[-1]["status"] == "complete"


@pytest.mark.django_db(transaction=True)
async def test_the_account_check_failing_with_the_database_away_does_not_close_the_socket(guidance, staff, monkeypatch):
    """If the account cannot be checked because the database is unreachable, the frame is still
    handled (a ping is answered) rather than every open socket being closed at once."""
    from django.db import OperationalError

    def down(user_id, auth_hash):
        raise OperationalError("connection refused")

    ws = await connect(staff)
    monkeypatch.setattr(consumers, "account_unchanged", down)
    try:
        assert await _pong(ws)
    finally:
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_question_is_checked_against_the_account_where_it_is_stored_not_once_more_before(
    guidance, staff, monkeypatch
):
    """A question costs no separate account look-up before it is stored (its transaction compares
    the account, see test_intake); any other frame is checked on its own."""
    checks = []
    real = consumers.account_unchanged

    def counted(user_id, auth_hash):
        checks.append(user_id)
        return real(user_id, auth_hash)

    monkeypatch.setattr(consumers, "account_unchanged", counted)
    ws = await connect(staff)
    try:
        await ask(ws, "How many days of annual leave do full-time staff get?")
        frames = await frames_until_end(ws)
        assert frames[-1]["status"] == "complete" and checks == []
        assert await _pong(ws)
        assert checks == [staff.pk]
    finally:
        await ws.disconnect()


@pytest.mark.django_db
def test_invisible_whitespace_is_taken_and_an_invisible_question_is_refused_as_empty(guidance, staff):
    """A vertical tab or form feed, which text copied from a PDF or Word carries and no one can see,
    is whitespace, not a reason to refuse; a question of nothing visible (zero-width spaces, a
    byte-order mark, a soft hyphen, a direction override) is empty, not a conversation with an
    invisible title."""
    asks = [
        Ask(staff, None, "How many days of annual leave\x0bcan I carry over?\x0c", None),
        *(Ask(staff, None, text, None) for text in ("\u200b\u200b", "\ufeff", "\u00ad", " \u202e ")),
    ]
    results = questions_store(asks)
    codes = [r.code if isinstance(r, AnswerError) else "ok" for r in results]
    assert codes == ["ok"] + ["empty_question"] * 4
    assert questions_of(staff) == ["How many days of annual leave\x0bcan I carry over?"]
