"""Proving the trail complete and unaltered: walk the hash chain, event by event.

Used by ``manage.py verify_audit`` and the auditors' "verify integrity" button. It reads in
keyset-paginated batches (no server-side cursor, so it works through pgbouncer and the pool) and
holds one batch in memory at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError, connection, transaction

from audit.models import AuditContent, AuditEvent
from audit.services import GENESIS, NO_CONTENT, canonical_json, event_digest, sha256_text

PURGE_ACTION = "retention.purge"

_COLUMNS = (
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
    "canonical",
    "content__event_id",
    "content__canonical",
    "content__body",
)
_HASHED = ("seq", "action", "outcome", "actor_id", "actor_label", "subject", "content_sha256", "prev_sha256")


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str  # missing | altered | out_of_order | content_altered | content_missing | head
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class VerifyResult:
    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_sha256: str = GENESIS
    with_content: int = 0
    purged: int = 0
    problems: list[Problem] = field(default_factory=list)
    more_problems: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        span = "no events" if not self.checked else f"{self.checked} events (#{self.first_seq} to #{self.last_seq})"
        verdict = "chain intact" if self.ok else f"{len(self.problems)}{'+' if self.more_problems else ''} problem(s)"
        return (
            f"Checked {span}: {verdict}. {self.with_content} with content, {self.purged} with content purged "
            f"by retention. Head #{self.last_seq or 0} sha256 {self.head_sha256}."
        )

    def as_record(self) -> dict:
        """The result as plain JSON, for the audit event that records a verification."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "last_seq": self.last_seq,
            "head_sha256": self.head_sha256,
            "purged": self.purged,
            "problems": [{"seq": p.seq, "kind": p.kind} for p in self.problems[:5]],
        }


def _same(a, b) -> bool:
    """JSON equality as PostgreSQL jsonb sees it: numbers by value (1e20 == 100000000000000000000)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b if isinstance(a, int) and isinstance(b, int) else float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _purge_cutoff() -> datetime | None:
    """The latest ``before`` of any retention purge: content of older events may be gone."""
    cutoffs = []
    for data in AuditEvent.objects.filter(action=PURGE_ACTION).values_list("data", flat=True):
        try:
            cutoffs.append(datetime.fromisoformat(data["before"]))
        except (KeyError, TypeError, ValueError):
            continue
    return max(cutoffs) if cutoffs else None


def _event_problem(row: dict) -> str | None:
    """Why this event's own record is not what was hashed, or None."""
    if row["canonical"]:
        if sha256_text(row["canonical"]) != row["sha256"]:
            return "its digest does not match its recorded text"
        try:
            hashed = json.loads(row["canonical"])
            hashed_time = datetime.fromisoformat(hashed["created_at"])
        except (ValueError, KeyError, TypeError):
            return "its recorded text is not a valid event"
        differing = [name for name in _HASHED if hashed.get(name) != row[name]]
        if hashed_time != row["created_at"]:
            differing.append("created_at")
        if not _same(hashed.get("data"), row["data"]):
            differing.append("data")
        if differing:
            return f"{', '.join(differing)} differ(s) from what was hashed"
        return None
    # Written before the hashed text was kept: recompute from the columns.
    recomputed = event_digest(**{name: row[name] for name in (*_HASHED, "created_at", "data")})
    return None if recomputed == row["sha256"] else "its digest does not match its fields"


def _content_problem(row: dict, cutoff: datetime | None) -> tuple[str, str] | None:
    """(kind, reason) if the event's content is altered or missing without a purge, else None."""
    if row["content__event_id"] is None:
        if row["content_sha256"] == NO_CONTENT or (cutoff is not None and row["created_at"] < cutoff):
            return None
        return "content_missing", "its content is missing and no retention purge covers it"
    if row["content_sha256"] == NO_CONTENT:
        return "content_altered", "it has content although none was recorded"
    text = row["content__canonical"] or canonical_json(row["content__body"])
    if sha256_text(text) != row["content_sha256"]:
        return "content_altered", "its content does not match the content digest"
    if row["content__canonical"]:
        try:
            same = _same(json.loads(text), row["content__body"])
        except ValueError:
            same = False
        if not same:
            return "content_altered", "its content differs from what was hashed"
    return None


def _describe(row: dict) -> str:
    return f"Event #{row['seq']} ({row['action']}, {row['created_at'].isoformat(timespec='seconds')})"


