"""A head start on a new conversation's question: while it is being stored (``question_submit``:
checked, counted against the person's limits and written, which is most of the time before an
answer can begin), its embedding is computed and then its passages retrieved. The answer
(``pipeline.AnswerRun``) uses them only if the question, as stored, is the one they were begun for;
otherwise, or if the question is refused, they are thrown away. Nothing is shown or recorded from
them before the question is stored, and the search checks who may read what in its SQL either way.
A question from an account deactivated (or whose password changed) since its socket opened is refused
when it is stored, in the same transaction; what was begun for it is thrown away unseen.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from django.conf import settings

from assistant import pii
from assistant.batching import query_embedder
from assistant.core.condense import condense, without_redacted
from assistant.db import db_call
from assistant.intake import Ask
from assistant.providers import get_chat_model
from assistant.scanning import personal_data_scan
from documents.embeddings import embeds_marking
from documents.retrieval import allowed_markings, clean_query

from .steps import sources_retrieve_reviewed


def _may_embed_early() -> bool:
    """Whether a question may go to the embedder before what it is asked of is known: only if the
    embedder may be sent every marking the chat model may be given (``AnswerRun._query_vector``
    decides, with the question's collections, otherwise)."""
    try:
        return embeds_marking(allowed_markings(get_chat_model().max_marking)[-1])
    except Exception:  # a misconfigured model or embedder is reported by the answer itself
        return False


@dataclass
class HeadStart:
    """Work begun on a new conversation's question while it is being stored: its embedding and, once
    that is ready, its retrieval (access is checked inside the search's SQL, as always). The answer
    uses each only if the question, as stored, is the one they were begun for."""

    query: str  # what was embedded
    condensed: str  # what was searched: a first question is its own standalone form
    collections: list[str] | None  # as asked (None: all the person may read)
    embedding: asyncio.Task
    retrieval: asyncio.Task | None = None

    def searched_for(self, condensed: str, collections: list[str] | None) -> bool:
        """Whether its search was begun for this question, asked of these collections."""
        return self.retrieval is not None and (self.condensed, self.collections) == (condensed, collections)

    def cancel(self) -> None:
        self.embedding.cancel()
        if self.retrieval is not None:
            self.retrieval.cancel()


async def _model_facing(ask: Ask) -> str:
    """A first question as retrieval and the model will see it. One that may hold personal data the
    intake will redact is scanned here rather than in ``question_submit`` (which then does not scan it
    again), so its redacted form can be embedded while it is stored: the embedder never sees what was
    redacted. "" when it will be refused for holding personal data (``block``)."""
    text = ask.text.strip()
    mode = settings.HUMPHREY_CHAT_PERSONAL_DATA
    if mode not in ("redact", "block") or not pii.may_hold_personal_data(text):
        return text
    ask.findings = await personal_data_scan(text, person=getattr(ask.user, "pk", None))
    if not ask.findings:
        return text
    return "" if mode == "block" else pii.redact(text, ask.findings)


def _as_asked(collections) -> list[str] | bool | None:
    """The collections as the intake will record them (``Prepared.collections``), or False for an
    ask it will refuse or that is not a list of names."""
    if collections is None:
        return None
    if not isinstance(collections, list) or not all(isinstance(c, str) for c in collections):
        return False
    return list(dict.fromkeys(collections)) or None


async def _head_retrieve(user, condensed: str, collections, embedding: asyncio.Task, started: float):
    """The vector, the marking ceiling searched under, the passages, and how long embedding and
    searching took from ``started`` (the answer's own timing would only see what was left to wait)."""
    vector = await embedding
    max_marking = get_chat_model().max_marking
    found = await db_call(sources_retrieve_reviewed)(
        user, condensed, collections, settings.HUMPHREY_CHAT_PASSAGES, max_marking, vector
    )
    return vector, max_marking, found, (time.monotonic() - started) * 1000


def _consumed(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # a head start that failed is simply not used (the answer does the work itself)


async def head_start(ask: Ask) -> HeadStart | None:
    """Embed a new conversation's question, then retrieve for it, while it is being stored."""
    text = ask.text
    if ask.conversation_id is not None or not isinstance(text, str) or not text.strip():
        return None
    if len(text) > settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS or not _may_embed_early():
        return None
    condensed = condense(without_redacted(await _model_facing(ask), pii.REDACTED), [])
    query = clean_query(condensed)
    if not query:
        return None
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    head = HeadStart(query, condensed, None, loop.create_task(query_embedder().embed(query)))
    head.embedding.add_done_callback(_consumed)
    collections = _as_asked(ask.collections)
    if collections is not False:
        head.collections = collections
        head.retrieval = loop.create_task(_head_retrieve(ask.user, condensed, collections, head.embedding, started))
        head.retrieval.add_done_callback(_consumed)
    return head
