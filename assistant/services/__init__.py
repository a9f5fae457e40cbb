"""Every write the assistant makes, and the answer pipeline the websocket consumer hands over to.

Names are ``<entity>_<action>``. One question, end to end (``answer_start``):

1. ``assistant.intake.questions_store`` (sync, one transaction for every question arriving at that
   moment): check the session, conversation and collections through their gates, store the user's
   question and a *streaming* placeholder for the answer. Nothing later can lose the question.
2. A background task (it outlives the socket; see ``AnswerRun``) condenses a follow-up, retrieves
   passages the user may read at a marking the model endpoint is approved for, renders the versioned
   prompt, streams from the chat model and resolves ``[n]`` citations to chunk and version.
3. ``answer_record`` (sync, ONE transaction): the assistant message, its citations and exactly one
   audit event, whatever the outcome (answered, no_answer, stopped, stalled, error, refused).

Events are plain dicts shaped as the websocket frames in ``docs/websocket-protocol.md``.
"""

# Over 500 lines on purpose for now: conversations, frames, the answer pipeline and its record split into
# assistant/services/ by room in issue #20, which asks not to be interleaved with the answers work (#18).

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.utils import Error as DatabaseError
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from assistant import pii
from assistant.access import owns
from assistant.batching import query_embedder
from assistant.core.citations import cited_numbers, highlight_query, strip_unshown
from assistant.core.condense import condense, follow_up_subject
from assistant.core.errors import AnswerError
from assistant.core.evidence import (
    CheckSettings,
    Coverage,
    GateSettings,
    Weights,
    check_claims,
    citing_sentences,
    claim_notes,
    coverage,
    missing_words,
    score_units,
)
from assistant.core.markdown import render_markdown
from assistant.core.prompt import PROMPT_VERSION, render_messages
from assistant.core.types import ChatRequest, Source, TextDelta, Usage
from assistant.db import db_call
from assistant.intake import Ask, Prepared, model_facing, question_submit
from assistant.models import Citation, Conversation, Feedback, Message, Rating, Speaker, Status
from assistant.providers import get_chat_model
from audit.services import audit_record
from documents.embeddings import DIMENSIONS, embeds_marking, query_embedding_refusal
from documents.ingest.units import split_units
from documents.models import Chunk
from documents.retrieval import allowed_markings, clean_query, retrieve
from documents.vocabulary import word_shares
from humphrey.metrics import ANSWERS, RETRIEVAL_SECONDS, TIME_TO_FIRST_TOKEN, TOKENS

logger = logging.getLogger(__name__)

OUTCOMES = {
    Status.COMPLETE: "answered",
    Status.NO_ANSWER: "no_answer",
    Status.STOPPED: "stopped",
    Status.STALLED: "stalled",
    Status.FAILED: "error",
}
COALESCE_SECONDS = 0.05  # deltas are sent at most this often (never one frame per token)
NOT_COVERED = (
    "The guidance you can search does not cover this question, so Humphrey cannot answer it. "
    "Try rewording it, choosing other collections, or asking the team that owns the guidance."
)


class Refused(AnswerError):
    """A question refused by a limit or policy (stored and audited as ``refused``)."""

    status = "failed"


# --- Conversations ------------------------------------------------------------------------------


def conversation_rename(*, user, conversation: Conversation, title: str) -> Conversation:
    title = " ".join((title or "").split())[:200]
    if not title:
        raise ValueError("Enter a name for the conversation.")
    conversation.title = title
    conversation.save(update_fields=["title"])
    return conversation


@transaction.atomic
def conversation_hide(*, user, conversation: Conversation) -> Conversation:
    """Delete for the user: hidden from their pages, kept (with its audit trail) for audit and retention."""
    conversation.hidden_at = timezone.now()
    conversation.save(update_fields=["hidden_at"])
    audit_record(
        action="conversation.delete",
        actor=user,
        outcome="hidden",
        subject=f"conversation:{conversation.pk}",
        data={"conversation_id": conversation.pk},
    )
    return conversation


