"""Step 1 of an answer: the question checked and stored, before anything else happens.

``questions_store`` takes every question waiting at one moment (one, usually; a hundred at nine
o'clock) and stores them in ONE transaction of set-based statements: the sessions, the askers' rows
(locked, so one person's asks in every web process are counted one after another), the collections
each may read, their answers still being written and tokens used today, then the conversations,
questions and streaming answer placeholders. A question that fails its checks gets its own
``AnswerError`` and nothing of it is stored; the others go on. ``question_intake()`` is the event
loop's batcher for it (see ``assistant.batching``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from django.db.utils import Error as DatabaseError
from django.utils import timezone

from assistant import pii
from assistant.batching import Batcher, per_loop
from assistant.core.errors import AnswerError
from assistant.core.types import Turn
from assistant.db import db_call
from documents.models import Collection

from .models import Conversation, Message, Role, Status
from .selectors import recent_turns, tokens_used_today

logger = logging.getLogger(__name__)

STREAMING_GIVE_UP = timedelta(minutes=10)  # far longer than any answer's timeouts allow
TITLE_CHARS = 80
QUESTIONS_PER_BATCH = 100


class SessionEnded(AnswerError):
    """The socket's session was signed out or expired: the client must sign in again."""


@dataclass
class Ask:
    user: Any
    conversation_id: int | None
    text: str
    collections: list[str] | None
    session: Any = None  # the socket's session, checked still alive in the same transaction


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


def conversation_title(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _check_text(ask: Ask) -> str:
    text = (ask.text or "").strip()
    if not text:
        raise AnswerError("Type a question first.", code="empty_question")
    if len(text) > settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS:
        raise AnswerError(
            f"Your question is too long. Keep it under {settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS:,} characters.",
            code="question_too_long",
        )
    return text


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
    read, an empty or over-long question.
    """
    results: list[Prepared | AnswerError | None] = [None] * len(asks)
    texts: dict[int, str] = {}
    for i, ask in enumerate(asks):
        try:
            texts[i] = _check_text(ask)
        except AnswerError as exc:
            results[i] = exc
    alive = _sessions_alive([asks[i].session for i in texts if asks[i].session is not None])
    for i in list(texts):
        if asks[i].session is not None and asks[i].session.session_key not in alive:
            results[i] = SessionEnded("Your session has ended. Sign in again.", code="session_ended")
            del texts[i]
    if not texts:
        return results

    users = {asks[i].user.pk: asks[i].user for i in texts}
    ids = sorted(users)
    # The askers' rows locked, in id order (no deadlock between batches): each person's asks in
    # every web process are counted one after another, so the concurrent-answer limit holds.
    list(get_user_model().objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
    readable = Collection.objects.readable_slugs(users.values())
    groups: dict[int, list[str]] = {pk: [] for pk in ids}
    for user_id, name in (
        get_user_model().groups.through.objects.filter(user_id__in=ids).values_list("user_id", "group__name")
    ):
        groups[user_id].append(name)
    followed = {asks[i].conversation_id for i in texts if asks[i].conversation_id is not None}
    conversations = {
        c.pk: c for c in Conversation.objects.filter(pk__in=_ints(followed), owner_id__in=ids, hidden_at__isnull=True)
    }
    streams_open = Counter(
        dict(
            Message.objects.filter(
                conversation__owner_id__in=ids,
                role=Role.ASSISTANT,
                status=Status.STREAMING,
                created_at__gte=timezone.now() - STREAMING_GIVE_UP,
            )
            .values_list("conversation__owner_id")
            .annotate(n=Count("pk"))
        )
    )
    tokens_today = tokens_used_today(ids)

    mode = settings.HUMPHREY_CHAT_PERSONAL_DATA
    accepted: list[tuple[int, Conversation, list[str] | None, list[str], list, str]] = []
    new_conversations = []
    for i, text in texts.items():
        ask = asks[i]
        try:
            collections, searched = _collections(ask, readable.get(ask.user.pk, set()))
            if ask.conversation_id is None:
                conversation = Conversation(owner_id=ask.user.pk, title=conversation_title(text))
                new_conversations.append(conversation)
            else:
                conversation = conversations.get(_int(ask.conversation_id))
                if conversation is None or conversation.owner_id != ask.user.pk:
                    raise AnswerError(
                        "That conversation cannot be found. Start a new one.", code="conversation_not_found"
                    )
        except AnswerError as exc:
            results[i] = exc
            continue
        findings = pii.find_personal_data(text)
        model_text = pii.redact(text, findings) if findings and mode in ("redact", "block") else text
        accepted.append((i, conversation, collections, searched, findings, model_text))
    Conversation.objects.bulk_create(new_conversations)

    # Blocked questions are stored redacted: personal data the user was told not to send is not kept.
    questions = [
        Message(
            conversation=conversation,
            role=Role.USER,
            text=model_text if mode == "block" else texts[i],
            collections=collections or [],
        )
        for i, conversation, collections, _searched, _findings, model_text in accepted
    ]
    Message.objects.bulk_create(questions)
    answers = [
        Message(conversation=q.conversation, role=Role.ASSISTANT, status=Status.STREAMING, question=q)
        for q in questions
    ]
    Message.objects.bulk_create(answers)
    followed_up = [c.pk for _, c, *_ in accepted if c.pk in conversations]
    if followed_up:
        Conversation.objects.filter(pk__in=followed_up).update(updated_at=timezone.now())

    for (i, conversation, collections, searched, findings, model_text), question, answer in zip(
        accepted, questions, answers, strict=True
    ):
        user_id = asks[i].user.pk
        created = conversation.pk not in conversations
        turns = (
            []
            if created
            else [Turn(role=m.role, text=m.text) for m in recent_turns(conversation.pk, before_id=question.pk)]
        )
        results[i] = Prepared(
            conversation_id=conversation.pk,
            question_id=question.pk,
            answer_id=answer.pk,
            text=texts[i],
            model_text=model_text,
            collections=collections,
            searched=searched,
            turns=turns,
            user_groups=sorted(groups[user_id]),
            personal_data=pii.kinds(findings),
            tokens_today=tokens_today.get(user_id, 0),
            created_conversation=created,
            streams_open=streams_open[user_id],
        )
        streams_open[user_id] += 1  # the same person asking twice in one batch: the second counts the first
    return results


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


def question_store(*, user, conversation_id, text: str, collections: list[str] | None, session=None) -> Prepared:
    """One ask stored on its own (commands and tests). Raises its ``AnswerError``."""
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
