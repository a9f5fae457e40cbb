"""Proving the trail complete and unaltered: walk the hash chain, event by event.

Used by ``manage.py verify_audit`` and the auditors' "verify integrity" button. It reads in
keyset-paginated batches (no server-side cursor, so it works through pgbouncer and the pool) and
holds one batch in memory at a time.

Beyond the chain itself it checks what the chain alone cannot show:

- each event's signature (``AuditEvent.mac``, HMAC under a key the database does not hold): an
  event appended with the database login alone, which the chain cannot tell from a real one, has
  none or a wrong one (events written before events were signed are counted, not checked);
- the head anchor (``audit.anchor``), a signed checkpoint kept outside the database: the anchored
  event must still be there with the anchored digest, and the chain must reach at least that far;
  no anchor at all for a chain that has events is a problem too (tail deletion could not be seen);
- each ``retention.purge`` event's cutoff: one newer than its own date minus
  ``HUMPHREY_RETENTION_DAYS`` is reported and accounts for no missing content;
- missing content: it must be covered by a valid purge at which no legal hold covered the event;
- each released legal hold: a ``legal_hold.release`` event must record the release (the runtime role
  may set ``released_at``; one set without the event is reported and the hold counts as in force).
"""

# Over 500 lines on purpose: one walk of the chain whose checks (digests, signatures, order, content,
# purges, holds, the anchor) share the state of that walk; split, each would re-read the chain.

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from audit.actions import Action, subject
from audit.anchor import AnchorState, anchor_read, event_signature_valid
from audit.models import AuditContent, AuditEvent, LegalHold
from audit.services import GENESIS, NO_CONTENT, canonical_json, event_digest, sha256_text

PURGE_ACTION = Action.RETENTION_PURGE
# Why an event lacks a valid signature: the site writes every event signed under its audit key.
NOT_OURS = (
    "it was not written by the site (someone with database access appended it), or the audit key changed "
    "without the old one kept (HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS, or DJANGO_SECRET_KEY_FALLBACKS for a key "
    "derived from the secret key)"
)

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
    "mac",
    "content__event_id",
    "content__canonical",
    "content__body",
)
_HASHED = ("seq", "action", "outcome", "actor_id", "actor_label", "subject", "content_sha256", "prev_sha256")


