"""Step 3 of an answer: the record. Whatever ended an answer (answered, no_answer, stopped, stalled,
error, refused, or a process that died before it could record it), it is written once, as the
assistant message, its citations and exactly one ``answer`` audit event, in one transaction.

``answer_audit`` is the one builder of that audit event: ``answer_record`` and
``answers_close_interrupted`` both go through it, so the event an auditor reads has one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assistant.core.prompt import PROMPT_VERSION
from assistant.core.types import Source, Usage
from assistant.intake import Prepared, model_facing
from assistant.models import Citation, Conversation, Message, Speaker, Status
from assistant.selectors import versions_superseded
from audit.actions import Action, subject
from audit.services import audit_record
from documents.models import Chunk
from documents.review import Review
from humphrey.metrics import ANSWERS, RETRIEVAL_SECONDS, TIME_TO_FIRST_TOKEN, TOKENS

OUTCOMES = {
    Status.COMPLETE: "answered",
    Status.NO_ANSWER: "no_answer",
    Status.STOPPED: "stopped",
    Status.STALLED: "stalled",
    Status.FAILED: "error",
}


@dataclass
class Outcome:
    """Everything the final write stores; filled in as the answer goes."""

    status: str = Status.COMPLETE
    outcome: str = ""  # audit outcome; derived from status unless refused
    error_code: str | None = None
    text: str = ""  # what the user is shown (and stored)
    model_output: str = ""  # what the model said, when different from ``text``
    condensed: str = ""
    glossary: list[dict] = field(default_factory=list)  # glossary entries applied to the question searched
    sources: list[Source] = field(default_factory=list)
    cited: list[int] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    model: dict = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    timings: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)  # the gate's evidence (assistant.core.evidence.Coverage)
    checks: list[dict] = field(default_factory=list)  # a model answer's sentences against their citations
    notices: list[dict] = field(default_factory=list)  # {code, message}: what the person was told, as sent
    highlights: dict[int, list] = field(default_factory=dict)  # passage n -> [start, end] of the units used
    vector_search: dict = field(default_factory=dict)  # why the question was not embedded ({}: it was)
    claims_by_words: bool = False  # the claim check could not embed the answer's sentences: words alone
    reviews: dict[int, Review] = field(default_factory=dict)  # document id -> its review when answered

    @property
    def audit_outcome(self) -> str:
        return self.outcome or OUTCOMES.get(self.status, "error")


def answer_cost(usage: Usage) -> float | None:
    """What the tokens cost in GBP at ``HUMPHREY_CHAT_COST_PER_1K_TOKENS`` (None when no rates are set)."""
    rates = settings.HUMPHREY_CHAT_COST_PER_1K_TOKENS
    if not rates:
        return None
    return round(usage.prompt_tokens / 1000 * rates[0] + usage.completion_tokens / 1000 * rates[1], 6)


def answer_observe(outcome: Outcome) -> None:
    """Prometheus figures for a stored answer: counts and timings only, never text."""
    ANSWERS.labels(outcome=outcome.audit_outcome).inc()
    if outcome.timings.get("first_token") is not None:
        TIME_TO_FIRST_TOKEN.observe(outcome.timings["first_token"] / 1000)
    if outcome.timings.get("retrieval") is not None:
        RETRIEVAL_SECONDS.observe(outcome.timings["retrieval"] / 1000)
    if outcome.usage.prompt_tokens or outcome.usage.completion_tokens:
        name = str(outcome.model.get("name", "")) if outcome.model else ""
        TOKENS.labels(model=name, kind="prompt").inc(outcome.usage.prompt_tokens)
        TOKENS.labels(model=name, kind="completion").inc(outcome.usage.completion_tokens)


def answer_audit(
    *,
    actor,
    outcome: str,
    conversation_id: int,
    message_id: int,
    question_message_id: int | None,
    question: str,
    answer: str,
    data: dict | None = None,
    content: dict | None = None,
) -> None:
    """The one ``answer`` audit event of an answer. Every event names the conversation, the answer and
    the question it answers, and holds (as content) the question as the model saw it and the answer;
    ``data`` and ``content`` add what the caller knows. The caller's transaction must also hold the
    write to the answer's message, so the event and the answer stand or fall together."""
    audit_record(
        action=Action.ANSWER,
        actor=actor,
        outcome=outcome,
        subject=subject("conversation", conversation_id),
        data={
            "conversation_id": conversation_id,
            "message_id": message_id,
            "question_message_id": question_message_id,
            **(data or {}),
        },
        content={"question": question, **(content or {}), "answer": answer},
    )


