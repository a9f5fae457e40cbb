"""Retention: remove conversation content past ``HUMPHREY_RETENTION_DAYS``, except under legal hold.

The purge deletes ``AuditContent`` rows through ``audit_purge_content`` (migration 0004), a
SECURITY DEFINER function and the only deletion the database triggers allow: it refuses a cutoff
newer than the database's ``now()`` minus the retention period recorded at ``migrate``, and keeps
whatever an active legal hold covers, whoever calls it. The purge then calls the purgers other apps
registered (``register_purger``: the assistant's conversations), so the audit app depends on none.
Event metadata and digests stay, so the chain still verifies; the purge is itself an audit event
recording its cutoff, which is how ``verify_audit`` tells purged content from removed content.

Which holds are in force is decided as verification decides it (``audit.integrity.holds_in_force``):
a hold marked released with no ``legal_hold.release`` event the site wrote (the runtime role may set
``released_at``, so someone with its login can release a hold quietly) is still in force. The
database function spares only holds not marked released, so while such a hold exists the purge
refuses to run at all (``HoldReleaseUnrecorded``), until an auditor records the release.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.actions import Action, subject
from audit.integrity import PURGE_ACTION, hold_release_recorded, holds_in_force
from audit.models import AuditEvent, LegalHold
from audit.services import audit_record


class PurgeRefused(RuntimeError):
    """The database refused the purge (a cutoff newer than the retention period allows)."""


class HoldReleaseUnrecorded(RuntimeError):
    """A legal hold was released outside the site: the purge will not run while it is unexplained."""

    def __init__(self, holds: list[LegalHold]) -> None:
        self.holds = holds
        named = "; ".join(
            f"legal hold {h.pk} ({h.target}) marked released at {h.released_at.isoformat(timespec='seconds')}"
            for h in holds
        )
        super().__init__(
            f"Refusing to purge: {named}, but no {Action.LEGAL_HOLD_RELEASE} event records the release. It was "
            "released outside the site, so it is still in force, and the database would not spare what it "
            "holds. Find out who released it; then, to keep the hold, place a new one (legal_hold place), and "
            "record the release (legal_hold release ID --by EMAIL) so the purge can run again."
        )


@dataclass
class PurgeResult:
    before: dt.datetime
    dry_run: bool
    contents: int = 0  # audit contents purged (or that would be)
    held: int = 0  # audit contents past retention kept because of a legal hold
    held_user_ids: list[int] = field(default_factory=list)
    held_conversation_ids: list[int] = field(default_factory=list)
    conversations: object = None  # what conversations_purge returned
    conversations_error: str = ""
    event_seq: int | None = None


def _held_condition(user_ids: list[int], conversation_ids: list[int]) -> Q:
    """Events protected by a hold: by a held person, or about a held conversation."""
    condition = Q(pk__in=[])
    if user_ids:
        condition |= Q(actor_id__in=user_ids) | Q(subject__in=[subject("user", uid) for uid in user_ids])
    if conversation_ids:
        condition |= Q(subject__in=[subject("conversation", cid) for cid in conversation_ids])
        condition |= Q(data__conversation_id__in=conversation_ids)
    return condition


_purgers: dict[str, Callable[..., object]] = {}


def register_purger(name: str, purge: Callable[..., object]) -> None:
    """Register an app's own purge of content past retention, called inside the retention purge's
    transaction as ``purge(before=..., held_user_ids=[...], held_conversation_ids=[...])``; what it
    returns is recorded in the purge's audit event. The assistant registers "conversations" in its
    ``AppConfig.ready``."""
    _purgers[name] = purge


def _database_now() -> dt.datetime:
    """The database's ``now()``: the clock the purge function checks the cutoff against."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def retention_purge(*, now: dt.datetime | None = None, dry_run: bool = False, actor=None) -> PurgeResult:
    """Purge content older than the retention period, keeping anything under an active legal hold.

    One transaction: audit content, the assistant's conversations and the purge's own audit event
    commit together or not at all. When no conversations purger is registered, audit content
    is still purged and the missing step is recorded in the event and in ``conversations_error``.
    ``now`` defaults to the database's clock; a ``now`` later than it makes a cutoff the database
    refuses (``PurgeRefused``). A hold released outside the site stops it (``HoldReleaseUnrecorded``),
    dry run or not.
    """
    with transaction.atomic():
        holds = holds_in_force()
        quiet = [hold for hold in holds if hold.released_at is not None]
        if quiet:
            raise HoldReleaseUnrecorded(quiet)
        before = (now or _database_now()) - dt.timedelta(days=settings.HUMPHREY_RETENTION_DAYS)
        result = PurgeResult(
            before=before,
            dry_run=dry_run,
            held_user_ids=sorted({h.user_id for h in holds if h.user_id is not None}),
            held_conversation_ids=sorted({h.conversation_id for h in holds if h.conversation_id is not None}),
        )
        expired = AuditEvent.objects.filter(created_at__lt=before, content__isnull=False)
        held = _held_condition(result.held_user_ids, result.held_conversation_ids)
        result.held = expired.filter(held).count()
        if dry_run:
            result.contents = expired.exclude(held).count()
            return result
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT audit_purge_content(%s)", [before])
                result.contents = cursor.fetchone()[0]
        except DatabaseError as exc:
            raise PurgeRefused(str(exc).strip()) from exc
        purge = _purgers.get("conversations")
        if purge is None:
            result.conversations_error = (
                "no conversations_purge is registered (the assistant app registers it when installed); "
                "conversations were NOT purged"
            )
        else:
            result.conversations = purge(
                before=before,
                held_user_ids=result.held_user_ids,
                held_conversation_ids=result.held_conversation_ids,
            )
        event = audit_record(
            action=PURGE_ACTION,
            actor=actor,
            outcome="partial" if result.conversations_error else "done",
            data={
                "before": before.isoformat(),
                "retention_days": settings.HUMPHREY_RETENTION_DAYS,
                "contents_purged": result.contents,
                "contents_held": result.held,
                "held_user_ids": result.held_user_ids,
                "held_conversation_ids": result.held_conversation_ids,
                "conversations": result.conversations
                if isinstance(result.conversations, int | dict | list | None)
                else str(result.conversations),
                "conversations_error": result.conversations_error,
            },
        )
        result.event_seq = event.seq
    return result


