"""Reading insights from the audit trail: the SQL behind every figure (who may see it: ``insights.access``).

The audit trail is the record of every answer and every rating (see ``audit.services`` for the
event schema). An answer belongs to a collection's insights when the collection's slug is among
the collections it searched (``data @> {"collections": [slug]}``, answered by the GIN index) or,
for a question asked of everything the person may read (``collections`` empty), when one of the
passages it was shown came from the collection. A document's figures only ever count documents
*of that collection* (joined through the version a citation names), so nothing from another
collection reaches a dashboard.

Feedback counts the latest rating of each answer (a changed mind counts once), attributed to the
day of the answer. Days are the site's local days (``TIME_ZONE``).

Nothing here returns who asked: queries return opaque actor ids only where a privacy threshold
needs to count distinct askers, and the callers never display them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditContent, AuditEvent
from documents.models import Chunk, Collection, Document, DocumentVersion
from documents.review import Review, review_of

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
FAILED_OUTCOMES = ("error", "stalled")


# --- Period --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """The last ``days`` local days, today included."""

    days: int
    today: dt.date

    @classmethod
    def last(cls, days: int) -> Period:
        if days < 1:
            raise ValueError("a period is at least one day")
        return cls(days=days, today=timezone.localdate())

    @property
    def first_day(self) -> dt.date:
        return self.today - dt.timedelta(days=self.days - 1)

    @property
    def since(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.first_day, dt.time.min))

    @property
    def until(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.today + dt.timedelta(days=1), dt.time.min))

    @property
    def dates(self) -> list[dt.date]:
        return [self.first_day + dt.timedelta(days=i) for i in range(self.days)]


# --- SQL -----------------------------------------------------------------------------------


def _tables() -> dict[str, str]:
    return {
        "event": AuditEvent._meta.db_table,
        "content": AuditContent._meta.db_table,
        "chunk": Chunk._meta.db_table,
        "version": DocumentVersion._meta.db_table,
        "document": Document._meta.db_table,
    }


# The answers of one collection in one period, each with its local day and its latest rating.
# Feedback is found through the partial index on (data -> 'message_id') WHERE action = 'feedback'.
_ANSWERS = """
WITH ev AS MATERIALIZED (
    SELECT e.id, e.seq, e.outcome, e.actor_id, e.data,
           (e.created_at AT TIME ZONE %(tz)s)::date AS day,
           (SELECT f.outcome FROM {event} f
             WHERE f.action = 'feedback' AND (f.data -> 'message_id') = (e.data -> 'message_id')
             ORDER BY f.seq DESC LIMIT 1) AS feedback
    FROM {event} e
    WHERE e.action = 'answer'
      AND (
          -- The collection's passages were retrieved for it,
          e.data @> %(match_passage)s::jsonb
          -- or the asker chose it. A question asked of everything they may read counts only where
          -- passages were found: its "collections" are every collection the asker may read,
          -- curated by others too. Events from before "chosen_collections" was recorded: chosen
          -- when it was the only collection searched.
          OR e.data @> %(match_chosen)s::jsonb
          OR (NOT e.data ? 'chosen_collections' AND e.data -> 'collections' = %(match_only)s::jsonb)
      )
      AND e.created_at >= %(since)s AND e.created_at < %(until)s
)
"""


def _params(collection: Collection, period: Period, **extra) -> dict:
    return {
        "tz": timezone.get_current_timezone_name(),
        "match_chosen": json.dumps({"chosen_collections": [collection.slug]}),
        "match_only": json.dumps([collection.slug]),
        "match_passage": json.dumps({"passages": [{"collection": collection.slug}]}),
        "since": period.since,
        "until": period.until,
        "collection_id": collection.pk,
        **extra,
    }


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**_tables()), params)
        return cursor.fetchall()


@dataclass
class Day:
    day: dt.date
    questions: int = 0
    answered: int = 0
    not_covered: int = 0
    failed: int = 0
    up: int = 0
    down: int = 0
    timed: int = 0  # answers with a time to first token
    first_token_median_ms: float | None = None
    first_token_p90_ms: float | None = None
    doubted: int = 0  # model answers with a sentence the claim check marked (unsupported or uncited)
    cautioned: int = 0  # answers the guidance only just covered (they said they may not answer exactly)

    @property
    def other(self) -> int:
        """Stopped by the asker or refused."""
        return self.questions - self.answered - self.not_covered - self.failed


def daily_activity(collection: Collection, period: Period) -> list[Day]:
    """One row per day of the period (zeros included): questions by outcome, ratings, time to first token."""
    rows = _fetch(
        _ANSWERS
        + """
