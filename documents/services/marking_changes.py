"""Lowering a collection's marking with a second curator's approval (``HUMPHREY_MARKING_DOWNGRADE_APPROVAL``).

Lowering a marking lets a collection's passages reach model and embedding endpoints approved only for
the lower marking, from the next question on. With the setting on, one curator's lowering becomes a
request (``MarkingChange``); the marking changes only when another curator of the same collection
approves it, and only if the marking is still what the request lowered it from. Each step is audited.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.services import audit_record

from ..models import Collection, Marking, MarkingChange, MarkingChangeState

REQUESTED = Action.MARKING_CHANGE_REQUESTED
DECIDED = Action.MARKING_CHANGE_DECIDED


def _subject(collection: Collection) -> str:
    return f"collection:{collection.slug}"


def _facts(change: MarkingChange) -> dict:
    return {
        "collection_id": change.collection_id,
        "marking_change_id": change.pk,
        "marking": change.to_marking,
        "previous_marking": change.from_marking,
        "requested_by": change.requested_by_id,
    }


def marking_change_pending(collection: Collection) -> MarkingChange | None:
    return collection.marking_changes.filter(state=MarkingChangeState.PENDING).select_related("requested_by").first()


def marking_change_request(*, collection: Collection, user, marking: str, reason: str) -> MarkingChange:
    """Ask for ``collection``'s marking to be lowered to ``marking``; nothing changes until approved."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the marking is being lowered.")
    if marking not in Marking.values or Marking.rank(marking) >= Marking.rank(collection.marking):
        raise ValidationError(f"{marking} is not lower than the collection's marking, {collection.marking}.")
    with transaction.atomic():
        Collection.objects.select_for_update().filter(pk=collection.pk).get()
        if marking_change_pending(collection):
            raise ValidationError(
                "A request to lower this collection's marking is already waiting for a second curator."
            )
        change = MarkingChange.objects.create(
            collection=collection,
            from_marking=collection.marking,
            to_marking=marking,
            reason=reason,
            requested_by=user,
        )
        audit_record(
            action=REQUESTED,
            actor=user,
            outcome="pending",
            subject=_subject(collection),
            data=_facts(change),
            content={"reason": reason},
        )
    return change


def marking_change_decide(*, change: MarkingChange, user, approve: bool, note: str = "") -> MarkingChange:
    """Approve or reject a pending request, as a curator of its collection other than the requester.

    Approving a request whose collection's marking has changed since it was made rejects it instead
    (``outcome="stale"``): the request lowered a marking that is no longer there."""
    note = (note or "").strip()
    with transaction.atomic():
        change = MarkingChange.objects.select_for_update().select_related("collection").get(pk=change.pk)
        collection = Collection.objects.select_for_update().get(pk=change.collection_id)
        if change.state != MarkingChangeState.PENDING:
            raise ValidationError(f"This request has already been {change.get_state_display()}.")
        if change.requested_by_id == user.pk:
            raise ValidationError("Another curator must approve or reject a change you asked for.")
        if not approve and not note:
            raise ValidationError("Say why the request is rejected.", code="note")
        stale = approve and collection.marking != change.from_marking
        change.state = MarkingChangeState.APPROVED if approve and not stale else MarkingChangeState.REJECTED
        change.decided_by, change.decided_at = user, timezone.now()
        change.note = note or (f"the marking is now {collection.marking}" if stale else "")
        change.save(update_fields=["state", "decided_by", "decided_at", "note"])
        if change.state == MarkingChangeState.APPROVED:
            collection.marking = change.to_marking
            collection.save(update_fields=["marking", "updated_at"])
        audit_record(
            action=DECIDED,
            actor=user,
            outcome="stale" if stale else change.state,
            subject=_subject(collection),
            data=_facts(change),
            content={"reason": change.reason, "note": change.note},
        )
    return change


def marking_change_withdraw(*, change: MarkingChange, user) -> MarkingChange:
    """The requester takes back a request still waiting."""
    with transaction.atomic():
        change = MarkingChange.objects.select_for_update().get(pk=change.pk)
        if change.state != MarkingChangeState.PENDING:
            raise ValidationError(f"This request has already been {change.get_state_display()}.")
        if change.requested_by_id != user.pk:
            raise ValidationError("Only the curator who asked can withdraw a request.")
        change.state, change.decided_by, change.decided_at = MarkingChangeState.WITHDRAWN, user, timezone.now()
        change.save(update_fields=["state", "decided_by", "decided_at"])
        audit_record(
            action=DECIDED,
            actor=user,
            outcome="withdrawn",
            subject=f"collection:{change.collection.slug}",
            data=_facts(change),
        )
    return change
