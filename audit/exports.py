"""Streaming exports of a filtered set of events: CSV (a flat table) and JSON Lines (everything).

Rows are read in keyset-paginated batches by an async generator, so under ASGI the response
streams without holding the whole set in memory and without a long-lived database cursor.

A JSON Lines export can be checked away from the site: each line carries the exact texts whose
SHA-256 are the event's digests (``canonical``, ``content_canonical``) and ``created_at`` as it was
hashed, and the last line is a manifest (how many rows, which seqs, the head of the chain the rows
were cut from and the digest of the lines above it), signed with the site's Ed25519 export key
(``audit.export_signing``) so that whoever holds its public key can check the file came from here.
docs/audit.md shows how to check one.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder

from audit.export_signing import ExportKey, export_key, sign_manifest
from audit.selectors import audit_time_zone, error_code, model_failure, model_use, tokens_recorded
from audit.services import HASHED_FIELDS, NO_CONTENT

BATCH = 500
MANIFEST_FORMAT = "humphrey-audit-export/1"

_FIELDS = (
    *HASHED_FIELDS,
    "sha256",
    "mac",
    "content__body",
    "content__event_id",
    "feedback",
)
# Only JSON Lines hands over the hashed texts: a CSV reader could do nothing with them.
_JSONL_FIELDS = (*_FIELDS, "canonical", "content__canonical")

CSV_COLUMNS = [
    "seq",
    "time_utc",
    "time_local",
    "action",
    "outcome",
    "user",
    "actor_id",
    "ip",
    "subject",
    "conversation_id",
    "message_id",
    "collections",
    "model_use",
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
    "cited_version_ids",
    "cited_version_sha256",
    "feedback",
    "question",
    "answer",
    "content",
    "data",
    "sha256",
]

# What a spreadsheet may take for the start of a formula (OWASP's list, and a line feed): such a
# cell is given a leading quote, so it is shown as the text it is.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def hashed_time(created_at: dt.datetime) -> str:
    """``created_at`` written as the digest covers it (``audit.services.event_payload``): UTC, ISO
    8601, microseconds, ``+00:00``. DjangoJSONEncoder would cut it to milliseconds and write ``Z``."""
    return created_at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _batches(queryset, fields) -> Iterable[list[dict]]:
    last = 0
    while True:
        rows = list(queryset.filter(seq__gt=last).order_by("seq").values(*fields)[:BATCH])
        if not rows:
            return
        yield rows
        last = rows[-1]["seq"]


async def _abatches(queryset, fields) -> AsyncIterator[list[dict]]:
    last = 0
    while True:
        rows = await sync_to_async(
            lambda after: list(queryset.filter(seq__gt=after).order_by("seq").values(*fields)[:BATCH])
        )(last)
        if not rows:
            return
        yield rows
        last = rows[-1]["seq"]


def _safe_cell(value) -> str:
    """A spreadsheet must not run a cell as a formula, even one that starts after spaces."""
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip(" ")[:1] in _FORMULA_STARTS else text


def _dig(data: dict, *keys):
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _purged(row: dict) -> bool:
    return row["content__event_id"] is None and row["content_sha256"] != NO_CONTENT


def _who(row: dict, data: dict) -> str:
    """As the results table says it: the actor, or for a failed sign-in the address that was tried."""
    if row["actor_label"]:
        return row["actor_label"]
    return f"{data['email']} (not signed in)" if isinstance(data.get("email"), str) and data["email"] else ""


def _cited(data: dict) -> tuple[list, list]:
    """The version ids and SHA-256 of the passages an answer cited, in citation order."""
    digests = {p.get("n"): p.get("version_sha256") for p in data.get("passages") or [] if isinstance(p, dict)}
    citations = [c for c in data.get("citations") or [] if isinstance(c, dict)]
    return (
        [c.get("version_id") for c in citations if c.get("version_id") is not None],
        [digests[c.get("n")] for c in citations if digests.get(c.get("n"))],
    )


def _compact(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def csv_row(row: dict) -> list[str]:
    data, body = row["data"] if isinstance(row["data"], dict) else {}, row["content__body"]
    answer = row["action"] == "answer"
    # As the trace page says them: counts a model never reported are left empty, not 0 (so is their
    # cost); a model that failed before the guidance was quoted gives the row its error code; an
    # answer for which no model was called names none, though the event names the configured one.
    counted = tokens_recorded(data) if answer else True
    usage = data.get("usage") if counted else None
    failed = model_failure(data) if answer else None
    use = model_use(data) if answer else ""
    version_ids, version_digests = _cited(data)
    when = row["created_at"]
    values = [
        row["seq"],
        when.astimezone(dt.UTC).isoformat(),
        when.astimezone(audit_time_zone()).isoformat(),
        row["action"],
        row["outcome"],
        _who(row, data),
        row["actor_id"],
        data.get("ip"),
        row["subject"],
        data.get("conversation_id"),
        data.get("message_id"),
        ";".join(str(c) for c in data.get("collections") or []),
        use,
        _dig(data, "model", "name") if use != "none" else None,
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
        ";".join(str(v) for v in version_ids),
        ";".join(str(v) for v in version_digests),
        row["feedback"] if answer else None,
        _dig(body, "question") if answer else None,
        _dig(body, "answer") if answer else None,
        "purged" if _purged(row) else ("present" if body is not None else "none"),
        # An answer's facts have their own columns; for any other event the facts are the point
        # (which group a grant named, which file was uploaded), so they are given whole.
        None if answer else _compact(data),
        row["sha256"],
    ]
    return [_safe_cell(v) for v in values]


def jsonl_record(row: dict) -> dict:
    return {
        "seq": row["seq"],
        "created_at": hashed_time(row["created_at"]),
        "action": row["action"],
        "outcome": row["outcome"],
        "actor_id": row["actor_id"],
        "actor": row["actor_label"],
        "subject": row["subject"],
        "data": row["data"],
        "content": row["content__body"],
        "content_purged": _purged(row),
        "feedback": row["feedback"] if row["action"] == "answer" else None,
        "content_sha256": row["content_sha256"],
        "prev_sha256": row["prev_sha256"],
        "sha256": row["sha256"],
        "mac": row["mac"],
        # The texts hashed, byte for byte: ``data`` and ``content`` above come from jsonb, which does
        # not give every number back as it was written, so only these recompute the digests surely.
        "canonical": row.get("canonical") or "",
        "content_canonical": row.get("content__canonical") if row["content__event_id"] is not None else None,
    }


def _csv_line(values: list) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _json_line(row: dict) -> str:
    return json.dumps(jsonl_record(row), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n"


class _Tally:
    """What the manifest says of the lines above it: how many, which seqs, their SHA-256."""

    def __init__(self) -> None:
        self.rows = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.digest = hashlib.sha256()

    def add(self, row: dict, line: str) -> str:
        self.rows += 1
        self.first_seq = row["seq"] if self.first_seq is None else self.first_seq
        self.last_seq = row["seq"]
        self.digest.update(line.encode("utf-8"))
        return line

    def manifest(self, facts: dict, key: ExportKey) -> str:
        manifest = {
            "format": MANIFEST_FORMAT,
            **facts,
            "rows": self.rows,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "rows_sha256": self.digest.hexdigest(),
        }
        # Signed as it will be read back: through JSON, so the verifier's canonical bytes are these.
        manifest = sign_manifest(json.loads(json.dumps(manifest, cls=DjangoJSONEncoder, ensure_ascii=False)), key)
        return json.dumps({"manifest": manifest}, ensure_ascii=False, sort_keys=True) + "\n"


def export_rows(queryset, kind: str, manifest: dict | None = None, key: ExportKey | None = None) -> Iterable[str]:
    """Synchronous lines of the export (for commands and tests). ``manifest`` (JSON Lines only): the
    facts known before the rows (head, filters), to which the last line adds the count and digest,
    signed with ``key``."""
    if kind == "csv":
        yield _csv_line(CSV_COLUMNS)
        for rows in _batches(queryset, _FIELDS):
            for row in rows:
                yield _csv_line(csv_row(row))
        return
    tally = _Tally()
    for rows in _batches(queryset, _JSONL_FIELDS):
        for row in rows:
            yield tally.add(row, _json_line(row))
    if manifest is not None:
        yield tally.manifest(manifest, key or export_key())


async def aexport_rows(
    queryset, kind: str, manifest: dict | None = None, key: ExportKey | None = None
) -> AsyncIterator[str]:
    """The same lines, for a StreamingHttpResponse served over ASGI."""
    if kind == "csv":
        yield _csv_line(CSV_COLUMNS)
        async for rows in _abatches(queryset, _FIELDS):
            yield "".join(_csv_line(csv_row(row)) for row in rows)
        return
    tally = _Tally()
    async for rows in _abatches(queryset, _JSONL_FIELDS):
        yield "".join(tally.add(row, _json_line(row)) for row in rows)
    if manifest is not None:
        yield tally.manifest(manifest, key or export_key())


async def arecorded(body: AsyncIterator[str], on_complete) -> AsyncIterator[str]:
    """``body`` as sent, then ``on_complete(size, sha256)`` of its UTF-8 bytes once all was sent: a
    download cut short records nothing, so an export without its completion was not received whole."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in body:
        encoded = chunk.encode("utf-8")
        digest.update(encoded)
        size += len(encoded)
        yield chunk
    await sync_to_async(on_complete)(size, digest.hexdigest())


def export_queryset(queryset, as_of: int | None = None) -> object:
    """What an export reads: the filtered events with the latest feedback (up to ``as_of``) on each answer."""
    if "feedback" not in queryset.query.annotations:
        queryset = queryset.with_feedback(as_of)
    return queryset
