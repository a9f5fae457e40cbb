"""Reading the audit trail: chainable QuerySet methods the auditor pages, exports and commands share.

Nothing here writes. Every method returns a QuerySet, so a filter is built once and used for the
page, the count and both exports alike (an export always matches what the page showed).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import asdict, dataclass, fields

from django.apps import apps
from django.conf import settings
from django.contrib.postgres.search import SearchQuery
from django.db import models
from django.db.models import Case, Func, JSONField, Max, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce

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


def audit_time_zone() -> zoneinfo.ZoneInfo:
    """The one zone the auditor pages filter days in and show times in: the service's (TIME_ZONE),
    not whatever zone a request may have activated, so a day searched is the day shown."""
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


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
        """The filters as plain JSON, for the audit event that records the search. The kind is always
        there: "" (every kind) is a choice, and a missing one would read as the default, answers."""
        return {
            name: (value.isoformat() if isinstance(value, dt.date) else value)
            for name, value in asdict(self).items()
            if value not in ("", None) or name == "action"
        }

    def as_query(self) -> dict[str, str]:
        """The filters as URL query parameters (to link an export or another page to the page's
        filter). ``action`` is always sent: without it the form falls back to answers."""
        return {
            f.name: (
                getattr(self, f.name).isoformat()
                if isinstance(getattr(self, f.name), dt.date)
                else str(getattr(self, f.name))
            )
            for f in fields(self)
            if getattr(self, f.name) not in ("", None) or f.name == "action"
        }


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in the audit time zone, so a range is index-friendly."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=audit_time_zone())


def _collection_id_document(slug: str):
    """``{"collection_id": <id of the collection called slug>}`` as a jsonb expression, worked out by
    PostgreSQL once (an InitPlan), so ``data @>`` it can use the GIN index on ``data``.

    Curation events name their collection by id; the auditor names it by slug. The collection is the
    documents app's: looked up by name, as the audit app imports no feature app. With no such
    collection the id is -1, which no event holds (a NULL would build ``{"collection_id": null}``).
    """
    try:
        collection = apps.get_model("documents", "Collection")
    except LookupError:
        return None
    found = Subquery(collection.objects.filter(slug=slug).order_by().values("pk")[:1])
    return Func(
        Value("collection_id"),
        Coalesce(found, Value(-1)),
        function="jsonb_build_object",
        output_field=JSONField(),
    )


#: An answer for which no prompt was built, so no model was called (``model_use`` "none"): it names the
#: configured model, but must not be counted as that model's.
_NO_MODEL_CALLED = Q(action=Action.ANSWER, data__contains={"prompt_version": ""})


class AuditEventQuerySet(models.QuerySet):
    def answers(self) -> AuditEventQuerySet:
        return self.filter(action=Action.ANSWER)

    def with_feedback(self, as_of: int | None = None) -> AuditEventQuerySet:
        """Annotate answers with ``feedback`` / ``feedback_seq``: the latest feedback event on the same
        message, up to event ``as_of`` when given (so a page pinned there reads the same on every visit).

        Only answers have feedback: a feedback event's own rating is its outcome, and giving it the
        message's latest would make a changed rating read as another's (``down`` row, ``up`` feedback).
        """
        latest = (
            self.model.objects.filter(action=Action.FEEDBACK, data__message_id=OuterRef("data__message_id"))
            .exclude(data__message_id=None)
            .order_by("-seq")
        )
        if as_of is not None:
            latest = latest.filter(seq__lte=as_of)

        def of_answers(values):
            return Case(When(action=Action.ANSWER, then=Subquery(values[:1])), default=None)

        return self.annotate(
            feedback=of_answers(latest.values("outcome")),
            feedback_seq=of_answers(latest.values("seq")),
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

    def up_to(self, as_of: int | None) -> AuditEventQuerySet:
        """Events up to and including ``as_of`` (all of them for None)."""
        return self if as_of is None else self.filter(seq__lte=as_of)

    def head_seq(self) -> int:
        """The newest event's seq (0 with none): what a listing is pinned to when first shown."""
        return self.model.objects.aggregate(head=Max("seq"))["head"] or 0

    def matching(self, filters: AuditFilters, as_of: int | None = None) -> AuditEventQuerySet:
        """Apply every filter an auditor set, to the events up to ``as_of`` (all for None): the set a
        page pinned there counted, whatever has been written since (the auditor's own reading too)."""
        qs = self.up_to(as_of)
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
            qs = qs.filter(self._about_collection(filters.collection))
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
            ).exclude(_NO_MODEL_CALLED)
        if filters.feedback:
            if "feedback" not in qs.query.annotations:
                qs = qs.with_feedback(as_of)
            qs = (
                qs.filter(feedback__isnull=True) if filters.feedback == "none" else qs.filter(feedback=filters.feedback)
            )
        if filters.q.strip():
            qs = qs.text_search(filters.q.strip())
        return qs

    @staticmethod
    def _about_collection(slug: str) -> Q:
        """Answers that searched the collection, and events about it: curation and reads of its
        guidance (``data.collection_id``), its marking changes and insights (subject by slug)."""
        condition = Q(data__contains={"collections": [slug]}) | Q(subject=subject("collection", slug))
        document = _collection_id_document(slug)
        return condition if document is None else condition | Q(data__contains=document)

    def of_conversation(self, conversation_id: int) -> AuditEventQuerySet:
        """Every event about one conversation: its answers, the feedback on them, its deletion, legal
        holds on it and auditors' reading of it."""
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