SELECT day,
       count(*),
       count(*) FILTER (WHERE outcome = 'answered'),
       count(*) FILTER (WHERE outcome = 'no_answer'),
       count(*) FILTER (WHERE outcome = ANY(%(failed)s)),
       count(*) FILTER (WHERE feedback = 'up'),
       count(*) FILTER (WHERE feedback = 'down'),
       count(ttft),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ttft),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY ttft),
       count(*) FILTER (WHERE doubted),
       count(*) FILTER (WHERE outcome = 'answered' AND cautioned)
FROM (
    SELECT day, outcome, feedback,
           coalesce(data #> '{{coverage,caution}}' = 'true'::jsonb, false) AS cautioned,
           CASE WHEN jsonb_typeof(data #> '{{timings_ms,first_token}}') = 'number'
                THEN (data #>> '{{timings_ms,first_token}}')::float8 END AS ttft,
           coalesce((data #>> '{{claims,unsupported}}')::int, 0) + coalesce((data #>> '{{claims,uncited}}')::int, 0)
               > 0 AS doubted
    FROM ev
) answers
GROUP BY day
""",
        _params(collection, period, failed=list(FAILED_OUTCOMES)),
    )
    by_day = {
        row[0]: Day(
            row[0],
            *row[1:8],
            first_token_median_ms=row[8],
            first_token_p90_ms=row[9],
            doubted=row[10],
            cautioned=row[11],
        )
        for row in rows
    }
    return [by_day.get(day, Day(day)) for day in period.dates]


@dataclass(frozen=True)
class DayCost:
    day: dt.date
    currency: str
    amount: float
    answers: int


def cost_by_day(collection: Collection, period: Period) -> list[DayCost]:
    """What the model cost each day, per currency (days with no costed answer are left out)."""
    rows = _fetch(
        _ANSWERS
        + """
SELECT day, coalesce(data #>> '{{cost,currency}}', ''), sum((data #>> '{{cost,amount}}')::numeric), count(*)
FROM ev
WHERE jsonb_typeof(data #> '{{cost,amount}}') = 'number'
GROUP BY 1, 2
ORDER BY 1, 2
""",
        _params(collection, period),
    )
    return [DayCost(day, currency, float(amount), n) for day, currency, amount, n in rows]


# --- Documents -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentCitations:
    document_id: int
    title: str
    is_active: bool
    answers: int  # answers citing it
    askers: int  # distinct askers behind them (threshold only, never shown)
    rated_down: int  # of those answers, rated down
    down_askers: int  # distinct askers behind the rated-down ones (threshold only)


def document_citations(collection: Collection, period: Period) -> list[DocumentCitations]:
    """Each document of ``collection`` cited in the period's answers, most cited first.

    A citation names the version it quoted; the version's document must belong to ``collection``,
    so a citation of another collection's document never counts here.
    """
    rows = _fetch(
        _ANSWERS
        + """
, cited AS (
    SELECT DISTINCT ev.id AS event_id, ev.actor_id, ev.feedback, v.document_id
    FROM ev
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(ev.data -> 'citations') = 'array' THEN ev.data -> 'citations' ELSE '[]'::jsonb END
    ) AS c(item)
    JOIN {version} v ON v.id::text = (c.item ->> 'version_id')
    JOIN {document} d ON d.id = v.document_id AND d.collection_id = %(collection_id)s
)
SELECT d.id, d.title, d.is_active,
       count(*), count(DISTINCT cited.actor_id),
       count(*) FILTER (WHERE cited.feedback = 'down'),
       count(DISTINCT cited.actor_id) FILTER (WHERE cited.feedback = 'down')
FROM cited JOIN {document} d ON d.id = cited.document_id
GROUP BY d.id, d.title, d.is_active
ORDER BY count(*) DESC, d.title, d.id
""",
        _params(collection, period),
    )
    return [DocumentCitations(*row) for row in rows]


@dataclass(frozen=True)
class DocumentAge:
    document_id: int
    title: str
    updated: dt.datetime | None  # when its current version was uploaded
    age_days: int | None


def _current_documents(collection: Collection) -> QuerySet[Document]:
    return (
        Document.objects.filter(collection=collection, is_active=True, current_version__isnull=False)
        .select_related("current_version")
        .order_by("title", "pk")
    )


def _age(document: Document) -> DocumentAge:
    uploaded = document.current_version.uploaded_at if document.current_version else None
    age = (timezone.now() - uploaded).days if uploaded else None
    return DocumentAge(document.pk, document.title, uploaded, age)


def documents_never_cited(collection: Collection, period: Period, cited_ids: set[int]) -> list[DocumentAge]:
    """Active documents of ``collection`` that no answer of the period cited."""
    return [_age(d) for d in _current_documents(collection).exclude(pk__in=cited_ids)]


@dataclass(frozen=True)
class StaleDocument(DocumentAge):
    review: Review | None = None  # its review (``documents.review``), None without a review date


def documents_stale(
    collection: Collection, *, older_than_days: int, today: dt.date | None = None
) -> list[StaleDocument]:
    """Active documents that need looking at, oldest first: where a document has a review date, when
    it is due, overdue or expired (``documents.review``); where it has none (its collection has no
    review period and nobody set one), when its current version is older than ``older_than_days``.
    One query (the collection is the one given)."""
    cutoff = timezone.now() - dt.timedelta(days=older_than_days)
    stale = []
    for document in _current_documents(collection):
        document.collection = collection
        review = review_of(document, today=today)
        if review.review_by is not None:
            if review.needs_attention:
                stale.append(StaleDocument(**vars(_age(document)), review=review))
        elif document.current_version.uploaded_at < cutoff:
            stale.append(StaleDocument(**vars(_age(document))))
    return sorted(stale, key=lambda a: (a.updated, a.title))


# --- Gaps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GapRow:
    event_id: int
    actor_id: int | None
    not_covered: bool
    rated_down: bool
    question: str | None  # None once the retention purge removed the content
    personal_data: bool
    only_just: bool  # answered, but the guidance only just covered it (``data.coverage.caution``)
    missing: tuple[str, ...] = ()  # stems of the question's words no close passage held (content ``coverage_missing``)


def gap_rows(collection: Collection, period: Period, *, limit: int) -> tuple[list[GapRow], int]:
    """The most recent ``limit`` gaps of the period (not covered, rated down, or answered from guidance
    that only just covered the question), and how many in all."""
    rows = _fetch(
        _ANSWERS
        + """
SELECT ev.id, ev.actor_id, ev.outcome = 'no_answer', coalesce(ev.feedback = 'down', false),
       CASE WHEN jsonb_typeof(c.body -> 'question') = 'string' THEN c.body ->> 'question' END,
       CASE WHEN jsonb_typeof(ev.data -> 'personal_data') = 'array'
            THEN jsonb_array_length(ev.data -> 'personal_data') > 0 ELSE false END,
       ev.outcome = 'answered' AND coalesce(ev.data #> '{{coverage,caution}}' = 'true'::jsonb, false),
       CASE WHEN jsonb_typeof(c.body -> 'coverage_missing') = 'array'
            THEN ARRAY(SELECT jsonb_array_elements_text(c.body -> 'coverage_missing'))
            -- events recorded before the words moved to the content
            WHEN jsonb_typeof(ev.data #> '{{coverage,missing}}') = 'array'
            THEN ARRAY(SELECT jsonb_array_elements_text(ev.data #> '{{coverage,missing}}')) END,
       count(*) OVER ()
FROM ev LEFT JOIN {content} c ON c.event_id = ev.id
WHERE ev.outcome = 'no_answer' OR ev.feedback = 'down'
   OR (ev.outcome = 'answered' AND ev.data #> '{{coverage,caution}}' = 'true'::jsonb)
ORDER BY ev.seq DESC
LIMIT %(limit)s
""",
        _params(collection, period, limit=limit),
    )
    gaps = [GapRow(*row[:7], missing=tuple(row[7] or ())) for row in rows]
    return gaps, (rows[0][-1] if rows else 0)


@dataclass(frozen=True)
class NearDocument:
    document_id: int
    title: str
    similarity: float


_NEAREST = """
WITH candidates AS MATERIALIZED (
    -- Exact distances over this one collection's searchable chunks: materialised so the planner
    -- cannot hand the ORDER BY to the HNSW index, which filters after scanning and would come
    -- back short for a small collection.
    SELECT ch.version_id, ch.embedding <=> %(vector)s::vector AS distance
    FROM {chunk} ch
    WHERE ch.collection_id = %(collection_id)s AND ch.searchable AND ch.embedding IS NOT NULL
)
SELECT d.id, d.title, min(c.distance) AS distance
FROM candidates c
JOIN {version} v ON v.id = c.version_id
JOIN {document} d ON d.id = v.document_id
WHERE d.collection_id = %(collection_id)s AND d.is_active AND d.current_version_id = v.id
GROUP BY d.id, d.title
ORDER BY distance, d.id
LIMIT %(k)s
"""


def nearest_documents(collection: Collection, vector, *, k: int = 3) -> list[NearDocument]:
    """The ``k`` documents of ``collection`` with a searchable passage nearest ``vector``."""
    literal = "[" + ",".join(repr(float(x)) for x in vector) + "]"
    rows = _fetch(_NEAREST, {"vector": literal, "collection_id": collection.pk, "k": k})
    return [NearDocument(doc_id, title, 1.0 - float(distance)) for doc_id, title, distance in rows]