@transaction.atomic
def legal_hold_place(*, actor, reason: str, user=None, conversation_id: int | None = None) -> LegalHold:
    """Stop the purge of everything about ``user`` or about one conversation, until released."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A legal hold needs a reason.")
    if (user is None) == (conversation_id is None):
        raise ValueError("A legal hold is on one person or one conversation.")
    hold = LegalHold.objects.create(
        user=user,
        conversation_id=conversation_id,
        reason=reason,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_by_label=getattr(actor, "email", "") or "",
    )
    # The reason is content: it may name the person, so it goes with their other content at the purge
    # once the hold is released and the retention period has passed.
    audit_record(
        action=Action.LEGAL_HOLD_PLACE,
        actor=actor,
        subject=hold.target,
        data={"hold_id": hold.pk, "user_id": hold.user_id, "conversation_id": conversation_id},
        content={"reason": reason},
    )
    return hold


@transaction.atomic
def legal_hold_release(*, hold: LegalHold, actor) -> LegalHold:
    """End a hold; the next purge may then remove what it protected.

    A hold already marked released outside the site (no ``legal_hold.release`` event) cannot be
    marked again (the database refuses), so its release is recorded as the auditor's now, saying
    when it was marked: until then it was in force, and the purge refused to run.
    """
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        if hold_release_recorded(hold):
            raise ValueError(f"Legal hold {hold.pk} was already released.")
        audit_record(
            action=Action.LEGAL_HOLD_RELEASE,
            actor=actor,
            subject=hold.target,
            data={
                "hold_id": hold.pk,
                "released_outside_site": True,
                "marked_released_at": hold.released_at.isoformat(),
            },
        )
        return hold
    hold.released_at = timezone.now()
    hold.released_by = actor if getattr(actor, "pk", None) else None
    hold.released_by_label = getattr(actor, "email", "") or ""
    hold.save(update_fields=["released_at", "released_by", "released_by_label"])
    audit_record(action=Action.LEGAL_HOLD_RELEASE, actor=actor, subject=hold.target, data={"hold_id": hold.pk})
    return hold
