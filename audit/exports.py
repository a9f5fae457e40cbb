"""Streaming exports of a filtered set of events: CSV (a flat table) and JSON Lines (everything).

Rows are read in keyset-paginated batches by an async generator, so under ASGI the response
streams without holding the whole set in memory and without a long-lived database cursor.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder

from audit.selectors import error_code, model_failure, tokens_recorded

BATCH = 500

_FIELDS = (
    "seq",
    "created_at",
    "action",
    "outcome",
    "actor_id",
    "actor_label",
    "subject",
    "data",
    "content_sha256",
    "prev_sha256",
    "sha256",
    "mac",
    "content__body",
    "content__event_id",
    "feedback",
)

CSV_COLUMNS = [
    "seq",
    "time_utc",
    "action",
    "outcome",
    "user",
    "subject",
    "conversation_id",
    "message_id",
    "collections",
    "model",
    "prompt_version",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_currency",
    "cost_amount",
    "retrieval_ms",
    "first_token_ms",
    "total_ms",
    "error_code",
    "quoted_instead_of",
    "citations",
    "feedback",
    "question",
    "answer",
    "content",
    "sha256",
]


def _batches(queryset) -> Iterable[list[dict]]:
    last = 0
    while True:
        rows = list(queryset.filter(seq__gt=last).order_by("seq").values(*_FIELDS)[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1]["seq"]


async def _abatches(queryset) -> AsyncIterator[list[dict]]:
    last = 0
    while True:
        rows = await sync_to_async(
            lambda after: list(queryset.filter(seq__gt=after).order_by("seq").values(*_FIELDS)[:BATCH])
        )(last)
        if not rows:
            return
        yield rows
        last = rows[-1]["seq"]


def _safe_cell(value) -> str:
    """A spreadsheet must not run a cell as a formula: prefix =, +, -, @, tab, CR with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _dig(data: dict, *keys):
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def csv_row(row: dict) -> list[str]:
    data, body = row["data"] or {}, row["content__body"]
    purged = row["content__event_id"] is None and row["content_sha256"] != "0" * 64
    # As the trace page says them: counts a model never reported are left empty, not 0 (so is their
    # cost); a model that failed before the guidance was quoted gives the row its error code.
    counted = tokens_recorded(data) if row["action"] == "answer" else True
    usage = data.get("usage") if counted else None
    failed = model_failure(data) if row["action"] == "answer" else None
    values = [
        row["seq"],
        row["created_at"].isoformat(),
        row["action"],
        row["outcome"],
        row["actor_label"],
        row["subject"],
        data.get("conversation_id"),
        data.get("message_id"),
        ";".join(str(c) for c in data.get("collections") or []),
        _dig(data, "model", "name"),
        data.get("prompt_version"),
        _dig(usage, "prompt_tokens"),
        _dig(usage, "completion_tokens"),
        _dig(usage, "total_tokens"),
        _dig(data, "cost", "currency"),
        _dig(data, "cost", "amount") if counted else None,
        _dig(data, "timings_ms", "retrieval"),
        _dig(data, "timings_ms", "first_token"),
        _dig(data, "timings_ms", "total"),
        error_code(data) or None,
        failed[0] if failed else None,
        " ".join(f"[{c.get('n')}]" for c in data.get("citations") or [] if isinstance(c, dict)),
        row["feedback"],
        _dig(body, "question"),
        _dig(body, "answer"),
        "purged" if purged else ("present" if body is not None else "none"),
        row["sha256"],
    ]
    return [_safe_cell(v) for v in values]


def jsonl_record(row: dict) -> dict:
    purged = row["content__event_id"] is None and row["content_sha256"] != "0" * 64
    return {
        "seq": row["seq"],
        "created_at": row["created_at"],
        "action": row["action"],
        "outcome": row["outcome"],
        "actor_id": row["actor_id"],
        "actor": row["actor_label"],
        "subject": row["subject"],
        "data": row["data"],
        "content": row["content__body"],
        "content_purged": purged,
        "feedback": row["feedback"],
        "content_sha256": row["content_sha256"],
        "prev_sha256": row["prev_sha256"],
        "sha256": row["sha256"],
        "mac": row["mac"],
    }


def _csv_line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _json_line(row: dict) -> str:
    return json.dumps(jsonl_record(row), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


def export_rows(queryset, kind: str) -> Iterable[str]:
    """Synchronous lines of the export (for commands and tests)."""
    if kind == "csv":
        yield _csv_line(CSV_COLUMNS)
    for rows in _batches(queryset):
        for row in rows:
            yield _csv_line(csv_row(row)) if kind == "csv" else _json_line(row)


async def aexport_rows(queryset, kind: str) -> AsyncIterator[str]:
    """The same lines, for a StreamingHttpResponse served over ASGI."""
    if kind == "csv":
        yield _csv_line(CSV_COLUMNS)
    async for rows in _abatches(queryset):
        yield "".join(_csv_line(csv_row(row)) if kind == "csv" else _json_line(row) for row in rows)


def export_queryset(queryset) -> object:
    """What an export reads: the filtered events with the latest feedback on each answer."""
    if "feedback" not in queryset.query.annotations:
        queryset = queryset.with_feedback()
    return queryset