@transaction.atomic
def feedback_record(*, user, message: Message, rating: str, comment: str = "") -> Feedback:
    """The user's thumbs up or down (and optional comment) on an answer in their own conversation."""
    if rating not in Rating.values:
        raise ValueError("Choose helpful or not helpful.")
    if message.role != Speaker.ASSISTANT or not owns(user, message.conversation):
        raise PermissionError("not your answer")
    comment = (comment or "").strip()[:2000]
    feedback, _ = Feedback.objects.update_or_create(
        message=message,
        user=user,
        defaults={"rating": rating, "comment": comment, "updated_at": timezone.now()},
    )
    audit_record(
        action="feedback",
        actor=user,
        outcome=rating,
        subject=f"message:{message.pk}",
        data={"message_id": message.pk, "conversation_id": message.conversation_id},
        content={"comment": comment},
    )
    return feedback


def conversations_purge(*, before, held_user_ids, held_conversation_ids) -> int:
    """Blank the text of messages older than ``before``, except under a legal hold. Returns how many.

    Called by the audit app's retention command inside its transaction. Messages, citations and
    feedback ratings stay (they carry no text a person wrote); comments are blanked too.
    """
    messages = Message.objects.filter(created_at__lt=before, purged_at__isnull=True)
    if held_user_ids:
        messages = messages.exclude(conversation__owner_id__in=list(held_user_ids))
    if held_conversation_ids:
        messages = messages.exclude(conversation_id__in=list(held_conversation_ids))
    ids = list(messages.values_list("pk", flat=True))
    Feedback.objects.filter(message_id__in=ids).exclude(comment="").update(comment="")
    Citation.objects.filter(message_id__in=ids).exclude(quote="").update(quote="")
    purged = Message.objects.filter(pk__in=ids).update(text="", redacted=None, purged_at=timezone.now())
    conversations = Conversation.objects.filter(created_at__lt=before)
    if held_user_ids:
        conversations = conversations.exclude(owner_id__in=list(held_user_ids))
    if held_conversation_ids:
        conversations = conversations.exclude(pk__in=list(held_conversation_ids))
    conversations.exclude(title="").update(title="")
    return purged


# --- Links and frames -------------------------------------------------------------------------


_ID_SLOT = 987_654_321_987_654_321  # no chunk's id: marks where an id goes in a URL reversed once


def passage_urls(chunk_ids: list[int]) -> list[str]:
    """The pages showing these passages in their document versions (the documents app's ``passage``
    view), reversed once for all of them: Django's ``reverse`` costs tens of microseconds, and a burst of
    answers, each with its six or so sources, spent a tenth of its event loop's time in it (py-spy)."""
    try:
        template = reverse("documents:passage", args=[_ID_SLOT])
    except NoReverseMatch:
        return [""] * len(chunk_ids)
    return [template.replace(str(_ID_SLOT), str(int(chunk_id))) for chunk_id in chunk_ids]


def source_frames(sources: list[Source], highlights: dict[int, list] | None = None) -> list[dict]:
    """The ``sources`` / ``citations`` frames' entries; ``highlights`` (passage n -> spans) make each
    link open its passage with the sentences the answer used highlighted."""
    highlights = highlights or {}
    return [
        {
            "n": source.n,
            "chunk_id": source.chunk_id,
            "document_title": source.document_title,
            "version": source.version_number,
            "version_id": source.version_id,
            "section": source.heading_path,
            "anchor": source.anchor,
            "page": source.page,
            "collection": source.collection_slug,
            "quote": source.text[:600],
            "url": url + highlight_query(highlights.get(source.n)) if url else url,
        }
        for source, url in zip(sources, passage_urls([s.chunk_id for s in sources]), strict=True)
    ]