@transaction.atomic
def answer_record(*, user, prepared: Prepared, outcome: Outcome) -> Message:
    """The final write: the answer, its citations and exactly one ``answer`` audit event, together.
    A fixed number of statements however many passages it cites (tests/assistant/test_queries.py)."""
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
    message.notices = outcome.notices
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
    # A version published while the answer was written has already replaced what it quotes: the
    # ``done`` frame says so (``superseded``), as the page will.
    message.superseded_versions = versions_superseded({by_n[n].version_id for n in cited})
    Conversation.objects.filter(pk=prepared.conversation_id).update(updated_at=timezone.now())
    answer_audit(
        actor=user,
        outcome=outcome.audit_outcome,
        conversation_id=prepared.conversation_id,
        message_id=message.pk,
        question_message_id=prepared.question_id,
        question=prepared.model_text,  # redacted as the model saw it (the setting permitting)
        answer=outcome.text,
        data=_answer_data(prepared, outcome, message, cited),
        content=_answer_content(outcome),
    )
    transaction.on_commit(lambda: answer_observe(outcome))
    return message


def _answer_data(prepared: Prepared, outcome: Outcome, message: Message, cited: list[int]) -> dict:
    """The answer event's metadata: who asked of what, which model and prompt, what it cost and took,
    the gate's evidence, the claim check's counts, and every passage retrieved with its scores."""
    by_n = {s.n: s for s in outcome.sources}
    return {
        "user_groups": prepared.user_groups,
        "collections": prepared.searched,
        "chosen_collections": prepared.collections or [],  # [] : asked of everything they may read
        "prompt_version": message.prompt_version,
        "model": outcome.model,
        "usage": outcome.usage.as_dict(),
        # With the prices it was reckoned at: prices change, and an unpriced answer can be priced later.
        "cost": {
            "currency": "GBP",
            "amount": answer_cost(outcome.usage),
            "per_1k_tokens": list(settings.HUMPHREY_CHAT_COST_PER_1K_TOKENS or []) or None,
        },
        "timings_ms": {
            "retrieval": outcome.timings.get("retrieval"),
            "first_token": outcome.timings.get("first_token"),
            "total": outcome.timings.get("total"),
        },
        "error_code": outcome.error_code,
        # The question's own words that no close passage held are its content: kept with it (and purged
        # with it), so the data, kept for ever, says only how many there were.
        "coverage": _coverage_facts(outcome.coverage),
        **({"vector_search": outcome.vector_search} if outcome.vector_search else {}),
        **({"glossary": outcome.glossary} if outcome.glossary else {}),
        "claims": {
            "checked": sum(1 for c in outcome.checks if c["cited"]),
            "unsupported": sum(1 for c in outcome.checks if c["unsupported"]),
            "uncited": sum(1 for c in outcome.checks if c["uncited"]),
            **({"by_words_only": True} if outcome.claims_by_words else {}),
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
                # How fresh its guidance was when answered (review_status, review_by; None: not known).
                **(
                    outcome.reviews[s.document_id].as_facts()
                    if s.document_id in outcome.reviews
                    else {"review_status": None, "review_by": None}
                ),
            }
            for s in outcome.sources
        ],
        "personal_data": prepared.personal_data,
        # Where it was asked from (a socket, so not the HTTP request audit_record would read it from).
        **({"ip": prepared.client_ip} if prepared.client_ip else {}),
    }


#: Refusals of a question that say someone reached for what is not theirs (or no longer is).
ACCESS_REFUSALS = frozenset({"conversation_not_found", "collection_unavailable"})


def ask_refusal_record(*, user, code: str, conversation_id, collections, client_ip: str = "") -> None:
    """A question refused for want of access (another person's conversation, a collection the asker
    may not read) as an ``access.denied`` event: nothing was stored, so no answer event says so."""
    audit_record(
        action=Action.ACCESS_DENIED,
        actor=user,
        outcome="refused",
        subject=subject("conversation", conversation_id) if isinstance(conversation_id, int) else "",
        data={
            "channel": "chat",
            "code": code,
            "conversation_id": conversation_id if isinstance(conversation_id, int) else None,
            "collections": [str(c)[:100] for c in (collections or [])][:20],
            **({"ip": client_ip} if client_ip else {}),
        },
    )


def _coverage_facts(coverage: dict) -> dict:
    """The gate's evidence without the question's words (``missing``: how many instead)."""
    if "missing" not in coverage:
        return coverage
    return {**{k: v for k, v in coverage.items() if k != "missing"}, "missing_count": len(coverage["missing"])}


def _answer_content(outcome: Outcome) -> dict:
    """The answer event's content (kept apart, purged by retention): what the model was given and said,
    and the stems of the question's words no close passage held (``coverage_missing``)."""
    return {
        "condensed_question": outcome.condensed,
        **({"coverage_missing": list(outcome.coverage["missing"])} if outcome.coverage.get("missing") else {}),
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
        **({"claims": outcome.checks} if outcome.checks else {}),
        **({"model_output": outcome.model_output} if outcome.model_output else {}),
    }


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
    answer_audit(
        actor=message.conversation.owner,
        outcome="error",
        conversation_id=message.conversation_id,
        message_id=message.pk,
        question_message_id=message.question_id,
        question=model_facing(message.question.text, redacted=message.question.redacted) if message.question else "",
        answer=message.text,
        data={"error_code": "interrupted", "note": "the process writing this answer stopped before recording it"},
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