# --- Pages of a listing pinned to the head of the chain --------------------------------------------


@dataclass
class KeysetPage:
    """One page of events read by seq (keyset), from the set pinned to event ``as_of``.

    Paging by offset through a trail that grows while it is read (the auditor's own searches are
    events) shifts rows from page to page; a seq cursor over a pinned set neither repeats nor skips.
    Duck-types the parts of Django's ``Page`` that ``_pagination.html`` and the tables read.
    """

    object_list: list
    count: int  # events in the pinned set
    as_of: int
    before_this: int  # events of the set on the pages before this one
    size: int
    # Links to this page and those either side (set by the view, which knows the filters).
    previous_query: str = ""
    current_query: str = ""
    next_query: str = ""
    pinned_query: str = ""

    @property
    def paginator(self) -> KeysetPage:
        return self

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.size))

    @property
    def number(self) -> int:
        return min(self.num_pages, -(-self.before_this // self.size) + 1)

    def has_previous(self) -> bool:
        return self.before_this > 0

    def has_next(self) -> bool:
        return self.before_this + len(self.object_list) < self.count

    def previous_page_number(self) -> int:
        return self.number - 1

    def next_page_number(self) -> int:
        return self.number + 1

    def start_index(self) -> int:
        return self.before_this + 1 if self.object_list else 0

    def end_index(self) -> int:
        return self.before_this + len(self.object_list)

    @property
    def seqs(self) -> list[int]:
        return [event.seq for event in self.object_list]

    @property
    def first_seq(self) -> int | None:
        return self.object_list[0].seq if self.object_list else None

    @property
    def last_seq(self) -> int | None:
        return self.object_list[-1].seq if self.object_list else None


def keyset_page(
    queryset, *, size: int, as_of: int, before: int | None = None, after: int | None = None, newest_first: bool = True
) -> KeysetPage:
    """The page of ``queryset``'s events up to ``as_of`` just after the cursor: ``before`` (events with
    a smaller seq) or ``after`` (a larger one); the first page with neither. Newest first (or oldest)."""
    pinned = queryset.filter(seq__lte=as_of)
    count = pinned.count()
    forward, backward = ("-seq", "seq") if newest_first else ("seq", "-seq")
    # A cursor in the reading direction continues the list; one against it goes back a page.
    cursor_back = after if newest_first else before
    cursor_on = before if newest_first else after
    if cursor_back is not None:
        side = {"seq__gt": cursor_back} if newest_first else {"seq__lt": cursor_back}
        rows = list(pinned.filter(**side).order_by(backward)[:size])[::-1]
    elif cursor_on is not None:
        side = {"seq__lt": cursor_on} if newest_first else {"seq__gt": cursor_on}
        rows = list(pinned.filter(**side).order_by(forward)[:size])
    else:
        rows = list(pinned.order_by(forward)[:size])
    if cursor_back is None and cursor_on is None:
        before_this = 0
    elif rows:
        side = {"seq__gt": rows[0].seq} if newest_first else {"seq__lt": rows[0].seq}
        before_this = pinned.filter(**side).count()
    else:
        before_this = count if cursor_on is not None else 0
    return KeysetPage(object_list=rows, count=count, as_of=as_of, before_this=before_this, size=size)


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