def answer_html(
    text: str, sources: list[Source], cited: list[int], *, highlights: dict | None = None, checks: list | None = None
) -> str:
    """Sanitised HTML of an answer: ``[n]`` links to cited passages (their used sentences highlighted);
    links only if a cited passage has them; sentences the claim check doubts marked."""
    by_n = {s.n: s for s in sources}
    highlights = highlights or {}
    allowed = "\n".join(by_n[n].text for n in cited if n in by_n)
    urls = dict(zip(by_n, passage_urls([s.chunk_id for s in by_n.values()]), strict=True))
    return render_markdown(
        text,
        citation_url=lambda n: (
            (urls[n] + highlight_query(highlights.get(n)) if urls[n] else "#") if n in urls else None
        ),
        allowed_link_text=allowed,
        allowed_hosts=settings.HUMPHREY_CHAT_LINK_HOSTS,
        notes=claim_notes(checks or []),
    )


# --- Step 1: the question (assistant.intake) ----------------------------------------------------


# --- Step 3: the record -------------------------------------------------------------------------


@dataclass
class Outcome:
    """Everything the final write stores; filled in as the answer goes."""

    status: str = Status.COMPLETE
    outcome: str = ""  # audit outcome; derived from status unless refused
    error_code: str | None = None
    text: str = ""  # what the user is shown (and stored)
    model_output: str = ""  # what the model said, when different from ``text``
    condensed: str = ""
    sources: list[Source] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    model: dict = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    timings: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)  # the gate's evidence (assistant.core.evidence.Coverage)
    checks: list[dict] = field(default_factory=list)  # a model answer's sentences against their citations
    highlights: dict[int, list] = field(default_factory=dict)  # passage n -> [start, end] of the units used
    vector_search: dict = field(default_factory=dict)  # why the question was not embedded ({}: it was)


def _cost(usage: Usage) -> float | None:
    rates = settings.HUMPHREY_CHAT_COST_PER_1K_TOKENS
    if not rates:
        return None
    return round(usage.prompt_tokens / 1000 * rates[0] + usage.completion_tokens / 1000 * rates[1], 6)


def _observe(outcome: Outcome) -> None:
    """Prometheus figures for a stored answer: counts and timings only, never text."""
    ANSWERS.labels(outcome=outcome.outcome or OUTCOMES.get(outcome.status, "error")).inc()
    if outcome.timings.get("first_token") is not None:
        TIME_TO_FIRST_TOKEN.observe(outcome.timings["first_token"] / 1000)
    if outcome.timings.get("retrieval") is not None:
        RETRIEVAL_SECONDS.observe(outcome.timings["retrieval"] / 1000)
    if outcome.usage.prompt_tokens or outcome.usage.completion_tokens:
        name = str(outcome.model.get("name", "")) if outcome.model else ""
        TOKENS.labels(model=name, kind="prompt").inc(outcome.usage.prompt_tokens)
        TOKENS.labels(model=name, kind="completion").inc(outcome.usage.completion_tokens)


