"""Reading the audit trail: chainable QuerySet methods the auditor pages, exports and commands share.

Nothing here writes. Every method returns a QuerySet, so a filter is built once and used for the
page, the count and both exports alike (an export always matches what the page showed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields

from django.contrib.postgres.search import SearchQuery
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from audit.actions import Action, subject

#: Outcomes an ``answer`` event may carry (written by the chat engineer's answer pipeline).
ANSWER_OUTCOMES = ("answered", "no_answer", "stopped", "stalled", "error", "refused")
FEEDBACK_CHOICES = ("up", "down", "none")
#: An outcome to search by that no event carries: answered, by quoting the guidance, because the model
#: failed before its first word. Those events say ``answered`` (the person got an answer) and keep the
#: failure in ``data.model`` (``instead_of``, ``error_code``), so a search for failures must look there.
QUOTED_AFTER_MODEL_FAILED = "quoted_after_model_failed"
#: The extractive answerer's model name (``assistant.providers.extractive``): it quotes the guidance
#: and calls no language model. Named here because the audit app imports no feature app.
QUOTING_MODEL = "extractive"


@dataclass(frozen=True)
class AuditFilters:
    """What an auditor asked for. Empty strings / None mean "any"."""

    action: str = "answer"  # "answer", "feedback", "auth.*" (a family), "" (every kind) or any exact action
    user: str = ""  # the actor's email (as recorded at the time), case-insensitive
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    collection: str = ""  # a collection slug searched by the answer
    outcome: str = ""
    feedback: str = ""  # up / down / none
    model: str = ""  # model name, exact (the answering model's, or the one it was quoted instead of)
    error_code: str = ""  # the answer's error code, or the code of a model that failed before it was quoted
    q: str = ""  # free text in the question, condensed question or answer

    def as_record(self) -> dict:
        """The filters as plain JSON, for the audit event that records the search."""
        return {
            name: (value.isoformat() if isinstance(value, dt.date) else value)
            for name, value in asdict(self).items()
            if value not in ("", None)
        }

    def as_query(self) -> dict[str, str]:
        """The filters as URL query parameters (to link an export to the page's filter)."""
        return {
            f.name: (
                getattr(self, f.name).isoformat()
                if isinstance(getattr(self, f.name), dt.date)
                else str(getattr(self, f.name))
            )
            for f in fields(self)
            if getattr(self, f.name) not in ("", None)
        }


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in the site's time zone, so a range is index-friendly."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class AuditEventQuerySet(models.QuerySet):
    def answers(self) -> AuditEventQuerySet:
        return self.filter(action=Action.ANSWER)

    def with_feedback(self) -> AuditEventQuerySet:
        """Annotate ``feedback`` / ``feedback_seq``: the latest feedback event on the same message."""
        latest = (
            self.model.objects.filter(action=Action.FEEDBACK, data__message_id=OuterRef("data__message_id"))
            .exclude(data__message_id=None)
            .order_by("-seq")
        )
        return self.annotate(
            feedback=Subquery(latest.values("outcome")[:1]),
            feedback_seq=Subquery(latest.values("seq")[:1]),
        )

    def text_search(self, text: str) -> AuditEventQuerySet:
        """Events whose content (question, condensed question, answer) matches ``text``.

        PostgreSQL full-text search, web-search syntax ("quoted phrases", -not, or), on the same
        expression as the GIN index. Purged content is no longer searchable.
        """
        from audit.models import AuditContent, content_search_vector

        query = SearchQuery(text, search_type="websearch", config="english")
        matches = AuditContent.objects.annotate(document=content_search_vector()).filter(document=query)
        return self.filter(pk__in=matches.values("event_id"))

    def matching(self, filters: AuditFilters) -> AuditEventQuerySet:
        """Apply every filter an auditor set. Feedback filtering needs ``with_feedback()`` first."""
        qs = self
        if filters.action.endswith(".*"):
            qs = qs.filter(action__startswith=filters.action[:-1])
        elif filters.action:
            qs = qs.filter(action=filters.action)
        if filters.user:
            qs = qs.filter(actor_label__iexact=filters.user.strip())
        if filters.date_from:
            qs = qs.filter(created_at__gte=_day_start(filters.date_from))
        if filters.date_to and filters.date_to < dt.date.max:  # the last day there is bounds nothing
            qs = qs.filter(created_at__lt=_day_start(filters.date_to + dt.timedelta(days=1)))
        if filters.collection:
            qs = qs.filter(data__contains={"collections": [filters.collection]})
        if filters.outcome == QUOTED_AFTER_MODEL_FAILED:
            qs = qs.filter(outcome="answered", data__model__has_key="instead_of")
        elif filters.outcome:
            qs = qs.filter(outcome=filters.outcome)
        if filters.error_code:
            qs = qs.filter(Q(data__error_code=filters.error_code) | Q(data__model__error_code=filters.error_code))
        if filters.model:  # a model that failed, its answer quoted instead, is found under its own name too
            qs = qs.filter(
                Q(data__contains={"model": {"name": filters.model}})
                | Q(data__contains={"model": {"instead_of": {"name": filters.model}}})
            )
        if filters.feedback:
            if "feedback" not in qs.query.annotations:
                qs = qs.with_feedback()
            qs = (
                qs.filter(feedback__isnull=True) if filters.feedback == "none" else qs.filter(feedback=filters.feedback)
            )
        if filters.q.strip():
            qs = qs.text_search(filters.q.strip())
        return qs

    def of_conversation(self, conversation_id: int) -> AuditEventQuerySet:
        """Every event about one conversation: its answers and the feedback on them."""
        return self.filter(
            Q(subject=subject("conversation", conversation_id)) | Q(data__contains={"conversation_id": conversation_id})
        )

    def about_person(self, user) -> AuditEventQuerySet:
        """Everything about one person, for a subject-access or FOI request.

        Their events as actor; events naming them as subject (role changes); failed sign-ins with
        their email; and every event of the conversations they had (found from their answer events).
        """
        email = (user.email or "").strip().lower()
        conversation_ids = sorted(
            {
                cid
                for cid in self.model.objects.filter(actor_id=user.pk, action=Action.ANSWER).values_list(
                    "data__conversation_id", flat=True
                )
                if isinstance(cid, int)
            }
        )
        condition = Q(actor_id=user.pk) | Q(subject=subject("user", user.pk))
        if email:
            condition |= Q(data__contains={"email": email})
        if conversation_ids:
            condition |= Q(subject__in=[subject("conversation", cid) for cid in conversation_ids])
            condition |= Q(data__conversation_id__in=conversation_ids)
        return self.filter(condition)


# --- What an answer event's data says, read the same way by the trace page and the CSV export ------


def _model(data: dict) -> dict:
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, dict) else {}


