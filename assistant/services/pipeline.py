"""Step 2 of an answer, as it runs: ``answer_start`` stores the question (``assistant.intake``) and
hands it to an ``AnswerRun``, a task that outlives the socket. It condenses a follow-up, embeds and
retrieves (``assistant.services.steps``), passes the evidence gate, streams from the chat model,
finishes the text, and always ends in ``answer_record`` (``assistant.services.record``), retrying
while PostgreSQL restarts. Frames go out as ``docs/websocket-protocol.md`` describes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from django.conf import settings
from django.db.utils import Error as DatabaseError

from assistant import pii
from assistant.batching import query_embedder
from assistant.core.citations import cited_numbers
from assistant.core.condense import condense
from assistant.core.errors import AnswerError, ModelCutOff, ModelError
from assistant.core.evidence import checks_summary, citing_sentences
from assistant.core.types import Attempts, TextDelta, Usage
from assistant.db import db_call
from assistant.intake import Ask, Prepared, question_submit
from assistant.models import Status
from assistant.providers import fallback_answerer, get_chat_model
from documents.embeddings import embeds_marking, query_embedding_refusal
from documents.glossary import Glossary, glossary_for, glossary_known
from documents.retrieval import allowed_markings, clean_query
from humphrey.metrics import MODEL_FALLBACKS

from .frames import answer_html, source_frames
from .headstart import HeadStart, head_start
from .record import Outcome, answer_record
from .steps import (
    answer_evidence,
    answer_finish,
    answer_not_covered,
    answer_request,
    collections_unsearched,
    question_searched,
    sources_retrieve_reviewed,
)

logger = logging.getLogger(__name__)

COALESCE_SECONDS = 0.05  # deltas are sent at most this often (never one frame per token)
RECORD_RETRY_INTERVAL = 10.0  # seconds between late attempts to record an answer

_running: set[asyncio.Task] = set()  # strong references: a task nobody holds can be collected


class Refused(AnswerError):
    """A question refused by a limit or policy (stored and audited as ``refused``)."""

    status = "failed"


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


class AnswerRun:
    """One answer being generated. ``events()`` yields frames; ``stop()`` ends it early (kept as
    *stopped*); ``detach()`` (the socket went away) lets it finish and be stored unobserved."""

    def __init__(self, *, user, prepared: Prepared, head: HeadStart | None = None) -> None:
        self.user = user
        self.prepared = prepared
        self.head = head  # the embedding and retrieval begun while the question was stored
        self.queue: asyncio.Queue = asyncio.Queue()
        self.listening = True
        self.stopped = False
        self.finished = asyncio.Event()
        self.outcome = Outcome()
        self._generation: asyncio.Task | None = None
        self.task: asyncio.Task | None = None

    # --- control -----------------------------------------------------------------------------
    def start(self) -> AnswerRun:
        self.task = asyncio.get_running_loop().create_task(self._run())
        _running.add(self.task)
        self.task.add_done_callback(_running.discard)
        return self

    def stop(self) -> None:
        if not self.finished.is_set():
            self.stopped = True
            if self._generation is not None:
                self._generation.cancel()

    def detach(self) -> None:
        self.listening = False
        while not self.queue.empty():
            self.queue.get_nowait()

    def _emit(self, event: dict) -> None:
        if event["type"] == "notice":  # stored with the answer, to be shown again when it is reopened
            self.outcome.notices.append({"code": event["code"], "message": event["message"]})
        if self.listening:
            self.queue.put_nowait(event)

    # --- frames out --------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[dict]:
        """Frames for the client, deltas coalesced (first at once, then at most every 50 ms)."""
        last_delta = 0.0
        try:
            while True:
                event = await self.queue.get()
                if event["type"] != "delta":
                    yield event
                    if event["type"] in ("done", "error"):
                        return
                    continue
                wait = last_delta + COALESCE_SECONDS - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                parts, after = [event["text"]], None
                while not self.queue.empty():
                    nxt = self.queue.get_nowait()
                    if nxt["type"] == "delta":
                        parts.append(nxt["text"])
                    else:
                        after = nxt
                        break
                last_delta = time.monotonic()
                yield {"type": "delta", "message": event["message"], "text": "".join(parts)}
                if after is not None:
                    yield after
                    if after["type"] in ("done", "error"):
                        return
        finally:
            if not self.finished.is_set():
                self.detach()

    # --- the work ----------------------------------------------------------------------------
    async def _run(self) -> None:
        p, out = self.prepared, self.outcome
        started = time.monotonic()
        error: AnswerError | None = None
        accepted = {
            "type": "accepted",
            "conversation": p.conversation_id,
            "message": p.question_id,
            "answer": p.answer_id,
        }
        if p.created_conversation:
            # The page shows the title the server gave, never one made from the question as typed: a
            # question's personal data must not reach the heading, the tab's title or the list.
            accepted["title"] = p.title
        self._emit(accepted)
        if p.personal_data and settings.HUMPHREY_CHAT_PERSONAL_DATA != "block":
            labels = ", ".join(pii.KIND_LABELS[k] for k in p.personal_data)
            redacted = settings.HUMPHREY_CHAT_PERSONAL_DATA == "redact"
            self._emit(
                {
                    "type": "notice",
                    "code": "personal_data",
                    "message": f"Your question seems to contain personal data ({labels}). "
                    + ("It was removed before searching and answering. " if redacted else "")
                    + "Please do not include personal data in questions.",
                }
            )
        try:
            model = get_chat_model()
            out.model = model.info.as_dict()
            self._check_limits(model)
            self._generation = asyncio.get_running_loop().create_task(self._generate(model, started))
            if self.stopped:  # stop arrived before generation began
                self._generation.cancel()
            await self._generation
        except asyncio.CancelledError:
            if not self.stopped:
                raise  # the process is shutting down
            out.status = Status.STOPPED
        except AnswerError as exc:
            error = exc
            out.status = exc.status
            out.error_code = exc.code
            if isinstance(exc, Refused):
                out.outcome = "refused"
        except Exception:  # a bug must still leave a record and a message for the user
            logger.exception("answer %s failed", p.answer_id)
            error = AnswerError()
            out.status, out.error_code = Status.FAILED, error.code
        if self.head is not None:  # refused or stopped before retrieval
            self.head.cancel()
            self.head = None
        out.timings["total"] = _ms(started)
        if out.status in (Status.STOPPED, Status.STALLED):
            out.cited = cited_numbers(out.text, [s.n for s in out.sources])
        await self._record(error)

    def _check_limits(self, model) -> None:
        p = self.prepared
        if p.personal_data and settings.HUMPHREY_CHAT_PERSONAL_DATA == "block":
            labels = ", ".join(pii.KIND_LABELS[k] for k in p.personal_data)
            raise Refused(
                f"Your question seems to contain personal data ({labels}), so it was not sent. "
                "Remove it and ask again.",
                code="personal_data_blocked",
            )
        # Counted by intake.questions_store in the database, across processes, this answer not included.
        if p.streams_open >= settings.HUMPHREY_CHAT_MAX_STREAMS_PER_USER:
            raise Refused(
                "You already have answers being written. Wait for one to finish, then ask again.",
                code="too_many_streams",
            )
        budget = settings.HUMPHREY_CHAT_DAILY_TOKENS
        if budget and model.uses_language_model and p.tokens_today >= budget:
            raise Refused(
                "You have reached today's limit for questions. You can ask again tomorrow.", code="daily_limit"
            )

    async def _query_vector(self, query: str, model) -> list[float] | None:
        """The query's embedding: the one started while the question was stored if it was for this
        very text (a first question, as redacted), else computed now. None, and the question searched by
        its words (``outcome.vector_search`` says why), when it is asked of a collection marked above
        what the embedder may be sent, or when the embedder fails or takes longer than
        ``HUMPHREY_CHAT_EMBEDDING_TIMEOUT`` (the person is told)."""
        head = self.head
        if query and not embeds_marking(allowed_markings(model.max_marking)[-1]):
            self.outcome.vector_search = await db_call(query_embedding_refusal)(
                user=self.user, collections=self.prepared.searched, max_marking=model.max_marking
            )
        if self.outcome.vector_search or not query:
            return None
        try:
            async with asyncio.timeout(settings.HUMPHREY_CHAT_EMBEDDING_TIMEOUT):
                if head is not None and head.query == query:  # its failure is the embedder's: not asked twice
                    return await head.embedding
                return await query_embedder().embed(query)
        except Exception as exc:  # the embedder down, slow or refusing: answered from a search by words
            logger.warning("embedding the question of answer %s failed: %r", self.prepared.answer_id, exc)
            self.outcome.vector_search = {"skipped": "embedder_error", "error": type(exc).__name__}
            self._emit(
                {
                    "type": "notice",
                    "code": "words_only",
                    "message": "The search by meaning is not available just now, so this answer was found "
                    "by matching your question's words only. It may miss guidance that puts things differently.",
                }
            )
            return None

    async def _glossary(self) -> Glossary:
        """The glossary entries of the collections asked of (that this person may read) whose phrase
        the question holds. Most questions hold none of any glossary's phrases, told without a
        database call while the process's list of phrases is fresh."""
        p = self.prepared
        text = condense(p.model_text, p.turns)
        known = glossary_known(fresh_only=True)
        if known is not None and not known.keys_in(text):
            return Glossary(())
        return await db_call(glossary_for)(self.user, p.collections, text)

    async def _head_sources(self, condensed: str, vector, model):
        """The passages retrieved while the question was stored, if they were retrieved for this very
        question (its text, collections, vector and marking ceiling); else None."""
        head, self.head = self.head, None
        if head is None:
            return None
        if vector is None or not head.searched_for(condensed, self.prepared.collections):
            head.cancel()
            return None
        with contextlib.suppress(Exception):
            used_vector, max_marking, found, took_ms = await head.retrieval
            if used_vector is vector and max_marking == model.max_marking:
                self.outcome.timings["retrieval"] = int(took_ms)
                return found
        return None

    async def _generate(self, model, started: float) -> None:
        p, out = self.prepared, self.outcome
        searched = question_searched(p.model_text, p.turns, await self._glossary())
        out.condensed, out.glossary = searched.condensed, [t.as_dict() for t in searched.terms]
        if searched.terms:
            said = "; ".join(f"“{t.phrase}” as “{t.means}”" for t in searched.terms)
            self._emit({"type": "notice", "code": "glossary", "message": f"Searched in the guidance's words: {said}."})
        t0 = time.monotonic()
        # Embedded outside the database thread, batched with other questions arriving at once.
        vector = await self._query_vector(clean_query(out.condensed), model)
        found = await self._head_sources(out.condensed, vector, model)
        if found is None:
            found = await db_call(sources_retrieve_reviewed)(
                self.user, out.condensed, p.collections, settings.HUMPHREY_CHAT_PASSAGES, model.max_marking, vector
            )
        out.sources, weights, out.reviews = found
        # Done while the question was stored, it took what the head start measured, not the wait.
        out.timings.setdefault("retrieval", _ms(t0))
        verdict, scored = answer_evidence(
            question=searched.question, vector=vector, sources=out.sources, weights=weights, subject=searched.subject
        )
        out.coverage = verdict.as_dict()
        if not verdict.covered:
            unsearched = None
            if p.collections:  # they chose some: name the others they may read
                try:
                    unsearched = await db_call(collections_unsearched)(self.user, p.searched)
                except DatabaseError:  # the reply is still honest without them
                    logger.warning("could not list the collections answer %s did not search", p.answer_id)
            answer_not_covered(out, verdict, searched.question, asked=p.model_text, unsearched=unsearched)
            return
        self._emit(
            {"type": "sources", "message": p.answer_id, "sources": source_frames(out.sources, reviews=out.reviews)}
        )
        request = answer_request(model, out, question=p.model_text, turns=p.turns, scored=scored, verdict=verdict)
        parts: list[str] = []
        try:
            try:
                await self._stream(model, request, parts, started)
            except ModelError as exc:
                if parts and exc.status == Status.FAILED:
                    # Whatever the provider: a model failing after some text leaves a fragment, kept as
                    # unfinished (stalled), never judged as an answer (nor turned into "not covered").
                    logger.warning("answer %s: the model failed part-way through (%s)", p.answer_id, exc.code)
                    raise ModelCutOff() from exc
                # The gate found the guidance covers the question: if the model failed before its first
                # word, its passages' own sentences still answer it, said as such (and audited).
                if parts or exc.status != Status.FAILED or not settings.HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS:
                    raise
                logger.warning("answer %s: the model failed (%s); quoting the guidance instead", p.answer_id, exc.code)
                MODEL_FALLBACKS.labels(code=exc.code).inc()
                model = fallback_answerer()
                out.model = {**model.info.as_dict(), "instead_of": out.model, "error_code": exc.code}
                request = answer_request(
                    model, out, question=p.model_text, turns=p.turns, scored=scored, verdict=verdict
                )
                await self._stream(model, request, parts, started)
        finally:
            out.text = "".join(parts)
        vectors = {}
        if model.uses_language_model:
            sentences = citing_sentences(out.text, [s.n for s in out.sources])
            # Not embedded when the question was not, or a passage is above the embedder's ceiling.
            if out.vector_search or not all(embeds_marking(s.marking) for s in out.sources):
                sentences = []
            if sentences:  # batched with other questions' embeddings; after the answer, not before it
                wait = settings.HUMPHREY_CHAT_EMBEDDING_TIMEOUT
                found = await asyncio.gather(
                    *(asyncio.wait_for(query_embedder().embed(t), wait) for t in sentences), return_exceptions=True
                )
                # A sentence the embedder failed on is checked by its words alone.
                vectors = {t: v for t, v in zip(sentences, found, strict=True) if not isinstance(v, BaseException)}
                if len(vectors) < len(sentences):
                    logger.warning("embedding answer %s's sentences for the claim check failed", p.answer_id)
                    out.claims_by_words = True
        answer_finish(out, model=model, request=request, weights=weights, vectors=vectors)

    async def _stream(self, model, request, parts: list[str], started: float) -> None:
        """``model``'s answer to ``request``, each piece sent as it comes and kept in ``parts``; the
        HTTP requests it took (``Attempts``, retries included) go into ``outcome.model``, which
        describes ``model`` by then, whether it answers or fails."""
        p, out = self.prepared, self.outcome
        try:
            async with contextlib.aclosing(model.stream(request)) as stream:
                async for item in stream:
                    if isinstance(item, TextDelta):
                        if not parts:
                            out.timings["first_token"] = _ms(started)
                        parts.append(item.text)
                        self._emit({"type": "delta", "message": p.answer_id, "text": item.text})
                    elif isinstance(item, Usage):
                        out.usage = item
                    elif isinstance(item, Attempts):
                        out.model.update(item.as_dict())
        except ModelError as exc:
            if exc.attempts is not None:
                out.model.update(exc.attempts.as_dict())
            raise

    async def _record(self, error: AnswerError | None) -> None:
        p, out = self.prepared, self.outcome
        message = None
        for attempt in range(5):
            try:
                message = await db_call(answer_record)(user=self.user, prepared=p, outcome=out)
                break
            except DatabaseError:
                # PostgreSQL restarting: the pool replaces dead connections; try again shortly.
                logger.warning("storing answer %s failed (attempt %s)", p.answer_id, attempt + 1)
                await asyncio.sleep(0.5 * 2**attempt)
        self.finished.set()
        if message is None:
            self._emit(
                {
                    "type": "error",
                    "message_id": p.answer_id,
                    "code": "storage_error",
                    "message": "Your answer could not be saved. Try again in a moment.",
                }
            )
            await self._record_failure_later()
            return
        if error is not None and out.status != Status.STALLED:
            self._emit({"type": "error", "message_id": p.answer_id, "code": error.code, "message": error.message})
            return
        by_n = {s.n: s for s in out.sources}
        frame = {
            "type": "done",
            "message": p.answer_id,
            "conversation": p.conversation_id,
            "status": out.status,
            "text": out.text,
            "html": answer_html(out.text, out.sources, out.cited, highlights=out.highlights, checks=out.checks),
            "citations": source_frames(
                [by_n[n] for n in out.cited if n in by_n],
                out.highlights,
                out.reviews,
                getattr(message, "superseded_versions", frozenset()),
            ),
            "checks": out.checks,
            "checks_summary": checks_summary(out.checks),
            "usage": out.usage.as_dict(),
            "timings": {k: out.timings.get(k) for k in ("retrieval", "first_token", "total")},
        }
        if error is not None:  # stalled: the partial answer is kept, and the user is told why it ended
            frame["error"] = {"code": error.code, "message": error.message}
        self._emit(frame)

    async def _record_failure_later(self) -> None:
        """The database stayed away longer than the retries: the user has been told the answer was
        not saved. Keep trying (HUMPHREY_CHAT_RECORD_RETRY_SECONDS) to record it as what the user
        saw, a failure with ``storage_error``, with its audit event holding what the model said.
        Should the process stop first, ``answers_close_interrupted`` records it later."""
        out = self.outcome
        if out.text and not out.model_output:
            out.model_output = out.text
        out.status, out.error_code, out.outcome = Status.FAILED, "storage_error", ""
        deadline = time.monotonic() + settings.HUMPHREY_CHAT_RECORD_RETRY_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(RECORD_RETRY_INTERVAL)
            try:
                await db_call(answer_record)(user=self.user, prepared=self.prepared, outcome=out)
            except DatabaseError:
                continue
            logger.warning(
                "answer %s recorded as failed (storage_error) once the database returned", self.prepared.answer_id
            )
            return
        logger.error("answer %s could not be recorded; answers_close_interrupted will", self.prepared.answer_id)


