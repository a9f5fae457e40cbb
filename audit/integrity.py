"""Proving the trail complete and unaltered: walk the hash chain, event by event.

Used by ``manage.py verify_audit`` and the auditors' "verify integrity" button. It reads in
keyset-paginated batches (no server-side cursor, so it works through pgbouncer and the pool) and
holds one batch in memory at a time.

Beyond the chain itself it checks what the chain alone cannot show:

- each event's signature (``AuditEvent.mac``, HMAC under a key the database does not hold): an
  event appended with the database login alone, which the chain cannot tell from a real one, has
  none or a wrong one. Unsigned events are accepted only before the seq from which the head anchor
  records that the site signed every event (``signed_from``), so blanking signatures is reported;
- the head anchor (``audit.anchor``), signed checkpoints kept outside the database: every anchored
  event must still be there with the anchored digest, and the chain must reach the furthest; no
  anchor at all for a chain that has events is a problem too (tail deletion could not be seen), and
  so are the anchor's own alarms: a restart (its files were missing; until an auditor acknowledges
  it) and a conflict (the writer found its head deleted or rewritten);
- each ``retention.purge`` event's cutoff: one newer than its own date minus
  ``HUMPHREY_RETENTION_DAYS`` is reported and accounts for no missing content;
- missing content: it must be covered by a valid purge at which no legal hold covered the event;
- each released legal hold: a ``legal_hold.release`` event must record the release (the runtime role
  may set ``released_at``; one set without the event is reported and the hold counts as in force).
  The purge and ``legal_hold list`` apply the same rule (``holds_in_force``).

Problems are listed root causes first (the anchor, deleted or renumbered ranges, rewritten events),
consequences after (an event no longer following a rewritten one), so a cap on how many are listed
never hides the decisive one; every kind is counted in full.
"""

# Over 500 lines on purpose: one walk of the chain whose checks (digests, signatures, order, content,
# purges, holds, the anchor) share the state of that walk; split, each would re-read the chain.

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from audit.actions import Action
from audit.anchor import CONFLICT, MISSING, RESTART, AnchorState, anchor_read, event_signature_valid, restart_cause
from audit.models import AuditContent, AuditEvent, LegalHold
from audit.services import (
    GENESIS,
    HASHED_FIELDS,
    NO_CONTENT,
    audit_record,
    canonical_json,
    event_digest,
    sha256_text,
)

PURGE_ACTION = Action.RETENTION_PURGE
# Why an event's signature does not verify: the site writes every event signed under its audit key.
KEY_CHANGED = (
    "the audit key changed without the old one kept (HUMPHREY_AUDIT_ANCHOR_KEY_FALLBACKS, or "
    "DJANGO_SECRET_KEY_FALLBACKS for a key derived from the secret key)"
)
NOT_OURS = f"it was rewritten after the site signed it, or someone with database access wrote it, or {KEY_CHANGED}"
NOT_SIGNED = "someone with database access wrote it or removed its signature"

# Root causes first; within a rank, in the order found.
_RANK = {
    "head": 0,
    "anchor_conflict": 0,
    "anchor_restart": 0,
    "missing": 1,
    "renumbered": 1,
    "hold_release_unrecorded": 1,
    "purge_too_new": 1,
    "altered": 2,
    "unsigned": 2,
    "content_altered": 2,
    "content_missing": 2,
    "held_content_missing": 2,
    "record_altered": 2,
    "out_of_order": 3,
}
# Kinds whose seq is an event still in the chain, which the auditors' pages can open.
_EVENT_KINDS = frozenset(_RANK) - {"head", "anchor_conflict", "anchor_restart", "missing"}
_MESSAGE_CHARS = 1000  # per problem kept in the audit.verify event
_VALUE_CHARS = 80  # per value quoted in a rewritten event's message