@dataclass(frozen=True)
class Problem:
    seq: int
    # missing | altered | out_of_order | unsigned | content_altered | content_missing | held_content_missing
    # | purge_too_new | hold_release_unrecorded | head
    kind: str
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
    before_signing: int = 0  # events written before events were signed (no signature to check)
    anchor_seq: int | None = None  # the furthest signed checkpoint of this chain, if any
    anchor_at: str = ""
    anchor_path: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        span = "no events" if not self.checked else f"{self.checked} events (#{self.first_seq} to #{self.last_seq})"
        verdict = "chain intact" if self.ok else f"{len(self.problems)}{'+' if self.more_problems else ''} problem(s)"
        anchor = (
            f"Anchored head #{self.anchor_seq} (signed {self.anchor_at})."
            if self.anchor_seq is not None
            else "No anchored head."
        )
        unsigned = f" {self.before_signing} written before events were signed." if self.before_signing else ""
        return (
            f"Checked {span}: {verdict}. {self.with_content} with content, {self.purged} with content purged "
            f"by retention.{unsigned} Head #{self.last_seq or 0} sha256 {self.head_sha256}. {anchor}"
        )

    def as_record(self) -> dict:
        """The result as plain JSON, for the audit event that records a verification."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "last_seq": self.last_seq,
            "head_sha256": self.head_sha256,
            "purged": self.purged,
            "anchor_seq": self.anchor_seq,
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


@dataclass(frozen=True)
class _Purge:
    seq: int
    at: datetime  # when the purge ran (its event's time)
    before: datetime  # its cutoff


@dataclass
class _Holds:
    """Every legal hold ever placed, by target, with when it was active."""

    by_user: dict[int, list[tuple[datetime, datetime | None]]] = field(default_factory=dict)
    by_conversation: dict[int, list[tuple[datetime, datetime | None]]] = field(default_factory=dict)

    @classmethod
    def load(cls, report=None) -> _Holds:
        """Every hold; one whose release no ``legal_hold.release`` event records (a release made with
        database access, outside the site) is reported through ``report`` and counts as never released."""
        holds = cls()
        recorded = _recorded(Action.LEGAL_HOLD_RELEASE)
        placed_at = _recorded(Action.LEGAL_HOLD_PLACE)
        for pk, user_id, conversation_id, placed, released in LegalHold.objects.values_list(
            "pk", "user_id", "conversation_id", "created_at", "released_at"
        ):
            if released is not None and pk not in recorded:
                if report is not None:
                    target = subject("user", user_id) if user_id else subject("conversation", conversation_id)
                    report(
                        placed_at.get(pk, 0),
                        "hold_release_unrecorded",
                        f"Legal hold {pk} ({target}) is marked released at {released.isoformat(timespec='seconds')}, "
                        f"but no {Action.LEGAL_HOLD_RELEASE} event records it: it was released outside the site, "
                        "so it counts as still in force.",
                    )
                released = None
            if user_id is not None:
                holds.by_user.setdefault(user_id, []).append((placed, released))
            if conversation_id is not None:
                holds.by_conversation.setdefault(conversation_id, []).append((placed, released))
        return holds

    def spans(self, row: dict) -> list[tuple[datetime, datetime | None]]:
        """When a hold covered this event: by its actor, a person it is about, or its conversation."""
        spans: list[tuple[datetime, datetime | None]] = []
        if not (self.by_user or self.by_conversation):
            return spans
        subject = row.get("subject") or ""
        kind, _, ident = subject.partition(":")
        users = {row.get("actor_id")}
        conversations = {row.get("conversation")}
        if ident.isdigit():
            (users if kind == "user" else conversations if kind == "conversation" else set()).add(int(ident))
        for user_id in users:
            spans += self.by_user.get(user_id, []) if isinstance(user_id, int) else []
        for conversation_id in conversations:
            if isinstance(conversation_id, int) and not isinstance(conversation_id, bool):
                spans += self.by_conversation.get(conversation_id, [])
        return spans


def _recorded(action: str) -> dict[int, int]:
    """Hold id -> the seq of the first event of ``action`` naming it (``data.hold_id``) that the site
    wrote: validly signed, or unsigned from before events were signed. A forged one (reported as
    unsigned on the walk) records nothing."""
    first_signed = AuditEvent.objects.exclude(mac="").order_by("seq").values_list("seq", flat=True).first()
    found: dict[int, int] = {}
    events = AuditEvent.objects.filter(action=action).order_by("seq")
    for seq, hold_id, sha256, mac in events.values_list("seq", "data__hold_id", "sha256", "mac"):
        ours = event_signature_valid(sha256, mac) if mac else first_signed is None or seq < first_signed
        if ours and isinstance(hold_id, int) and not isinstance(hold_id, bool):
            found.setdefault(hold_id, seq)
    return found


def _purges(report) -> list[_Purge]:
    """Every retention purge whose cutoff the retention period allowed; the others are reported."""
    days = settings.HUMPHREY_RETENTION_DAYS
    valid = []
    for seq, at, data in AuditEvent.objects.filter(action=PURGE_ACTION).values_list("seq", "created_at", "data"):
        try:
            before = datetime.fromisoformat(data["before"])
            if before.tzinfo is None:
                raise ValueError("a cutoff without a time zone")
        except (KeyError, TypeError, ValueError):
            report(seq, "purge_too_new", f"Event #{seq} ({PURGE_ACTION}) has no readable cutoff.")
            continue
        allowed = at - timedelta(days=days)
        if before > allowed:
            report(
                seq,
                "purge_too_new",
                f"Event #{seq} ({PURGE_ACTION}, {at.isoformat(timespec='seconds')}) claims a cutoff of "
                f"{before.isoformat(timespec='seconds')}, newer than the {days}-day retention period allowed "
                f"({allowed.isoformat(timespec='seconds')}): it accounts for no missing content.",
            )
            continue
        valid.append(_Purge(seq=seq, at=at, before=before))
    return valid


def _missing_content_reason(row: dict, purges: list[_Purge], holds: _Holds) -> tuple[str, str] | None:
    """Why this event's missing content is not accounted for by a purge, or None if it is."""
    covering = [p for p in purges if row["created_at"] < p.before]
    if not covering:
        return "content_missing", "its content is missing and no retention purge covers it"
    spans = holds.spans(row)
    for purge in covering:
        if not any(placed <= purge.at and (released is None or released > purge.at) for placed, released in spans):
            return None
    return (
        "held_content_missing",
        "its content is missing although a legal hold covered it at every purge that could have removed it",
    )


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


def _content_problem(row: dict, purges: list[_Purge], holds: _Holds) -> tuple[str, str] | None:
    """(kind, reason) if the event's content is altered or missing without a purge, else None."""
    if row["content__event_id"] is None:
        if row["content_sha256"] == NO_CONTENT:
            return None
        return _missing_content_reason(row, purges, holds)
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
        SELECT e.seq, e.created_at, e.action, e.prev_sha256, e.sha256, e.canonical, e.mac, e.content_sha256,
               e.subject, e.actor_id, CASE WHEN jsonb_typeof(e.data -> 'conversation_id') = 'number'
                                           THEN (e.data ->> 'conversation_id')::numeric END,
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
    "mac",
    "content_sha256",
    "subject",
    "actor_id",
    "conversation",
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


def _chain_id() -> str | None:
    return AuditEvent.objects.filter(seq=1).values_list("sha256", flat=True).first()