def model_use(data: dict) -> str:
    """How an answer event's answer was written, from what the event records.

    "language_model": a prompt was built and sent to a language model; "quoted": the extractive
    answerer quoted the guidance (configured so, or instead of a model that failed before its first
    word: ``data.model.instead_of``); "none": no prompt was built, so no model was called (not covered
    by the guidance, refused, stopped or failed before); "unknown": the event has no
    ``prompt_version`` (an answer closed as interrupted, recorded without the pipeline's facts).
    """
    if not isinstance(data, dict) or "prompt_version" not in data:
        return "unknown"
    if not data.get("prompt_version"):
        return "none"
    return "quoted" if _model(data).get("name") == QUOTING_MODEL else "language_model"


def model_failure(data: dict) -> tuple[str, str] | None:
    """(name, error code) of the model that failed before its first word when the guidance was quoted
    instead; None when no model failed so."""
    model = _model(data)
    failed = model.get("instead_of")
    if not failed and not model.get("error_code"):
        return None
    name = failed.get("name") if isinstance(failed, dict) else None
    return str(name or ""), str(model.get("error_code") or "")


def error_code(data: dict) -> str:
    """The answer's error code, or that of a model that failed before the guidance was quoted."""
    code = data.get("error_code") if isinstance(data, dict) else None
    return str(code or (model_failure(data) or ("", ""))[1])


def tokens_recorded(data: dict) -> bool:
    """Whether an event's token counts are figures, not placeholders.

    A model reports its counts once, when it finishes: an answer it never finished (stopped, stalled,
    failed part-way, or failed before its first word and quoted instead) is recorded with zeros that
    mean "not reported". With no language model called, zeros are the true count.
    """
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return False
    if model_use(data) == "language_model" or model_failure(data):
        return any(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in usage.values())
    return True