@transaction.atomic
def answer_record(*, user, prepared: Prepared, outcome: Outcome) -> Message:
    """The final write: the answer, its citations and exactly one ``answer`` audit event, together."""
    message = Message.objects.select_for_update().get(pk=prepared.answer_id)
    by_n = {s.n: s for s in outcome.sources}
    cited = [n for n in outcome.cited if n in by_n]
    message.text = outcome.text
    message.status = outcome.status
    message.error_code = outcome.error_code or ""
    message.model = outcome.model
    message.usage = outcome.usage.as_dict()
    message.timings = outcome.timings
    message.prompt_version = PROMPT_VERSION if outcome.messages else ""
    message.checks = outcome.checks
    message.save()
    # A citation row refers to the chunk by key: PROTECT keeps what was quoted for as long as the answer.
    existing = set(Chunk.objects.filter(pk__in=[by_n[n].chunk_id for n in cited]).values_list("pk", flat=True))
    Citation.objects.bulk_create(
        Citation(
            message=message,
            n=n,
            chunk_id=by_n[n].chunk_id,
            version_id=by_n[n].version_id,
            quote=by_n[n].text,
            highlights=outcome.highlights.get(n, []),
        )
        for n in cited
        if by_n[n].chunk_id in existing
    )
    Conversation.objects.filter(pk=prepared.conversation_id).update(updated_at=timezone.now())
    audit_record(
        action="answer",
        actor=user,
        outcome=outcome.outcome or OUTCOMES.get(outcome.status, "error"),
        subject=f"conversation:{prepared.conversation_id}",
        data={
            "conversation_id": prepared.conversation_id,
            "message_id": message.pk,
            "question_message_id": prepared.question_id,
            "user_groups": prepared.user_groups,
            "collections": prepared.searched,
            "chosen_collections": prepared.collections or [],  # [] : asked of everything they may read
            "prompt_version": message.prompt_version,
            "model": outcome.model,
            "usage": outcome.usage.as_dict(),
            "cost": {"currency": "GBP", "amount": _cost(outcome.usage)},
            "timings_ms": {
                "retrieval": outcome.timings.get("retrieval"),
                "first_token": outcome.timings.get("first_token"),
                "total": outcome.timings.get("total"),
            },
            "error_code": outcome.error_code,
            "coverage": outcome.coverage,
            **({"vector_search": outcome.vector_search} if outcome.vector_search else {}),
            "claims": {
                "checked": sum(1 for c in outcome.checks if c["cited"]),
                "unsupported": sum(1 for c in outcome.checks if c["unsupported"]),
                "uncited": sum(1 for c in outcome.checks if c["uncited"]),
            },
            "citations": [
                {
                    "n": n,
                    "chunk_id": by_n[n].chunk_id,
                    "version_id": by_n[n].version_id,
                    "highlights": outcome.highlights.get(n, []),
                }
                for n in cited
            ],
            "passages": [
                {
                    "n": s.n,
                    "chunk_id": s.chunk_id,
                    "version_id": s.version_id,
                    "version_sha256": s.version_sha256,
                    "document_id": s.document_id,
                    "collection": s.collection_slug,
                    "vector_score": s.vector_score,
                    "keyword_score": s.keyword_score,
                    "score": s.score,
                }
                for s in outcome.sources
            ],
            "personal_data": prepared.personal_data,
        },
        content={
            "question": prepared.model_text,  # redacted as the model saw it (the setting permitting)
            "condensed_question": outcome.condensed,
            "messages": outcome.messages,
            "passages": [
                {
                    "n": s.n,
                    "chunk_id": s.chunk_id,
                    "document_title": s.document_title,
                    "heading_path": s.heading_path,
                    "anchor": s.anchor,
                    "text": s.text,
                }
                for s in outcome.sources
            ],
            "answer": outcome.text,
            **({"claims": outcome.checks} if outcome.checks else {}),
            **({"model_output": outcome.model_output} if outcome.model_output else {}),
        },
    )
    transaction.on_commit(lambda: _observe(outcome))
    return message


# --- Step 2: the answer, in a task that outlives the socket ------------------------------------

_running: set[asyncio.Task] = set()  # strong references: a task nobody holds can be collected


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def sources_retrieve(
    user, query: str, collections, k: int, max_marking: str, query_vector=None
) -> tuple[list[Source], Weights]:
    """The passages for the question, each with its answer units and their vectors, and the word
    weights the evidence is scored with (both read here, in the database thread). Without
    ``query_vector`` the question is searched by its words only: nothing here embeds it."""
    passages = retrieve(
        user=user,
        query=query,
        collections=collections,
        k=k,
        max_marking=max_marking,
        query_vector=query_vector,
        mode="keyword" if query_vector is None else "hybrid",
    ).passages
    units = {
        pk: (stored, vectors)
        for pk, stored, vectors in Chunk.objects.filter(pk__in=[p.chunk_id for p in passages]).values_list(
            "pk", "units", "unit_vectors"
        )
    }
    sources = []
    for i, p in enumerate(passages, start=1):
        stored, vectors = units.get(p.chunk_id, ([], None))
        if not stored:  # ingested before answer units existed (``manage.py reembed`` adds them)
            stored, vectors = [u.as_list() for u in split_units(p.text)], None
        sources.append(
            Source(
                n=i,
                chunk_id=p.chunk_id,
                text=p.text,
                document_id=p.document_id,
                document_title=p.document_title,
                version_id=p.version_id,
                version_number=p.version_number,
                version_sha256=p.version_sha256,
                collection_slug=p.collection_slug,
                marking=p.marking,
                heading_path=p.heading_path,
                anchor=p.anchor,
                page=p.page,
                vector_score=p.vector_score,
                keyword_score=p.keyword_score,
                score=p.score,
                units=tuple(tuple(u) for u in stored),
                unit_vectors=None
                if vectors is None
                else np.frombuffer(bytes(vectors), dtype=np.float16).reshape(-1, DIMENSIONS).astype(np.float32),
            )
        )
    share, floor = word_shares()
    return sources, Weights(share=share, floor=floor)