def audit_verify(
    *, batch_size: int = 5000, max_problems: int = 20, expect_head: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the whole chain in order and report what is missing, altered or out of order.

    The head anchor kept outside the database (``audit.anchor``) must still be in the chain with
    its digest. ``expect_head`` is another (seq, sha256) recorded earlier outside the database
    (say, printed by an earlier run and kept in a ticket): it must be in the chain too.
    """
    result = VerifyResult()
    expected_seq, prev_digest = 1, GENESIS
    head_seen = False

    def report(seq: int, kind: str, message: str) -> bool:
        if len(result.problems) >= max_problems:
            result.more_problems = True
            return False
        result.problems.append(Problem(seq=seq, kind=kind, message=message))
        return True

    purges = _purges(report)
    holds = _Holds.load(report)
    anchor = anchor_read(_chain_id())
    anchored = anchor.checkpoint
    if anchored is not None:
        result.anchor_seq, result.anchor_at = anchored.seq, anchored.at
    result.anchor_path = str(anchor.path)
    anchored_seen = False
    signing = False  # an event with a signature has been seen: every later one must have a valid one
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
            if row["mac"]:
                signing = True
                if not event_signature_valid(row["sha256"], row["mac"]):
                    report(seq, "unsigned", f"{_describe(row)} has a signature that does not verify: {NOT_OURS}.")
            elif signing:
                report(seq, "unsigned", f"{_describe(row)} is not signed, though events before it are: {NOT_OURS}.")
            else:
                result.before_signing += 1
            event_ok = _fast_event_ok(row)
            if row["content__event_id"] is not None:
                result.with_content += 1
                content_ok = _fast_content_ok(row)
            elif row["content_sha256"] == NO_CONTENT:
                content_ok = True
            elif _missing_content_reason(_with_conversation(row), purges, holds) is None:
                content_ok = True
                result.purged += 1
            else:
                content_ok = False  # missing: the slow path says why
            if not (event_ok and content_ok):
                # The slow, explaining path: every column, compared in Python.
                full = _with_conversation(row if "data" in row else _full_rows(seq=seq)[0])
                reason = None if event_ok else _event_problem(full)
                if reason:
                    report(seq, "altered", f"{_describe(row)} altered: {reason}.")
                content = None if content_ok else _content_problem(full, purges, holds)
                if content:
                    report(seq, content[0], f"{_describe(row)}: {content[1]}.")
            if expect_head and seq == expect_head[0]:
                head_seen = True
                if row["sha256"] != expect_head[1]:
                    report(seq, "head", f"{_describe(row)} is not the event recorded earlier as the head.")
            if anchored is not None and seq == anchored.seq:
                anchored_seen = True
                if row["sha256"] != anchored.sha256:
                    report(
                        seq,
                        "head",
                        f"The chain was rewritten before #{seq}: {_describe(row)} is not the event the anchor "
                        f"recorded (signed {anchored.at}).",
                    )
            expected_seq, prev_digest = seq + 1, row["sha256"]
            result.last_seq, result.head_sha256 = seq, row["sha256"]
        last = rows[-1]["seq"]
    if expect_head and not head_seen:
        report(expect_head[0], "missing", f"Event #{expect_head[0]}, recorded earlier as the head, is missing.")
    _anchor_problems(result, anchor, anchored_seen, report)
    return result


def _with_conversation(row: dict) -> dict:
    """``row`` with ``conversation``: its data's conversation_id as a whole number, if it is one."""
    value = row["conversation"] if "conversation" in row else (row.get("data") or {}).get("conversation_id")
    try:
        whole = None if isinstance(value, bool) or not isinstance(value, int | float | Decimal) else int(value)
    except (OverflowError, ValueError):
        whole = None
    return {**row, "conversation": whole if whole is not None and whole == value else None}


def _anchor_problems(result: VerifyResult, anchor: AnchorState, anchored_seen: bool, report) -> None:
    """What the head anchor says about the walk just made."""
    where = str(anchor.path)
    if anchor.unreadable:
        report(result.last_seq or 0, "head", f"The head anchor {where} cannot be read: {anchor.unreadable}.")
    if anchor.bad_signatures:
        report(
            result.last_seq or 0,
            "head",
            f"{anchor.bad_signatures} checkpoint(s) of this chain in the head anchor {where} have a bad signature: "
            "the anchor was altered (or signed with another HUMPHREY_AUDIT_ANCHOR_KEY).",
        )
    anchored = anchor.checkpoint
    if not result.checked:
        if anchor.other_chains:
            report(
                0,
                "head",
                f"There are no events, but the head anchor {where} records {anchor.other_chains} chain(s): "
                "the audit trail may have been emptied.",
            )
        return
    if anchored is None:
        others = (
            f" (it records {anchor.other_chains} other chain(s): was the chain replaced from event #1?)"
            if anchor.other_chains
            else ""
        )
        report(
            result.last_seq or 0,
            "head",
            f"No anchor: tail deletion cannot be detected. The head anchor {where} has no signed checkpoint "
            f"of this chain{others}.",
        )
        return
    if anchored_seen:
        return
    if (result.last_seq or 0) < anchored.seq:
        deleted = anchored.seq - (result.last_seq or 0)
        report(
            anchored.seq,
            "head",
            f"The newest {deleted} event(s) were deleted: the anchor (signed {anchored.at}) records event "
            f"#{anchored.seq}, the chain ends at #{result.last_seq}.",
        )
    else:
        report(anchored.seq, "head", f"Event #{anchored.seq}, recorded by the head anchor, is missing.")
