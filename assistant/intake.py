"""Step 1 of an answer: the question checked and stored, before anything else happens.

``questions_store`` takes every question waiting at one moment (one, usually; a hundred at nine
o'clock) and stores them in ONE transaction of set-based statements: the sessions, the askers' rows
(locked, so one person's asks in every web process are counted one after another), the collections
each may read, their answers still being written and tokens used today, then the conversations,
questions and streaming answer placeholders. A question that fails its checks gets its own
``AnswerError`` and nothing of it is stored; the others go on. Text PostgreSQL cannot store (NUL and
other control characters, lone surrogates) is refused by the checks; and should a row still be refused
by the database, the batch is stored again one question at a time, each in its own savepoint, so that
row fails alone (``storage_error``) and the others are stored. ``question_intake()`` is the event
loop's batcher for it (see ``assistant.batching``); ``question_submit()`` looks for personal data in
each question in a worker process before it joins a batch, so a costly question waits alone.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.postgres.expressions import ArraySubquery
from django.db import DataError, IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.db.utils import Error as DatabaseError
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from assistant import pii
from assistant.batching import Batcher, per_loop
from assistant.core.errors import AnswerError
from assistant.core.types import Turn
from assistant.db import db_call
from assistant.scanning import personal_data_scan
from documents.access import readable_slugs

from .access import owns
from .models import Conversation, Message, Speaker, Status
from .selectors import askers_load, recent_turns

logger = logging.getLogger(__name__)

# Far longer than any answer may stream (HUMPHREY_CHAT_ANSWER_TIMEOUT): an answer still "streaming" after
# it was given up by a process that died, not one still being written.
STREAMING_GIVE_UP = timedelta(seconds=max(600.0, 2 * settings.HUMPHREY_CHAT_ANSWER_TIMEOUT))
CONVERSATION_BUSY = (
    "Humphrey is still answering an earlier question in this conversation, perhaps in another tab or window. "
    "Wait for that answer and reload the page to see it, or start a new conversation."
)
TITLE_CHARS = 80
QUESTIONS_PER_BATCH = 100
# C0 control characters other than whitespace (tab, newline, carriage return, and the vertical tab and
# form feed that text copied from Word or a PDF carries, invisibly: refusing those would ask a person to
# remove what they cannot see) (PostgreSQL text cannot hold NUL; the others have no place in a
# question), and lone surrogates (JSON's "\ud800" escapes decode to them; they cannot be encoded as
# UTF-8, so no database, log or model request can take them).
BAD_CHARACTERS = re.compile("[\x00-\x08\x0e-\x1f\ud800-\udfff]")
# What a row the checks let through may still meet in the database; the row fails alone. A database
# that is down (OperationalError and the like) fails the whole batch instead.
ROW_ERRORS = (DataError, IntegrityError, UnicodeError)


class SessionEnded(AnswerError):
    """The socket's session was signed out or expired: the client must sign in again."""


@dataclass
class Ask:
    user: Any
    conversation_id: int | None
    text: str
    collections: list[str] | None
    session: Any = None  # the socket's session, checked still alive in the same transaction
    auth_hash: str | None = None  # the account's session auth hash when the socket opened, checked there too
    findings: list | None = None  # personal data found in the stripped text before batching (None: look in the batch)
    client_ip: str = ""  # where the socket was opened from (behind our own proxies), for the audit


@dataclass
class Prepared:
    conversation_id: int
    question_id: int
    answer_id: int
    text: str  # the question as typed
    model_text: str  # what retrieval and the model see (redacted when set to)
    collections: list[str] | None  # as chosen (None: everything the user may read)
    searched: list[str]  # the slugs that covers, for the audit
    turns: list[Turn]
    user_groups: list[str]
    personal_data: list[str]
    tokens_today: int
    created_conversation: bool
    streams_open: int = 0  # the user's answers still being written, in any process, before this one
    client_ip: str = ""  # where it was asked from, for the audit
    title: str = ""  # a new conversation's title, as stored (from the question as redacted)


def model_facing(text: str, mode: str | None = None, redacted: str | None = None) -> str:
    """What the model, the embedder and the audit content get of something a person typed: with the
    personal-data setting ``redact`` or ``block``, the text with personal data replaced. A question is
    stored as typed, for the person's own view, beside its redacted form (``Message.redacted``, made
    once when it was asked): pass that as ``redacted`` and nothing is scanned again; ``None`` (a
    question stored before that field existed) scans ``text`` now."""
    mode = mode or settings.HUMPHREY_CHAT_PERSONAL_DATA
    if mode not in ("redact", "block"):
        return text
    if redacted is not None:
        return redacted or text
    findings = pii.find_personal_data(text)
    return pii.redact(text, findings) if findings else text