def gate_settings() -> GateSettings:
    return GateSettings(
        min_score=settings.HUMPHREY_ANSWER_MIN_EVIDENCE,
        words_weight=settings.HUMPHREY_ANSWER_WORDS_WEIGHT,
        unit_weight=settings.HUMPHREY_ANSWER_UNIT_WEIGHT,
        passage_weight=settings.HUMPHREY_ANSWER_PASSAGE_WEIGHT,
        min_best_unit=settings.HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY,
    )


def answer_evidence(
    *, question: str, vector, sources: list[Source], weights: Weights, subject: str = ""
) -> tuple[Coverage, list]:
    """Whether the passages cover the question (the gate every answer passes before any model is
    called), and their units scored against it (what the extractive answerer quotes from).
    ``subject``: for a follow-up, the earlier question it leans on (its words count half)."""
    scored = score_units(question=question, vector=vector, sources=sources, weights=weights, subject=subject)
    gate = gate_settings()
    top = {s.chunk_id for s in sources[: gate.top_passages]}
    verdict = coverage(
        question=question,
        vector=vector,
        sources=sources,
        weights=weights,
        gate=gate,
        scored=[u for u in scored if u.source.chunk_id in top],
        subject=subject,
    )
    return verdict, scored


def check_settings() -> CheckSettings:
    return CheckSettings(
        min_words=settings.HUMPHREY_ANSWER_CHECK_MIN_WORDS, min_meaning=settings.HUMPHREY_ANSWER_CHECK_MIN_SIMILARITY
    )


def chat_request(model, **fields) -> ChatRequest:
    """The request for ``model``; for an extractive answerer its quotes chosen here, once, so the
    answer streamed and the passages highlighted afterwards are the same units."""
    request = ChatRequest(**fields)
    if hasattr(model, "quotes"):
        request = dataclasses.replace(request, quotes=model.quotes(request))
    return request


def answer_finish(out: Outcome, *, model, request: ChatRequest, weights: Weights, vectors: dict) -> None:
    """What the finished text of an answer becomes: not covered if it cites nothing; citations of
    passages never shown removed; a model's sentences checked against their citations; the units
    each cited passage was used for (highlighted on its page)."""
    shown = [s.n for s in out.sources]
    out.cited = cited_numbers(out.text, shown)
    if not out.cited:
        # Grounded or honest: an answer that cites nothing is not shown as an answer.
        out.model_output = out.text
        out.status, out.text = Status.NO_ANSWER, not_covered_text(out.sources)
        return
    cleaned = strip_unshown(out.text, shown)
    if cleaned != out.text:
        out.model_output, out.text = out.text, cleaned
    out.status = Status.COMPLETE
    by_n = {s.n: s for s in out.sources}
    used: dict[int, set[int]] = {}
    if model.uses_language_model:
        checks = check_claims(
            answer=out.text, sources=out.sources, weights=weights, vectors=vectors, settings=check_settings()
        )
        out.checks = [c.as_dict() for c in checks if c.cited or c.uncited]
        for check in checks:
            for n, units in check.support.items():
                used.setdefault(n, set()).update(units)
    elif hasattr(model, "quotes"):
        for quote in model.quotes(request):
            used.setdefault(quote.source.n, set()).update(quote.indexes)
    out.highlights = {
        n: sorted([by_n[n].units[i][0], by_n[n].units[i][1]] for i in units)
        for n, units in used.items()
        if n in by_n and n in out.cited
    }