def _fast_sql() -> str:
    """One batch, with PostgreSQL comparing each jsonb column to the parsed hashed text.

    jsonb equality compares numbers by value, exactly what re-reading a digest needs; doing it in
    the database saves parsing every event's JSON twice in Python. Python still computes every
    SHA-256 itself.
    """
    event, content = AuditEvent._meta.db_table, AuditContent._meta.db_table
    return f"""
        SELECT e.seq, e.created_at, e.action, e.prev_sha256, e.sha256, e.canonical, e.content_sha256,
               c.event_id, c.canonical,
               (h.j IS NOT NULL
                AND h.j -> 'seq' = to_jsonb(e.seq)
                AND (h.j ->> 'created_at')::timestamptz = e.created_at
                AND h.j -> 'action' = to_jsonb(e.action)
                AND h.j -> 'outcome' = to_jsonb(e.outcome)
                AND h.j -> 'actor_id' = COALESCE(to_jsonb(e.actor_id), 'null'::jsonb)
                AND h.j -> 'actor_label' = to_jsonb(e.actor_label)
                AND h.j -> 'subject' = to_jsonb(e.subject)
                AND h.j -> 'data' = e.data
                AND h.j -> 'content_sha256' = to_jsonb(e.content_sha256)
                AND h.j -> 'prev_sha256' = to_jsonb(e.prev_sha256)) IS TRUE,
               (c.event_id IS NOT NULL AND c.canonical <> '' AND c.canonical::jsonb = c.body) IS TRUE
        FROM {event} e
        LEFT JOIN {content} c ON c.event_id = e.id
        LEFT JOIN LATERAL (SELECT e.canonical::jsonb AS j WHERE e.canonical <> '') h ON TRUE
        WHERE e.seq > %s
        ORDER BY e.seq
        LIMIT %s
    """


_FAST_KEYS = (
    "seq",
    "created_at",
    "action",
    "prev_sha256",
    "sha256",
    "canonical",
    "content_sha256",
    "content__event_id",
    "content__canonical",
    "fields_match",
    "content_match",
)


def _fast_batch(last: int, size: int) -> list[dict] | None:
    """The next batch checked in SQL, or None if a tampered row makes the SQL fail (then: Python)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_fast_sql(), [last, size])
            return [dict(zip(_FAST_KEYS, values, strict=True)) for values in cursor.fetchall()]
    except DatabaseError:
        return None


def _full_rows(**where) -> list[dict]:
    return list(AuditEvent.objects.filter(**where).order_by("seq").values(*_COLUMNS))


def _fast_event_ok(row: dict) -> bool:
    return bool(row.get("fields_match")) and bool(row["canonical"]) and sha256_text(row["canonical"]) == row["sha256"]


def _fast_content_ok(row: dict) -> bool:
    if row["content__event_id"] is None or row["content_sha256"] == NO_CONTENT:
        return False
    text = row["content__canonical"]
    return bool(row.get("content_match")) and bool(text) and sha256_text(text) == row["content_sha256"]


def audit_verify(
    *, batch_size: int = 5000, max_problems: int = 20, expect_head: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the whole chain in order and report what is missing, altered or out of order.

    ``expect_head`` is a (seq, sha256) recorded earlier outside the database: it must still be in
    the chain, which catches removal of the newest events (the one thing a chain alone cannot).
    """
    result = VerifyResult()
    cutoff = _purge_cutoff()
    expected_seq, prev_digest = 1, GENESIS
    head_seen = False

    def report(seq: int, kind: str, message: str) -> bool:
        if len(result.problems) >= max_problems:
            result.more_problems = True
            return False
        result.problems.append(Problem(seq=seq, kind=kind, message=message))
        return True

    last = 0
    while True:
        rows = _fast_batch(last, batch_size)
        if rows is None:  # something in this batch is not even valid JSON: check it row by row in Python
            rows = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq").values(*_COLUMNS)[:batch_size])
        if not rows:
            break
        for row in rows:
            seq = row["seq"]
            result.checked += 1
            result.first_seq = result.first_seq or seq
            if seq != expected_seq:
                missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq} to #{seq - 1}"
                report(expected_seq, "missing", f"Event {missing} missing: the chain jumps to #{seq}.")
            elif row["prev_sha256"] != prev_digest:
                report(seq, "out_of_order", f"{_describe(row)} is out of order: it does not follow event #{seq - 1}.")
            event_ok = _fast_event_ok(row)
            if row["content__event_id"] is not None:
                result.with_content += 1
                content_ok = _fast_content_ok(row)
            elif row["content_sha256"] == NO_CONTENT:
                content_ok = True
            elif cutoff is not None and row["created_at"] < cutoff:
                content_ok = True
                result.purged += 1
            else:
                content_ok = False  # missing: the slow path says so
            if not (event_ok and content_ok):
                # The slow, explaining path: every column, compared in Python.
                full = row if "data" in row else _full_rows(seq=seq)[0]
                reason = None if event_ok else _event_problem(full)
                if reason:
                    report(seq, "altered", f"{_describe(row)} altered: {reason}.")
                content = None if content_ok else _content_problem(full, cutoff)
                if content:
                    report(seq, content[0], f"{_describe(row)}: {content[1]}.")
            if expect_head and seq == expect_head[0]:
                head_seen = True
                if row["sha256"] != expect_head[1]:
                    report(seq, "head", f"{_describe(row)} is not the event recorded earlier as the head.")
            expected_seq, prev_digest = seq + 1, row["sha256"]
            result.last_seq, result.head_sha256 = seq, row["sha256"]
        last = rows[-1]["seq"]
    if expect_head and not head_seen:
        report(expect_head[0], "missing", f"Event #{expect_head[0]}, recorded earlier as the head, is missing.")
    return result
