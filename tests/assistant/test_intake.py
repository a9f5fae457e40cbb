"""Question intake: many asks stored in one transaction, each checked on its own."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assistant import intake
from assistant.core.errors import AnswerError
from assistant.intake import Ask, Prepared, SessionEnded, questions_store
from assistant.models import Conversation, Message, Speaker, Status
from tests.assistant.helpers import connect, frames_until_end
from tests.factories import signed_in_session

pytestmark = pytest.mark.django_db


def session_of(user, *, expired: bool = False) -> SessionStore:
    session = SessionStore(session_key=signed_in_session(user))
    if expired:
        session.get_model_class().objects.filter(session_key=session.session_key).update(
            expire_date=timezone.now() - timedelta(seconds=1)
        )
    return session


def test_each_ask_in_a_batch_is_checked_on_its_own_and_only_good_ones_are_stored(guidance, staff, make_user):
    """One batch: good asks from several people, a follow-up, and one of each refusal. Each refused
    ask gets its own error and stores nothing; the rest are stored with their answer placeholders."""
    other = make_user("other@example.gov.uk", groups=["All staff"])
    security = make_user("sec@example.gov.uk", groups=["All staff", "Security team"])
    theirs = Conversation.objects.create(owner=other, title="Theirs")
    mine = Conversation.objects.create(owner=staff, title="Mine")
    earlier = Message.objects.create(conversation=mine, role=Speaker.USER, text="What is annual leave?")
    asks = [
        Ask(staff, None, "  How many days of leave?  ", ["hr"], session_of(staff)),
        Ask(other, theirs.pk, "And for part-time staff?", None, session_of(other)),
        Ask(security, None, "What is the rota?", ["restricted", "hr"], session_of(security)),
        Ask(staff, mine.pk, "And after five years?", None),
        Ask(staff, theirs.pk, "Show me theirs", None),  # not the asker's conversation
        Ask(other, None, "The rota?", ["restricted"]),  # a collection they cannot read
        Ask(other, None, "   ", None),  # empty
        Ask(other, None, "x" * 100_000, None),  # too long
        Ask(other, None, "Signed out elsewhere", None, session_of(other, expired=True)),
        Ask(staff, 10**9, "Gone?", None),  # no such conversation
    ]
    before = Message.objects.count()

    results = questions_store(asks)

    codes = [r.code if isinstance(r, AnswerError) else "ok" for r in results]
    assert codes == ["ok"] * 4 + [
        "conversation_not_found",
        "collection_unavailable",
        "empty_question",
        "question_too_long",
        "session_ended",
        "conversation_not_found",
    ]
    assert isinstance(results[8], SessionEnded)
    assert Message.objects.count() == before + 8  # four questions, four streaming answers
    first, follow_theirs, rota, follow_mine = results[:4]
    assert isinstance(first, Prepared)
    assert first.text == "How many days of leave?" and first.created_conversation
    assert first.collections == ["hr"] and first.searched == ["hr"]
    assert Conversation.objects.get(pk=first.conversation_id).title == "How many days of leave?"
    question, answer = Message.objects.get(pk=first.question_id), Message.objects.get(pk=first.answer_id)
    assert question.text == "How many days of leave?" and question.collections == ["hr"]
    assert answer.status == Status.STREAMING and answer.question_id == question.pk
    assert follow_theirs.conversation_id == theirs.pk and not follow_theirs.created_conversation
    assert follow_theirs.searched == ["hr"] and follow_theirs.user_groups == ["All staff"]
    assert rota.collections == ["restricted", "hr"] and rota.user_groups == ["All staff", "Security team"]
    assert [t.text for t in follow_mine.turns] == [earlier.text]
    # The same person asking twice in one batch: the second counts the first as being written.
    assert (first.streams_open, follow_mine.streams_open) == (0, 1)


def test_a_conversation_with_an_answer_still_being_written_takes_no_second_question(guidance, staff):
    """Two tabs of one conversation: while the first question's answer is written, a second question
    in it (from another tab, or twice in one batch) is refused with nothing stored, so it is never
    answered without the first as context. Once that answer is finished, or given up as interrupted,
    the conversation takes questions again; another conversation is not held up meanwhile."""
    first = intake.ask_store(user=staff, conversation_id=None, text="How many days of leave?", collections=None)
    elsewhere = intake.ask_store(user=staff, conversation_id=None, text="What is the rota?", collections=None)
    before = Message.objects.count()

    with pytest.raises(AnswerError) as busy:
        intake.ask_store(user=staff, conversation_id=first.conversation_id, text="And part-time?", collections=None)
    assert busy.value.code == "conversation_busy" and "another tab" in busy.value.message
    assert Message.objects.count() == before

    Message.objects.filter(pk=first.answer_id).update(status=Status.COMPLETE, text="25 days [1].")
    Message.objects.filter(pk=elsewhere.answer_id).update(created_at=timezone.now() - intake.STREAMING_GIVE_UP * 2)
    results = questions_store(
        [
            Ask(staff, first.conversation_id, "And part-time?", None),
            Ask(staff, first.conversation_id, "And after five years?", None),  # same batch: waits its turn
            Ask(staff, elsewhere.conversation_id, "Who writes it?", None),  # its answer was given up long ago
        ]
    )
    assert isinstance(results[0], Prepared) and [t.text for t in results[0].turns][-1] == "25 days [1]."
    assert isinstance(results[1], AnswerError) and results[1].code == "conversation_busy"
    assert isinstance(results[2], Prepared)


def test_an_expired_session_that_was_not_yet_cleared_is_refused(guidance, staff):
    """A session row past its expiry date is as good as gone (Django's own exists() does not look)."""
    with pytest.raises(SessionEnded):
        intake.ask_store(
            user=staff, conversation_id=None, text="Leave?", collections=None, session=session_of(staff, expired=True)
        )
    assert not Message.objects.exists()


def test_an_account_changed_since_its_socket_opened_asks_nothing_and_the_rest_of_the_batch_is_stored(
    guidance, staff, make_user
):
    """The auth hash each socket took when it opened is compared in the transaction that stores the
    question: a password changed (or an account deactivated) since refuses that ask alone."""
    other = make_user("olive@example.gov.uk", groups=["All staff"])
    before = {u.pk: u.get_session_auth_hash() for u in (staff, other)}
    staff.set_password("a-quite-different-passphrase-2")
    staff.save()
    asks = [
        Ask(u, None, "How much annual leave do I get?", ["hr"], session_of(u), auth_hash=before[u.pk])
        for u in (staff, other)
    ]
    refused, stored = questions_store(asks)
    assert isinstance(refused, SessionEnded) and isinstance(stored, Prepared)
    assert list(Message.objects.filter(role=Speaker.USER).values_list("conversation__owner_id", flat=True)) == [
        other.pk
    ]


@pytest.fixture
def refusing_database(monkeypatch):
    """The database refuses any question holding "REFUSED" (as it would a row the checks missed)."""
    from django.db import DataError

    real = intake._insert

    def insert(rows):
        if any("REFUSED" in row.text for row in rows):
            raise DataError("value too long")
        return real(rows)

    monkeypatch.setattr(intake, "_insert", insert)


@pytest.mark.parametrize("batch", [1, 3], ids=["alone", "in a batch"])
def test_a_question_the_database_refuses_fails_alone_and_the_others_are_stored(
    guidance, staff, make_user, refusing_database, batch
):
    """Alone (stored without a savepoint) or in a batch (one at a time once the batch fails): the
    refused question gets ``storage_error`` with nothing of it stored, the others are stored, and
    the next question is stored as usual."""
    people = [staff] + [make_user(groups=["All staff"]) for _ in range(batch - 1)]
    texts = ["REFUSED question"] + [f"Leave question {i}" for i in range(batch - 1)]
    results = questions_store([Ask(u, None, t, ["hr"], session_of(u)) for u, t in zip(people, texts, strict=True)])
    assert isinstance(results[0], AnswerError) and results[0].code == "storage_error"
    assert all(isinstance(r, Prepared) for r in results[1:])
    stored = set(Message.objects.filter(role=Speaker.USER).values_list("text", flat=True))
    assert stored == set(texts[1:])
    assert not Conversation.objects.filter(title__contains="REFUSED").exists()
    (after,) = questions_store([Ask(staff, None, "How much annual leave do I get?", ["hr"], session_of(staff))])
    assert isinstance(after, Prepared)


def test_a_batch_costs_the_same_few_statements_however_many_ask(guidance, staff, make_user):
    """New conversations from different people: the statement count does not grow with the batch
    (a question alone is stored without the savepoint a batch needs: two statements fewer)."""
    people = [staff] + [make_user(groups=["All staff"]) for _ in range(9)]

    def statements(n: int) -> int:
        asks = [Ask(u, None, f"Leave question {i}", ["hr"], session_of(u)) for i, u in enumerate(people[:n])]
        with CaptureQueriesContext(connection) as queries:
            assert all(isinstance(r, Prepared) for r in questions_store(asks))
        return len(queries.captured_queries)

    assert statements(10) == statements(2) == statements(1) + 2


@pytest.mark.django_db(transaction=True)
async def test_questions_arriving_at_once_over_sockets_are_stored_together(guidance, make_user):
    """Twenty sockets ask in the same instant: all are answered, in fewer storing transactions than
    questions."""
    from asgiref.sync import sync_to_async

    people = await sync_to_async(lambda: [make_user(groups=["All staff"]) for _ in range(20)])()
    sockets = [await connect(user) for user in people]
    try:
        batcher = intake.question_intake()  # this event loop's batcher
        before = batcher.batches
        for i, ws in enumerate(sockets):
            await ws.send_to(text_data=json.dumps({"type": "ask", "text": f"How many days of annual leave? {i}"}))
        finals = await asyncio.gather(*(frames_until_end(ws) for ws in sockets))
    finally:
        for ws in sockets:
            await ws.disconnect()
    assert all(frames[-1]["type"] == "done" for frames in finals)
    assert 1 <= batcher.batches - before < 20
    assert await sync_to_async(Message.objects.filter(role=Speaker.USER).count)() == 20


@pytest.mark.django_db(transaction=True)
async def test_a_question_stored_as_its_asker_leaves_is_still_answered_and_audited(guidance, staff, monkeypatch):
    """The socket goes away while its question is being stored: once stored, the question is not
    left behind with a placeholder that never finishes; it is answered, stored and audited."""
    import threading

    from asgiref.sync import sync_to_async

    from assistant import services
    from audit.models import AuditEvent

    storing, release = threading.Event(), threading.Event()
    real = intake.questions_store

    def slow_store(asks):
        storing.set()
        release.wait(10)
        return real(asks)

    monkeypatch.setattr(intake, "questions_store", slow_store)
    asking = asyncio.ensure_future(
        services.answer_start(user=staff, conversation_id=None, text="How many days of annual leave?", collections=None)
    )
    await asyncio.to_thread(storing.wait, 10)
    asking.cancel()  # the consumer's task ends with the socket
    with pytest.raises(asyncio.CancelledError):
        await asking
    release.set()
    for _ in range(100):  # the store finishes on its database thread, then the answer runs
        await asyncio.sleep(0.05)
        await services.answers_wait()
        answer = await sync_to_async(Message.objects.filter(role=Speaker.ASSISTANT).first)()
        if answer is not None and answer.status != Status.STREAMING:
            break
    assert answer is not None and answer.status == Status.COMPLETE
    assert await sync_to_async(AuditEvent.objects.filter(action="answer").count)() == 1