def not_covered_text(sources: list[Source], absent: list[str] | None = None) -> str:
    """The honest reply, naming the nearest documents the user may read (they came from retrieval)
    and the question's words those passages never use (``absent``), if any."""
    lines, seen = [NOT_COVERED], set()
    if absent:
        quoted = ", ".join(f"“{word}”" for word in absent)
        lines[0] += f" The closest passages do not mention {quoted}."
    for s, url in zip(sources, passage_urls([s.chunk_id for s in sources]), strict=True):
        if s.document_id in seen:
            continue
        seen.add(s.document_id)
        lines.append(f"- [{s.document_title}]({url})" if url else f"- {s.document_title}")
        if len(seen) == 3:
            break
    if len(lines) > 1:
        lines.insert(1, "\nThe nearest guidance found:\n")
    return "\n".join(lines)


class AnswerRun:
    """One answer being generated. ``events()`` yields frames; ``stop()`` ends it early (kept as
    *stopped*); ``detach()`` (the socket went away) lets it finish and be stored unobserved."""

    def __init__(self, *, user, prepared: Prepared, early_embedding: tuple[str, asyncio.Task] | None = None) -> None:
        self.user = user
        self.prepared = prepared
        self.early_embedding = early_embedding  # (query, task) started while the question was stored
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
        self._emit(
            {"type": "accepted", "conversation": p.conversation_id, "message": p.question_id, "answer": p.answer_id}
        )
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
        if self.early_embedding is not None:  # refused or stopped before retrieval
            self.early_embedding[1].cancel()
            self.early_embedding = None
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
        """The query's embedding: the one started early if it was for this very text (a first
        question, not redacted), else computed now. None when it is asked of a collection marked
        above what the embedder may be sent (``outcome.vector_search`` says so): searched by words."""
        early, self.early_embedding = self.early_embedding, None
        if query and not embeds_marking(allowed_markings(model.max_marking)[-1]):
            self.outcome.vector_search = await db_call(query_embedding_refusal)(
                user=self.user, collections=self.prepared.searched, max_marking=model.max_marking
            )
        if self.outcome.vector_search:
            if early is not None:
                early[1].cancel()
            return None
        if early is not None:
            if early[0] == query:
                with contextlib.suppress(Exception):
                    return await early[1]
            early[1].cancel()
        return await query_embedder().embed(query) if query else None

    async def _generate(self, model, started: float) -> None:
        p, out = self.prepared, self.outcome
        out.condensed = condense(p.model_text, p.turns)
        t0 = time.monotonic()
        # Embedded outside the database thread, batched with other questions arriving at once.
        vector = await self._query_vector(clean_query(out.condensed), model)
        out.sources, weights = await db_call(sources_retrieve)(
            self.user, out.condensed, p.collections, settings.HUMPHREY_CHAT_PASSAGES, model.max_marking, vector
        )
        out.timings["retrieval"] = _ms(t0)
        subject = follow_up_subject(p.model_text, p.turns)
        verdict, scored = answer_evidence(
            question=p.model_text if subject else out.condensed,
            vector=vector,
            sources=out.sources,
            weights=weights,
            subject=subject,
        )
        out.coverage = verdict.as_dict()
        if not verdict.covered:
            absent = missing_words(p.model_text, verdict.missing)
            out.status, out.text = Status.NO_ANSWER, not_covered_text(out.sources, absent)
            return
        self._emit({"type": "sources", "message": p.answer_id, "sources": source_frames(out.sources)})
        out.messages = render_messages(question=p.model_text, sources=out.sources, turns=p.turns)
        request = chat_request(
            model, messages=out.messages, sources=out.sources, question=out.condensed, evidence=scored
        )
        parts: list[str] = []
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
        finally:
            out.text = "".join(parts)
        vectors = {}
        if model.uses_language_model:
            sentences = citing_sentences(out.text, [s.n for s in out.sources])
            # Not embedded when the question was not, or a passage is above the embedder's ceiling.
            if out.vector_search or not all(embeds_marking(s.marking) for s in out.sources):
                sentences = []
            if sentences:  # batched with other questions' embeddings; after the answer, not before it
                found = await asyncio.gather(*(query_embedder().embed(t) for t in sentences))
                vectors = dict(zip(sentences, found, strict=True))
        answer_finish(out, model=model, request=request, weights=weights, vectors=vectors)

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
            "citations": source_frames([by_n[n] for n in out.cited if n in by_n], out.highlights),
            "checks": out.checks,
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