async def answer_start(
    *,
    user,
    conversation_id,
    text: str,
    collections: list[str] | None,
    session=None,
    auth_hash: str | None = None,
    client_ip: str = "",
) -> AnswerRun:
    """Store the question and start answering it. Raises ``AnswerError`` (nothing stored) for bad
    asks, ``SessionEnded`` when ``session`` (the socket's) was signed out or expired, or the account
    no longer has ``auth_hash`` (deactivated, or its password changed). ``client_ip`` goes into the
    answer's audit event."""
    ask = Ask(user, conversation_id, text, collections, session, auth_hash=auth_hash, client_ip=client_ip)
    head = await head_start(ask)
    # Stored with every other question arriving at the same moment, in one transaction.
    store = asyncio.ensure_future(question_submit(ask))
    try:
        prepared = await asyncio.shield(store)
    except asyncio.CancelledError:
        # The asker went away while the question was being stored: once stored, it is still
        # answered and recorded (as if the socket closed a moment later).
        store.add_done_callback(lambda done: _answer_unobserved(user, done, head))
        raise
    except BaseException:
        if head:
            head.cancel()
        raise
    return AnswerRun(user=user, prepared=prepared, head=head).start()


def _answer_unobserved(user, stored: asyncio.Future, head: HeadStart | None) -> None:
    if stored.cancelled() or stored.exception() is not None:
        if head:
            head.cancel()
        return
    AnswerRun(user=user, prepared=stored.result(), head=head).start().detach()


async def answer_stream(*, user, conversation_id, text: str, collections: list[str] | None) -> AsyncIterator[dict]:
    """``answer_start`` as one async generator of frames (for commands, benchmarks and tests)."""
    run = await answer_start(user=user, conversation_id=conversation_id, text=text, collections=collections)
    async for event in run.events():
        yield event


async def answers_wait() -> None:
    """Wait for every answer still being generated in this process (tests, graceful shutdown)."""
    while _running:
        with contextlib.suppress(Exception):
            await asyncio.gather(*list(_running), return_exceptions=True)
