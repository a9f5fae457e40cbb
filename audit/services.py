"""Writing audit events. ``audit_record`` is the only way anything enters the audit trail."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditContent, AuditEvent

GENESIS = "0" * 64
# Any constant works; it only has to be the same for every writer of the chain.
_CHAIN_LOCK_KEY = 0x48554D50  # "HUMP"


def canonical_json(value: Any) -> str:
    """The one serialisation hashed: sorted keys, no spaces, dates in ISO form."""
    return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_digest(body: Any) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def event_digest(
    *,
    seq: int,
    created_at: datetime,
    action: str,
    outcome: str,
    actor_id: int | None,
    actor_label: str,
    subject: str,
    data: Any,
    content_sha256: str,
    prev_sha256: str,
) -> str:
    """Digest of everything an event says, including its predecessor's digest."""
    payload = {
        "seq": seq,
        "created_at": created_at.astimezone(timezone.UTC).isoformat(timespec="microseconds"),
        "action": action,
        "outcome": outcome,
        "actor_id": actor_id,
        "actor_label": actor_label,
        "subject": subject,
        "data": data,
        "content_sha256": content_sha256,
        "prev_sha256": prev_sha256,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def _normalise(value: Any) -> Any:
    """What the JSON column will give back, so the digest computed now matches the one re-read later."""
    return json.loads(canonical_json(value))


def audit_record(
    *,
    action: str,
    actor=None,
    outcome: str = "",
    subject: str = "",
    data: dict | None = None,
    content: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain and return it.

    Call it inside the transaction that makes the change it records, so both commit or neither does.
    ``data`` holds facts that may be kept forever (ids, timings, model, usage, outcome codes);
    ``content`` holds what people wrote or were shown, which the retention purge may remove.
    Writers are serialised by a transaction-scoped advisory lock, so concurrent writers cannot
    fork the chain.
    """
    data = _normalise(data or {})
    body = _normalise(content) if content is not None else None
    content_sha256 = content_digest(body) if body is not None else GENESIS
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    actor_label = (getattr(actor, "email", "") or getattr(actor, "username", "")) if actor_id else ""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-seq").values("seq", "sha256").first()
        seq = (last["seq"] + 1) if last else 1
        prev = last["sha256"] if last else GENESIS
        # Microsecond precision only, so the digest matches what PostgreSQL stores and returns.
        created_at = timezone.now()
        event = AuditEvent(
            seq=seq,
            created_at=created_at,
            action=action,
            outcome=outcome,
            actor_id=actor_id,
            actor_label=actor_label,
            subject=subject,
            data=data,
            content_sha256=content_sha256,
            prev_sha256=prev,
        )
        event.sha256 = event_digest(
            seq=seq,
            created_at=created_at,
            action=action,
            outcome=outcome,
            actor_id=actor_id,
            actor_label=actor_label,
            subject=subject,
            data=data,
            content_sha256=content_sha256,
            prev_sha256=prev,
        )
        event.save(force_insert=True)
        if body is not None:
            AuditContent.objects.create(event=event, body=body)
    return event