RECORD_RETRY_INTERVAL = 10.0  # seconds between late attempts to record an answer


@transaction.atomic
def _close_one(message_id: int, cutoff) -> bool:
    message = (
        Message.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("conversation", "question")
        .filter(pk=message_id, status=Status.STREAMING, created_at__lt=cutoff)
        .first()
    )
    if message is None:
        return False
    message.status, message.error_code = Status.FAILED, "interrupted"
    message.save(update_fields=["status", "error_code"])
    audit_record(
        action="answer",
        actor=message.conversation.owner,
        outcome="error",
        subject=f"conversation:{message.conversation_id}",
        data={
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "question_message_id": message.question_id,
            "error_code": "interrupted",
            "note": "the process writing this answer stopped before recording it",
        },
        content={
            "question": model_facing(message.question.text, redacted=message.question.redacted)
            if message.question
            else "",
            "answer": message.text,
        },
    )
    return True


def answers_close_interrupted(*, older_than) -> int:
    """Answers still *streaming* long after any answer could (the process writing them was killed,
    or the database stayed away past every retry): each recorded as failed (``interrupted``) with
    its one ``answer`` audit event, so no question goes unaccounted for. Safe to run from several
    processes at once. Returns how many were closed."""
    cutoff = timezone.now() - older_than
    stale = Message.objects.filter(role=Speaker.ASSISTANT, status=Status.STREAMING, created_at__lt=cutoff)
    return sum(_close_one(pk, cutoff) for pk in stale.values_list("pk", flat=True))


def _may_embed_early() -> bool:
    """Whether a question may go to the embedder before what it is asked of is known: only if the
    embedder may be sent every marking the chat model may be given (``AnswerRun._query_vector``
    decides, with the question's collections, otherwise)."""
    try:
        return embeds_marking(allowed_markings(get_chat_model().max_marking)[-1])
    except Exception:  # a misconfigured model or embedder is reported by the answer itself
        return False


async def answer_start(*, user, conversation_id, text: str, collections: list[str] | None, session=None) -> AnswerRun:
    """Store the question and start answering it. Raises ``AnswerError`` (nothing stored) for bad
    asks, ``SessionEnded`` when ``session`` (the socket's) was signed out or expired."""
    # A new conversation's question is searched as typed: embed it while it is being stored.
    early = None
    query = clean_query((text or "").strip()) if conversation_id is None and isinstance(text, str) else ""
    redacting = settings.HUMPHREY_CHAT_PERSONAL_DATA in ("redact", "block")
    # Not when it might hold personal data the intake will redact: the embedder gets only redacted text.
    if (
        query
        and len(text) <= settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS
        and _may_embed_early()
        and not (redacting and pii.may_hold_personal_data(text))
    ):
        early = (query, asyncio.get_running_loop().create_task(query_embedder().embed(query)))
    # Stored with every other question arriving at the same moment, in one transaction.
    store = asyncio.ensure_future(question_submit(Ask(user, conversation_id, text, collections, session)))
    try:
        prepared = await asyncio.shield(store)
    except asyncio.CancelledError:
        # The asker went away while the question was being stored: once stored, it is still
        # answered and recorded (as if the socket closed a moment later).
        store.add_done_callback(lambda done: _answer_unobserved(user, done, early))
        raise
    except BaseException:
        if early:
            early[1].cancel()
        raise
    return AnswerRun(user=user, prepared=prepared, early_embedding=early).start()


def _answer_unobserved(user, stored: asyncio.Future, early) -> None:
    if stored.cancelled() or stored.exception() is not None:
        if early:
            early[1].cancel()
        return
    AnswerRun(user=user, prepared=stored.result(), early_embedding=early).start().detach()


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