def conversation_title(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def refuse_bad_characters(text: str) -> None:
    """Raise ``bad_characters`` if ``text`` holds a character a question may not (``BAD_CHARACTERS``)."""
    if BAD_CHARACTERS.search(text):
        raise AnswerError(
            "Your question contains characters that cannot be used, such as control characters. "
            "Remove them and try again.",
            code="bad_characters",
        )


def _visible(text: str) -> bool:
    """Whether ``text`` holds anything a person could read: not only spaces and invisible format
    characters (zero-width spaces, byte-order marks, soft hyphens, direction marks)."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def _check_text(ask: Ask) -> str:
    refuse_bad_characters(ask.text or "")
    text = (ask.text or "").strip()
    if not _visible(text):
        raise AnswerError("Type a question first.", code="empty_question")
    if len(text) > settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS:
        raise AnswerError(
            f"Your question is too long. Keep it under {settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS:,} characters.",
            code="question_too_long",
        )
    return text


def account_unchanged(user_id, auth_hash: str) -> bool:
    """Whether the account ``user_id`` still exists, is active and has the session auth hash
    ``auth_hash`` (taken when the socket opened; a changed password changes it, as it signs the
    account out of its other sessions in Django)."""
    return _holds(get_user_model()._default_manager.filter(pk=user_id).first(), auth_hash)


def _holds(user, auth_hash: str) -> bool:
    return user is not None and user.is_active and constant_time_compare(user.get_session_auth_hash(), auth_hash)


def _refuse_ended(asks: list[Ask], texts: dict[int, str], results: list, ended) -> None:
    """Each ask still in ``texts`` for which ``ended(ask)`` is refused (``session_ended``) and dropped."""
    for i in list(texts):
        if ended(asks[i]):
            results[i] = SessionEnded("Your session has ended. Sign in again.", code="session_ended")
            del texts[i]


def _sessions_alive(sessions: list) -> set[str]:
    """The keys among ``sessions`` that still exist and have not expired (one query for the
    database-backed stores; anything else asks its own store)."""
    from django.contrib.sessions.backends.db import SessionStore as DatabaseStore

    alive, by_db = set(), {}
    for session in sessions:
        key = session.session_key
        if not key:
            continue
        if isinstance(session, DatabaseStore):
            by_db.setdefault(session.get_model_class(), []).append(key)
        elif session.exists(key):
            alive.add(key)
    for model, keys in by_db.items():
        rows = model.objects.filter(session_key__in=keys, expire_date__gt=timezone.now())
        alive.update(rows.values_list("session_key", flat=True))
    return alive


@transaction.atomic
def questions_store(asks: list[Ask]) -> list[Prepared | AnswerError]:
    """Check and store each ask (a question and a streaming placeholder for its answer).

    Returns, per ask in order, its ``Prepared`` or the ``AnswerError`` that refused it with nothing
    stored: a session that ended, a conversation that is not the user's own, a collection they cannot
    read, an empty or over-long question, one holding control characters (``bad_characters``), or
    (``storage_error``) one the database refused although it passed the checks.
    """
    results: list[Prepared | AnswerError | None] = [None] * len(asks)
    texts: dict[int, str] = {}
    for i, ask in enumerate(asks):
        try:
            texts[i] = _check_text(ask)
        except AnswerError as exc:
            results[i] = exc
    alive = _sessions_alive([asks[i].session for i in texts if asks[i].session is not None])
    _refuse_ended(asks, texts, results, lambda ask: ask.session is not None and ask.session.session_key not in alive)
    if not texts:
        return results

    users = {asks[i].user.pk: asks[i].user for i in texts}
    ids = sorted(users)
    # The askers' rows locked, in id order (no deadlock between batches): each person's asks in
    # every web process are counted one after another, so the concurrent-answer limit holds. Read
    # as they are now: an account deactivated, or whose password changed, since its socket opened
    # asks nothing more (the socket's own check, for its other frames, is ``account_unchanged``).
    # Each with its group names (for the audit event), read in the same statement.
    locked = (
        get_user_model()
        .objects.select_for_update(of=("self",))
        .filter(pk__in=ids)
        .annotate(group_names=ArraySubquery(Group.objects.filter(user=OuterRef("pk")).order_by("name").values("name")))
        .order_by("pk")
    )
    current = {u.pk: u for u in locked}
    _refuse_ended(
        asks,
        texts,
        results,
        lambda ask: ask.auth_hash is not None and not _holds(current.get(ask.user.pk), ask.auth_hash),
    )
    if not texts:
        return results
    users = {asks[i].user.pk: asks[i].user for i in texts}
    ids = sorted(users)
    readable = readable_slugs(users.values())
    groups = {pk: current[pk].group_names for pk in ids}
    followed = {asks[i].conversation_id for i in texts if asks[i].conversation_id is not None}
    since = timezone.now() - STREAMING_GIVE_UP
    # Each with whether an answer is being written in it now (another tab, window or device of the same
    # person): a second question there would be answered without the first as context, and the two
    # answers would interleave. Read under the asker's lock above, so two tabs cannot both pass.
    answering = Message.objects.filter(
        conversation=OuterRef("pk"), role=Speaker.ASSISTANT, status=Status.STREAMING, created_at__gt=since
    )
    conversations = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in=_ints(followed), owner_id__in=ids, hidden_at__isnull=True).annotate(
            answering=Exists(answering)
        )
    }
    load = askers_load(ids, since)
    streams_open = Counter({user_id: streaming for user_id, (streaming, _) in load.items()})
    tokens_today = {user_id: tokens for user_id, (_, tokens) in load.items()}

    mode = settings.HUMPHREY_CHAT_PERSONAL_DATA
    accepted: list[_Row] = []
    for i, text in texts.items():
        ask = asks[i]
        try:
            collections, searched = _collections(ask, readable.get(ask.user.pk, set()))
            conversation = None  # a new one
            if ask.conversation_id is not None:
                conversation = conversations.get(_int(ask.conversation_id))
                if conversation is None or not owns(ask.user, conversation):
                    raise AnswerError(
                        "That conversation cannot be found. Start a new one.", code="conversation_not_found"
                    )
                if conversation.answering:
                    raise AnswerError(CONVERSATION_BUSY, code="conversation_busy")
                conversation.answering = True  # a second ask for it in this batch waits its turn too
        except AnswerError as exc:
            results[i] = exc
            continue
        findings = ask.findings if ask.findings is not None else pii.find_personal_data(text)
        redacted = pii.redact(text, findings) if findings else ""
        model_text = redacted if redacted and mode in ("redact", "block") else text
        # Blocked questions are stored redacted: personal data the user was told not to send is not kept.
        stored_text = model_text if mode == "block" else text
        accepted.append(
            _Row(i, ask.user.pk, conversation, collections, searched, findings, text, model_text, stored_text, redacted)
        )

    if len(accepted) == 1:
        # One question, the usual case at a steady pace: no savepoint (two round trips on the way of
        # every answer). A row the database refuses ends this transaction, with nothing else in it.
        try:
            stored = _insert(accepted)
        except ROW_ERRORS:
            logger.exception("a question could not be stored")
            transaction.set_rollback(True)
            results[accepted[0].index] = _row_refused()
            return results
    else:
        stored = _store_rows(accepted, results)
    followed_up = [row.conversation.pk for row, _c, _q, _a in stored if row.conversation is not None]
    if followed_up:
        Conversation.objects.filter(pk__in=followed_up).update(updated_at=timezone.now())

    for row, conversation, question, answer in stored:
        i, user_id, created = row.index, row.user_id, row.conversation is None
        turns = (
            []
            if created
            else [
                Turn(role=m.role, text=model_facing(m.text, mode, m.redacted) if m.role == Speaker.USER else m.text)
                for m in recent_turns(conversation.pk, before_id=question.pk, owner=users[user_id])
            ]
        )
        results[i] = Prepared(
            conversation_id=conversation.pk,
            question_id=question.pk,
            answer_id=answer.pk,
            text=texts[i],
            model_text=row.model_text,
            collections=row.collections,
            searched=row.searched,
            turns=turns,
            user_groups=sorted(groups[user_id]),
            personal_data=pii.kinds(row.findings),
            tokens_today=tokens_today.get(user_id, 0),
            created_conversation=created,
            streams_open=streams_open[user_id],
            client_ip=asks[i].client_ip,
            title=conversation.title if created else "",
        )
        streams_open[user_id] += 1  # the same person asking twice in one batch: the second counts the first
    return results


def _row_refused() -> AnswerError:
    return AnswerError(
        "Your question could not be saved, so it was not sent. Check it and try again.", code="storage_error"
    )


def _store_rows(rows: list[_Row], results: list) -> list[tuple[_Row, Conversation, Message, Message]]:
    """Several questions stored at once, in a savepoint; should the database refuse a row (the
    checks should make this impossible), one at a time, each in its own, so only that question fails
    (its ``results`` entry set) and the others are stored."""
    try:
        with transaction.atomic():
            return _insert(rows)
    except ROW_ERRORS:
        logger.exception("storing a batch of %s question(s) failed: storing them one at a time", len(rows))
    stored = []
    for row in rows:
        try:
            with transaction.atomic():
                stored += _insert([row])
        except ROW_ERRORS:
            logger.exception("a question could not be stored; the others in its batch were")
            results[row.index] = _row_refused()
    return stored


@dataclass
class _Row:
    """One checked ask, ready to store."""

    index: int  # in the batch
    user_id: int
    conversation: Conversation | None  # None: a new conversation
    collections: list[str] | None
    searched: list[str]
    findings: list
    text: str  # as typed
    model_text: str
    stored_text: str
    redacted: str  # "" when nothing was found


def _insert(rows: list[_Row]) -> list[tuple[_Row, Conversation, Message, Message]]:
    """Store ``rows``: new conversations, the questions and their streaming answer placeholders, a
    few set-based statements however many. Objects are made afresh on each call, so none carries the
    id of a row rolled back with a savepoint."""
    conversations = [
        # Titled from the question as redacted whenever it held personal data: the title is on screen
        # beside every conversation, where the question itself is read only when opened.
        row.conversation
        or Conversation(owner_id=row.user_id, title=conversation_title(row.redacted or row.stored_text))
        for row in rows
    ]
    Conversation.objects.bulk_create(
        [c for c, row in zip(conversations, rows, strict=True) if row.conversation is None]
    )
    questions = [
        Message(
            conversation=c,
            role=Speaker.USER,
            text=row.stored_text,
            redacted=row.redacted,
            collections=row.collections or [],
        )
        for c, row in zip(conversations, rows, strict=True)
    ]
    Message.objects.bulk_create(questions)
    answers = [
        Message(conversation=q.conversation, role=Speaker.ASSISTANT, status=Status.STREAMING, question=q)
        for q in questions
    ]
    Message.objects.bulk_create(answers)
    return list(zip(rows, conversations, questions, answers, strict=True))


def _collections(ask: Ask, readable: set[str]) -> tuple[list[str] | None, list[str]]:
    """The collections as chosen (None: all the user may read) and the slugs that covers."""
    if ask.collections is None:
        return None, sorted(readable)
    wanted = list(dict.fromkeys(ask.collections))
    if not set(wanted) <= readable:
        raise AnswerError(
            "One of the collections you chose is not available to you. Reload the page and choose again.",
            code="collection_unavailable",
        )
    return (wanted or None), (wanted or sorted(readable))


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ints(values) -> list[int]:
    return [v for v in map(_int, values) if v is not None]


def ask_store(*, user, conversation_id, text: str, collections: list[str] | None, session=None) -> Prepared:
    """One ask stored on its own, through ``questions_store`` (commands and tests; chat batches its
    questions with ``question_submit``). Raises its ``AnswerError``."""
    (result,) = questions_store([Ask(user, conversation_id, text, collections, session)])
    if isinstance(result, AnswerError):
        raise result
    return result


def question_intake() -> Batcher:
    """This event loop's batcher of questions: each batch stored by ``questions_store`` on a chat database thread."""

    async def store(asks: list[Ask]) -> list[Prepared | AnswerError]:
        try:
            return await db_call(questions_store)(asks)
        except DatabaseError:
            logger.warning("storing %s question(s) failed: database unavailable", len(asks))
            raise AnswerError(
                "Your question could not be saved just now, so it was not sent. Try again in a moment.",
                code="storage_error",
            ) from None

    return per_loop("questions", lambda: Batcher(store, max_batch=QUESTIONS_PER_BATCH))


async def question_submit(ask: Ask) -> Prepared:
    """Look for personal data in ``ask`` (in a worker process, ``assistant.scanning``), then store it
    with every other question arriving at that moment (``question_intake``). Raises its ``AnswerError``."""
    text = ask.text.strip() if isinstance(ask.text, str) else ""
    if ask.findings is None and text and len(text) <= settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS:
        # Scanned here, per question and before batching, a costly question waits alone: inside the
        # batch it would hold every question stored with it.
        if pii.may_hold_personal_data(text):
            ask.findings = await personal_data_scan(text, person=getattr(ask.user, "pk", None))
        else:
            ask.findings = []
    return await question_intake().submit(ask)