_COLUMNS = (
    *HASHED_FIELDS,
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
    # missing | renumbered | altered | out_of_order | unsigned | content_altered | content_missing
    # | held_content_missing | purge_too_new | hold_release_unrecorded | head | anchor_conflict | anchor_restart
    # | record_altered
    kind: str
    message: str
    last: int | None = None  # the last event of the range it is about, when it is about several

    def __str__(self) -> str:
        return self.message

    @property
    def seqs(self) -> range:
        return range(self.seq, (self.last or self.seq) + 1)

    @property
    def links_to_event(self) -> bool:
        return self.seq > 0 and self.kind in _EVENT_KINDS

    def as_record(self) -> dict:
        message = self.message if len(self.message) <= _MESSAGE_CHARS else self.message[: _MESSAGE_CHARS - 1] + "…"
        record = {"seq": self.seq, "kind": self.kind, "message": message}
        return record | ({"last": self.last} if self.last is not None else {})


@dataclass
class VerifyResult:
    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_sha256: str = GENESIS
    with_content: int = 0
    purged: int = 0
    problems: list[Problem] = field(default_factory=list)  # root causes first, at most max_problems
    more_problems: bool = False
    problem_counts: dict[str, int] = field(default_factory=dict)  # every problem found, by kind
    before_signing: int = 0  # events written before events were signed (no signature to check)
    signed_from: int | None = None  # where the head anchor records that signing began
    anchor_seq: int | None = None  # the furthest signed checkpoint of this chain, if any
    anchor_at: str = ""
    anchor_path: str = ""
    notes: list[str] = field(default_factory=list)  # findings an auditor has acknowledged

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def problem_total(self) -> int:
        return sum(self.problem_counts.values())

    @property
    def counts_text(self) -> str:
        """How many problems of each kind, root causes first: "1 head, 124 unsigned"."""
        kinds = sorted(self.problem_counts, key=lambda kind: (_RANK.get(kind, 2), kind))
        return ", ".join(f"{self.problem_counts[kind]} {kind.replace('_', ' ')}" for kind in kinds)

    def summary(self) -> str:
        span = "no events" if not self.checked else f"{self.checked} events (#{self.first_seq} to #{self.last_seq})"
        verdict = "chain intact" if self.ok else f"{self.problem_total} problem(s)"
        anchor = (
            f"Anchored head #{self.anchor_seq} (signed {self.anchor_at})."
            if self.anchor_seq is not None
            else "No anchored head."
        )
        unsigned = ""
        if self.before_signing:
            pinned = f" (before #{self.signed_from}, where the head anchor records signing began)"
            unsigned = f" {self.before_signing} written before events were signed{pinned if self.signed_from else ''}."
        notes = "".join(f" {note}" for note in self.notes)
        return (
            f"Checked {span}: {verdict}. {self.with_content} with content, {self.purged} with content purged "
            f"by retention.{unsigned} Head #{self.last_seq or 0} sha256 {self.head_sha256}. {anchor}{notes}"
        )

    def as_record(self) -> dict:
        """The result as plain JSON, for the audit event that records a verification: every problem
        listed (root causes first, each message bounded) and how many of each kind were found."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "last_seq": self.last_seq,
            "head_sha256": self.head_sha256,
            "purged": self.purged,
            "before_signing": self.before_signing,
            "signed_from": self.signed_from,
            "anchor_seq": self.anchor_seq,
            "problem_counts": dict(self.problem_counts),
            "more_problems": self.more_problems,
            "problems": [p.as_record() for p in self.problems],
            "notes": list(self.notes),
        }


class _Problems:
    """Problems as found, at most ``cap`` of each kind kept (so one flood cannot crowd out the rest),
    every one counted."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept: list[Problem] = []
        self.counts: Counter[str] = Counter()

    def report(self, seq: int, kind: str, message: str, last: int | None = None) -> bool:
        self.counts[kind] += 1
        if self.counts[kind] > self.cap:
            return False
        self.kept.append(Problem(seq=seq, kind=kind, message=message, last=last))
        return True

    def into(self, result: VerifyResult, max_problems: int) -> None:
        ordered = sorted(self.kept, key=lambda p: _RANK.get(p.kind, 2))
        result.problems = ordered[:max_problems]
        result.problem_counts = dict(self.counts)
        result.more_problems = sum(self.counts.values()) > len(result.problems)


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
    """Every legal hold ever placed, by target, with when it was in force."""

    by_user: dict[int, list[tuple[datetime, datetime | None]]] = field(default_factory=dict)
    by_conversation: dict[int, list[tuple[datetime, datetime | None]]] = field(default_factory=dict)

    @classmethod
    def load(cls, report, *, signed_from: int | None) -> _Holds:
        """Every hold; one whose release no ``legal_hold.release`` event records (a release made with
        database access, outside the site) is reported through ``report`` and counts as never released.
        A recorded release ends the hold when it was recorded, if that is later than ``released_at``."""
        holds = cls()
        recorded = _recorded(Action.LEGAL_HOLD_RELEASE, signed_from)
        placed_at = _recorded(Action.LEGAL_HOLD_PLACE, signed_from)
        for hold in LegalHold.objects.all():
            released = hold.released_at
            if released is not None and hold.pk not in recorded:
                if report is not None:
                    report(placed_at.get(hold.pk, (0, None))[0], "hold_release_unrecorded", _quiet_release(hold))
                released = None
            elif released is not None:
                released = max(released, recorded[hold.pk][1])
            if hold.user_id is not None:
                holds.by_user.setdefault(hold.user_id, []).append((hold.created_at, released))
            if hold.conversation_id is not None:
                holds.by_conversation.setdefault(hold.conversation_id, []).append((hold.created_at, released))
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


def _quiet_release(hold: LegalHold) -> str:
    return (
        f"Legal hold {hold.pk} ({hold.target}) is marked released at {hold.released_at.isoformat(timespec='seconds')}, "
        f"but no {Action.LEGAL_HOLD_RELEASE} event records it: it was released outside the site, so it counts "
        "as still in force (and the retention purge refuses to run) until an auditor records the release "
        f"(manage.py legal_hold release {hold.pk} --by EMAIL)."
    )


def _site_wrote(seq: int, sha256: str, mac: str, signed_from: int | None) -> bool:
    """Whether the site wrote this event: validly signed, or unsigned from before signing began."""
    if mac:
        return event_signature_valid(sha256, mac)
    return signed_from is None or seq < signed_from


def _recorded(action: str, signed_from: int | None) -> dict[int, tuple[int, datetime]]:
    """Hold id -> (seq, time) of the first event of ``action`` naming it (``data.hold_id``) that the
    site wrote. A forged one (reported as unsigned on the walk) records nothing. ``signed_from`` is
    where signing began (``signing_start``)."""
    found: dict[int, tuple[int, datetime]] = {}
    events = AuditEvent.objects.filter(action=action).order_by("seq")
    for seq, at, hold_id, sha256, mac in events.values_list("seq", "created_at", "data__hold_id", "sha256", "mac"):
        ours = _site_wrote(seq, sha256, mac, signed_from)
        if ours and isinstance(hold_id, int) and not isinstance(hold_id, bool):
            found.setdefault(hold_id, (seq, at))
    return found


def _first_signed() -> int | None:
    return AuditEvent.objects.exclude(mac="").order_by("seq").values_list("seq", flat=True).first()


def signing_start(anchor: AnchorState | None = None) -> int | None:
    """The seq from which every event must be signed: as the head anchor records it (outside the
    database), or, for a chain whose anchor does not record it yet, the first signed event."""
    anchor = anchor if anchor is not None else anchor_read(_chain_id())
    return anchor.signed_from if anchor.signed_from is not None else _first_signed()


def holds_in_force() -> list[LegalHold]:
    """Every hold still in force: not released, or released without a ``legal_hold.release`` event
    the site wrote (as verification counts them; those have ``released_at`` set)."""
    recorded = _recorded(Action.LEGAL_HOLD_RELEASE, signing_start())
    return [h for h in LegalHold.objects.all() if h.released_at is None or h.pk not in recorded]


def hold_release_recorded(hold: LegalHold) -> bool:
    return hold.pk in _recorded(Action.LEGAL_HOLD_RELEASE, signing_start())


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


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _data_changes(path: str, hashed, current) -> list[tuple[str, object, object]]:
    """(path, as hashed, as now) for each differing value, down to the innermost keys that differ."""
    if not (isinstance(hashed, dict) and isinstance(current, dict)):
        return [] if _same(hashed, current) else [(path, hashed, current)]
    absent = "(absent)"
    changes = []
    for key in sorted(set(hashed) | set(current)):
        if key not in hashed or key not in current:
            changes.append((f"{path}.{key}", hashed.get(key, absent), current.get(key, absent)))
        else:
            changes += _data_changes(f"{path}.{key}", hashed[key], current[key])
    return changes


def _changes(row: dict, hashed: dict, hashed_time: datetime) -> list[tuple[str, object, object]]:
    """(field, as hashed, as now) for every column that no longer says what was hashed."""
    changes = [(name, hashed.get(name), row[name]) for name in _HASHED if hashed.get(name) != row[name]]
    if hashed_time != row["created_at"]:
        changes.append(("created_at", hashed_time.isoformat(), row["created_at"].isoformat()))
    if not _same(hashed.get("data"), row["data"]):
        changes += _data_changes("data", hashed.get("data"), row["data"])
    return changes


def _changes_text(changes: list[tuple[str, object, object]]) -> str:
    shown = [f"{name} was {_shown(before)} when recorded, is now {_shown(now)}" for name, before, now in changes[:3]]
    more = f"; and {len(changes) - 3} more field(s)" if len(changes) > 3 else ""
    return "; ".join(shown) + more


@dataclass(frozen=True)
class _EventCheck:
    reason: str | None = None  # why the event is not what was recorded, or None
    renumbered_by: int | None = None  # hashed seq minus seq, when the seq alone changed
    digest_changed: bool = False  # its recorded text and digest were replaced


def _event_check(row: dict) -> _EventCheck:
    """Whether this event's own record is what was hashed, and if not, how it was changed."""
    if not row["canonical"]:
        # Written before the hashed text was kept: recompute from the columns.
        recomputed = event_digest(**{name: row[name] for name in (*_HASHED, "created_at", "data")})
        return _EventCheck() if recomputed == row["sha256"] else _EventCheck("its digest does not match its fields")
    if sha256_text(row["canonical"]) != row["sha256"]:
        return _EventCheck("its recorded text no longer matches its digest", digest_changed=True)
    try:
        hashed = json.loads(row["canonical"])
        hashed_time = datetime.fromisoformat(hashed["created_at"])
    except (ValueError, KeyError, TypeError):
        return _EventCheck("its recorded text is not a valid event")
    changes = _changes(row, hashed, hashed_time)
    if not changes:
        return _EventCheck()
    if [name for name, _, _ in changes] == ["seq"] and isinstance(hashed.get("seq"), int):
        return _EventCheck(renumbered_by=hashed["seq"] - row["seq"])
    return _EventCheck(_changes_text(changes))


def _content_problem(row: dict, purges: list[_Purge], holds: _Holds) -> tuple[str, str] | None:
    """(kind, reason) if the event's content is altered or missing without a purge, else None."""
    if row["content__event_id"] is None:
        if row["content_sha256"] == NO_CONTENT:
            return None
        return _missing_content_reason(row, purges, holds)
    if row["content_sha256"] == NO_CONTENT:
        return "content_altered", "content was added to it although none was recorded"
    text = row["content__canonical"] or canonical_json(row["content__body"])
    if sha256_text(text) != row["content_sha256"]:
        return "content_altered", "its content was rewritten: it no longer matches its recorded digest"
    if row["content__canonical"]:
        try:
            same = _same(json.loads(text), row["content__body"])
        except ValueError:
            same = False
        if not same:
            return "content_altered", "its content was rewritten: it differs from the text that was hashed"
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


@dataclass
class _Run:
    """Consecutive events with the same finding, reported once: ``what`` tells them apart."""

    what: object
    first: int
    last: int
    description: str  # of its first event

    @property
    def count(self) -> int:
        return self.last - self.first + 1


class _Runs:
    def __init__(self, flush) -> None:
        self.current: _Run | None = None
        self.flush = flush  # called with each run as it ends

    def add(self, seq: int, what, description: str) -> None:
        run = self.current
        if run is not None and run.what == what and seq == run.last + 1:
            run.last = seq
            return
        self.end()
        self.current = _Run(what=what, first=seq, last=seq, description=description)

    def end(self) -> None:
        if self.current is not None:
            self.flush(self.current)
        self.current = None


class _AnchorCheck:
    """Every anchored checkpoint against the chain, merged with the walk (both in seq order)."""

    def __init__(self, anchor: AnchorState) -> None:
        self.digests = anchor.digests
        self.pending = sorted(anchor.digests)
        self.next = 0
        self.last_good = 0  # the last anchored seq, before the first that differs, the chain still holds
        self.first_bad: int | None = None
        self.furthest: tuple[int, str, str, str | None] | None = None  # seq, anchored digest, signed at, now
        self.differing = 0
        self.twice: list[int] = []  # seqs signed with more than one digest

    def see(self, seq: int, sha256: str) -> None:
        # An anchored seq passed over lies in a gap the walk reports as missing.
        while self.next < len(self.pending) and self.pending[self.next] < seq:
            self.next += 1
        if self.next < len(self.pending) and self.pending[self.next] == seq:
            self.next += 1
            self._compare(seq, sha256)

    def finish(self) -> None:
        for seq in self.pending[self.next :]:
            self._compare(seq, None)
        self.next = len(self.pending)

    def _compare(self, seq: int, held: str | None) -> None:
        signed = self.digests[seq]
        if len(signed) > 1:
            self.twice.append(seq)
        wrong = sorted((at, digest) for digest, at in signed if digest != held)
        if not wrong:
            if self.first_bad is None:
                self.last_good = seq
            return
        self.differing += 1
        self.first_bad = self.first_bad or seq
        self.furthest = (seq, wrong[0][1], wrong[0][0], held)

    def problem(self, last_seq: int) -> str | None:
        if self.furthest is None:
            return None
        seq, digest, at, held = self.furthest
        if self.first_bad > last_seq:
            return (
                f"The newest {seq - last_seq} event(s) were deleted: the anchor (signed {at}) records event #{seq} "
                f"with digest {digest}, the chain ends at #{last_seq}."
            )
        now = f"digest {held}" if held else f"no event #{seq} (it ends at #{last_seq})"
        text = (
            f"Events after #{self.last_good} were deleted or rewritten: the anchor recorded #{seq} with digest "
            f"{digest} at {at}, the chain now has {now}."
        )
        if self.differing > 1:
            text += (
                f" {self.differing} anchored events from #{self.first_bad} to #{seq} are not in the chain as signed."
            )
        if self.twice:
            text += (
                f" The anchor holds two signed checkpoints with different digests for {len(self.twice)} seq(s) "
                f"(the first #{self.twice[0]}): the chain was changed after they were anchored."
            )
        return text


class _Walk:
    """One pass over the chain in seq order, with everything the checks share."""

    def __init__(
        self,
        result: VerifyResult,
        problems: _Problems,
        anchor: AnchorState,
        *,
        purges: list[_Purge],
        holds: _Holds,
        expect_head: tuple[int, str] | None,
    ) -> None:
        self.result, self.report = result, problems.report
        self.purges, self.holds, self.expect_head = purges, holds, expect_head
        self.head_seen = False
        self.anchor = _AnchorCheck(anchor)
        self.pinned = anchor.signed_from is not None
        # From here on every event must be signed: as the anchor pins it, else the first signed event.
        self.signing_from = anchor.signed_from
        self.expected_seq, self.prev_digest = 1, GENESIS
        self.prev_rewritten = False
        self.signatures = _Runs(self._signature_run)
        self.renumbered = _Runs(self._renumbered_run)

    def row(self, row: dict) -> None:
        seq = row["seq"]
        self.result.checked += 1
        self.result.first_seq = self.result.first_seq or seq
        self._order(row)
        rewritten = self._signature(row)
        rewritten = self._record(row) or rewritten
        self.anchor.see(seq, row["sha256"])
        if self.expect_head and seq == self.expect_head[0]:
            self.head_seen = True
            if row["sha256"] != self.expect_head[1]:
                self.report(seq, "head", f"{_describe(row)} is not the event recorded earlier as the head.")
        self.expected_seq, self.prev_digest, self.prev_rewritten = seq + 1, row["sha256"], rewritten
        self.result.last_seq, self.result.head_sha256 = seq, row["sha256"]

    def finish(self) -> None:
        self.signatures.end()
        self.renumbered.end()
        self.anchor.finish()
        if self.expect_head and not self.head_seen:
            seq = self.expect_head[0]
            self.report(seq, "missing", f"Event #{seq}, recorded earlier as the head, is missing.")

    def _order(self, row: dict) -> None:
        seq = row["seq"]
        if seq != self.expected_seq:
            missing = f"#{self.expected_seq}" if seq == self.expected_seq + 1 else f"#{self.expected_seq} to #{seq - 1}"
            self.report(self.expected_seq, "missing", f"Event {missing} missing: the chain jumps to #{seq}.")
        elif row["prev_sha256"] != self.prev_digest:
            message = (
                f"{_describe(row)} no longer follows #{seq - 1}: it names the digest #{seq - 1} had before "
                f"#{seq - 1} was rewritten (reported above)."
                if self.prev_rewritten
                else f"{_describe(row)} is out of order: it does not follow #{seq - 1} (an event before it was "
                "deleted or replaced)."
            )
            self.report(seq, "out_of_order", message)

    def _signature(self, row: dict) -> bool:
        """Check the event's signature; True if it shows the event's digest changed since it was signed."""
        seq, mac = row["seq"], row["mac"]
        if mac:
            self.signing_from = self.signing_from or seq
            if event_signature_valid(row["sha256"], mac):
                return False
            self.signatures.add(seq, "bad", _describe(row))
            return True
        if self.signing_from is not None and seq >= self.signing_from:
            self.signatures.add(seq, "blank", _describe(row))
        else:
            self.result.before_signing += 1
        return False

    def _signature_run(self, run: _Run) -> None:
        if run.what == "bad":
            message = (
                f"{run.description} has a signature that does not verify: {NOT_OURS}."
                if run.count == 1
                else f"Events #{run.first} to #{run.last} ({run.count}) have signatures that do not verify: "
                f"they were rewritten after the site signed them, or {KEY_CHANGED}."
            )
        else:
            since = f"the site has signed every event since #{self.signing_from}"
            since += ", as the head anchor records" if self.pinned else ""
            message = (
                f"{run.description} is not signed, though {since}: {NOT_SIGNED}."
                if run.count == 1
                else f"Events #{run.first} to #{run.last} ({run.count}) are not signed, though {since}: their "
                "signatures were removed, or someone with database access wrote them."
            )
        self.report(run.first, "unsigned", message, last=run.last if run.count > 1 else None)

    def _renumbered_run(self, run: _Run) -> None:
        moved = run.what
        events = run.description if run.count == 1 else f"Events #{run.first} to #{run.last} ({run.count})"
        recorded = f"#{run.first + moved}" + (f" to #{run.last + moved}" if run.count > 1 else "")
        why = (
            f"{moved} event(s) before #{run.first} were deleted and the later ones renumbered to hide the gap"
            if moved > 0
            else f"{-moved} event(s) were inserted before #{run.first}"
        )
        last = run.last if run.count > 1 else None
        self.report(run.first, "renumbered", f"{events} renumbered: recorded as {recorded}, so {why}.", last=last)

    def _record(self, row: dict) -> bool:
        """Check the event and its content; True if its recorded text and digest were replaced."""
        seq = row["seq"]
        event_ok = _fast_event_ok(row)
        if row["content__event_id"] is not None:
            self.result.with_content += 1
            content_ok = _fast_content_ok(row)
        elif row["content_sha256"] == NO_CONTENT:
            content_ok = True
        elif _missing_content_reason(_with_conversation(row), self.purges, self.holds) is None:
            content_ok = True
            self.result.purged += 1
        else:
            content_ok = False  # missing: the slow path says why
        if event_ok and content_ok:
            return False
        # The slow, explaining path: every column, compared in Python.
        full = _with_conversation(row if "data" in row else _full_rows(seq=seq)[0])
        check = _EventCheck() if event_ok else _event_check(full)
        if check.renumbered_by:
            self.renumbered.add(seq, check.renumbered_by, _describe(row))
        if check.reason:
            self.report(seq, "altered", f"{_describe(row)} was rewritten: {check.reason}.")
        content = None if content_ok else _content_problem(full, self.purges, self.holds)
        if content:
            self.report(seq, content[0], f"{_describe(row)}: {content[1]}.")
        return check.digest_changed


#: Checks of records kept outside the trail (conversations, passages, feedback) against what the trail
#: holds of them, registered by the apps that keep them (the audit app imports no feature app). Each is
#: called with ``report(seq, kind, message)``, ``kind`` "record_altered", ``seq`` the event that vouches.
_RECORD_CHECKS: list = []


def register_records_check(check) -> None:
    if check not in _RECORD_CHECKS:
        _RECORD_CHECKS.append(check)


def audit_verify(
    *, batch_size: int = 5000, max_problems: int = 20, expect_head: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the whole chain in order and report what is missing, altered or out of order.

    Every checkpoint of the head anchor kept outside the database (``audit.anchor``) must still be in
    the chain with its digest. ``expect_head`` is another (seq, sha256) recorded earlier outside the
    database (say, printed by an earlier run and kept in a ticket): it must be in the chain too.
    At most ``max_problems`` problems are listed, root causes first; all are counted.
    """
    result = VerifyResult()
    problems = _Problems(cap=max_problems)
    anchor = anchor_read(_chain_id())
    if anchor.checkpoint is not None:
        result.anchor_seq, result.anchor_at = anchor.checkpoint.seq, anchor.checkpoint.at
    result.anchor_path, result.signed_from = str(anchor.path), anchor.signed_from
    walk = _Walk(
        result,
        problems,
        anchor,
        purges=_purges(problems.report),
        holds=_Holds.load(problems.report, signed_from=signing_start(anchor)),
        expect_head=expect_head,
    )
    last = 0
    while True:
        rows = _fast_batch(last, batch_size)
        if rows is None:  # something in this batch is not even valid JSON: check it row by row in Python
            rows = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq").values(*_COLUMNS)[:batch_size])
        if not rows:
            break
        for row in rows:
            walk.row(row)
        last = rows[-1]["seq"]
    walk.finish()
    for check in _RECORD_CHECKS:
        check(problems.report)
    _anchor_problems(result, anchor, walk.anchor, problems.report)
    _anchor_alarms(result, anchor, problems.report)
    problems.into(result, max_problems)
    return result


def _with_conversation(row: dict) -> dict:
    """``row`` with ``conversation``: its data's conversation_id as a whole number, if it is one."""
    value = row["conversation"] if "conversation" in row else (row.get("data") or {}).get("conversation_id")
    try:
        whole = None if isinstance(value, bool) or not isinstance(value, int | float | Decimal) else int(value)
    except (OverflowError, ValueError):
        whole = None
    return {**row, "conversation": whole if whole is not None and whole == value else None}


def _anchor_problems(result: VerifyResult, anchor: AnchorState, check: _AnchorCheck, report) -> None:
    """What the head anchor's checkpoints say about the walk just made."""
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
    if not result.checked:
        if anchor.other_chains:
            report(
                0,
                "head",
                f"There are no events, but the head anchor {where} records {anchor.other_chains} chain(s): "
                "the audit trail may have been emptied.",
            )
        return
    if anchor.checkpoint is None:
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
    text = check.problem(result.last_seq or 0)
    if text:
        furthest = check.furthest[0]
        report(check.first_bad, "head", text, last=furthest if furthest != check.first_bad else None)


_ALARMS = (Action.AUDIT_ANCHOR_RESTART, Action.AUDIT_ANCHOR_CONFLICT, Action.AUDIT_ANCHOR_ACKNOWLEDGE)


def _whole(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _alarm_events() -> list[dict]:
    """The anchor's alarms and their acknowledgements that the site wrote (validly signed: these
    actions are younger than signing, and a forged one is reported as unsigned on the walk)."""
    events = AuditEvent.objects.filter(action__in=_ALARMS).order_by("seq")
    rows = events.values("seq", "created_at", "action", "actor_label", "data", "sha256", "mac")
    return [e for e in rows if e["mac"] and event_signature_valid(e["sha256"], e["mac"])]


def _restarts(anchor: AnchorState, alarms: list[dict]) -> dict[int, dict]:
    """Restart seq -> {"at", "event"}: from the anchor's marked checkpoints and from the trail (which
    keeps them when the anchor files are removed again)."""
    found = {
        point.seq: {"at": point.at, "event": None, "reason": point.mark.get("reason", MISSING)}
        for point in anchor.marks
        if point.kind == RESTART
    }
    for event in alarms:
        data = event["data"] or {}
        seq = _whole(data.get("seq"))
        if event["action"] == Action.AUDIT_ANCHOR_RESTART and seq is not None:
            at = str(data.get("at") or event["created_at"].isoformat())
            restart = found.setdefault(seq, {"at": at, "event": None, "reason": str(data.get("reason", MISSING))})
            restart["event"] = event["seq"]
    return found


def _conflicts(anchor: AnchorState, alarms: list[dict]) -> dict[tuple[int, str], dict]:
    """(seq, at) -> {"anchored": what the anchor had recorded, "event"}, from both sources."""
    found = {
        (point.seq, point.at): {"anchored": point.mark, "event": None}
        for point in anchor.marks
        if point.kind == CONFLICT
    }
    for event in alarms:
        data = event["data"] or {}
        seq = _whole(data.get("seq"))
        if event["action"] == Action.AUDIT_ANCHOR_CONFLICT and seq is not None:
            key = (seq, str(data.get("at", "")))
            anchored = data.get("anchored") if isinstance(data.get("anchored"), dict) else {}
            found.setdefault(key, {"anchored": anchored, "event": None})["event"] = event["seq"]
    return found


def _acknowledgements(alarms: list[dict]) -> dict[int, dict]:
    found: dict[int, dict] = {}
    for event in alarms:
        seq = _whole((event["data"] or {}).get("restart_seq"))
        if event["action"] == Action.AUDIT_ANCHOR_ACKNOWLEDGE and seq is not None:
            found.setdefault(seq, event)
    return found


def _recorded_as(event_seq: int | None) -> str:
    return f" (recorded as event #{event_seq})" if event_seq else " (the anchor log records it; no audit event does)"


def _anchor_alarms(result: VerifyResult, anchor: AnchorState, report) -> None:
    """Restarts (until acknowledged) and conflicts, as the anchor writer recorded them."""
    alarms = _alarm_events()
    acknowledged = _acknowledgements(alarms)
    for seq, restart in sorted(_restarts(anchor, alarms).items()):
        ack = acknowledged.get(seq)
        if ack is not None:
            result.notes.append(
                f"The head anchor restarted at #{seq} ({restart['at']}); {ack['actor_label'] or 'an auditor'} "
                f"acknowledged it in event #{ack['seq']}: {ack['data'].get('reason', '')}"
            )
            continue
        report(
            seq,
            "anchor_restart",
            f"The head anchor restarted at #{seq} on {restart['at']}{_recorded_as(restart['event'])}. "
            f"{restart_cause(restart['reason'])}, so events deleted before #{seq} (or signatures removed from "
            "them) cannot be ruled out. Compare the chain with a copy of the anchor log kept elsewhere, then "
            f"acknowledge it: manage.py verify_audit --acknowledge-restart {seq} --by EMAIL --reason TEXT.",
        )
    for (seq, at), conflict in sorted(_conflicts(anchor, alarms).items()):
        anchored = conflict["anchored"] or {}
        held = anchored.get("chain_has")
        report(
            seq,
            "anchor_conflict",
            f"When the site anchored event #{seq} ({at}), the chain no longer held the anchor's head: the anchor "
            f"recorded #{anchored.get('seq')} with digest {anchored.get('sha256')} at {anchored.get('at')}, the "
            f"chain had {f'digest {held}' if held else 'no such event'}{_recorded_as(conflict['event'])}. Events "
            "were deleted or rewritten outside the site.",
        )


def anchor_restart_acknowledge(*, seq: int, actor, reason: str) -> AuditEvent:
    """Record that an auditor has checked an anchor restart (against a copy of the anchor log kept
    elsewhere, say) and accepts it; verification then lists it as a note, not a problem."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("An acknowledgement needs a reason: what was checked, and against what.")
    alarms = _alarm_events()
    restarts = _restarts(anchor_read(_chain_id()), alarms)
    if seq not in restarts:
        known = ", ".join(f"#{s}" for s in sorted(restarts)) or "none"
        raise ValueError(f"No anchor restart at #{seq} is recorded (restarts recorded: {known}).")
    if seq in _acknowledgements(alarms):
        raise ValueError(f"The anchor restart at #{seq} is already acknowledged.")
    return audit_record(
        action=Action.AUDIT_ANCHOR_ACKNOWLEDGE,
        actor=actor,
        outcome="acknowledged",
        data={"restart_seq": seq, "restart_event": restarts[seq]["event"], "reason": reason},
    )
