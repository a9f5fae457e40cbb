"""Writing audit events. ``audit_record`` is the only way anything enters the audit trail.

The hashing scheme (stable: other code and old events rely on it):

- ``content_sha256`` = SHA-256 of the canonical JSON of the content (``NO_CONTENT``, 64 zeros, when none);
- ``sha256`` = SHA-256 of the canonical JSON of ``{seq, created_at (UTC ISO, microseconds), action,
  outcome, actor_id, actor_label, subject, data, content_sha256, prev_sha256}``;
- ``prev_sha256`` = the previous event's ``sha256`` (``GENESIS``, 64 zeros, for the first).
- ``mac`` = HMAC-SHA-256 of ``sha256`` under the audit key (``audit.anchor.event_signature``), which
  is not in the database: an event appended with the database login alone cannot carry a valid one.

Canonical JSON: sorted keys, no spaces, UTF-8, no NaN. The texts hashed are stored beside the
``jsonb`` columns, because ``jsonb`` does not give every number back as it was written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.actions import Action
from audit.anchor import checkpoint_after_commit, event_signature
from audit.context import command_facts, current_request, request_facts
from audit.models import AuditContent, AuditEvent

GENESIS = "0" * 64
NO_CONTENT = GENESIS  # content_sha256 of an event written without content
# Any constant works; it only has to be the same for every writer of the chain.
_CHAIN_LOCK_KEY = 0x48554D50  # "HUMP"
_encoder = DjangoJSONEncoder()


def _clean(value: Any) -> Any:
    """``value`` as plain JSON types that PostgreSQL will accept, losing nothing a reader needs.

    Dates, decimals and UUIDs become strings (as DjangoJSONEncoder writes them); tuples and sets
    become lists; keys become strings; NaN and infinities become the strings "NaN", "Infinity",
    "-Infinity" (JSON has no such numbers); NUL characters and lone surrogates, which PostgreSQL
    text cannot hold, become U+FFFD.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
        return value
    if isinstance(value, dict):
        return {_key(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_clean(item) for item in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    return _clean(_encoder.default(value))


def _key(key: Any) -> str:
    """A mapping key as JSON would write it (``True`` -> "true", ``1`` -> "1")."""
    if isinstance(key, str):
        return _clean(key)
    cleaned = _clean(key)
    return cleaned if isinstance(cleaned, str) else json.dumps(cleaned)


def canonical_json(value: Any) -> str:
    """The one serialisation hashed: sorted keys, no spaces, UTF-8 text, dates in ISO form."""
    return json.dumps(
        value, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_digest(body: Any) -> str:
    return sha256_text(canonical_json(body))


#: What an event's digest covers, in the order ``event_payload`` names them: every reader of the
#: trail that recomputes digests (verification, exports, the export check) reads these.
HASHED_FIELDS = (
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
)


def event_payload(
    *,
    seq: int,
    created_at: dt.datetime,
    action: str,
    outcome: str,
    actor_id: int | None,
    actor_label: str,
    subject: str,
    data: Any,
    content_sha256: str,
    prev_sha256: str,
) -> str:
    """The canonical text of everything an event says, including its predecessor's digest."""
    payload = {
        "seq": seq,
        "created_at": created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "action": action,
        "outcome": outcome,
        "actor_id": actor_id,
        "actor_label": actor_label,
        "subject": subject,
        "data": data,
        "content_sha256": content_sha256,
        "prev_sha256": prev_sha256,
    }
    return canonical_json(payload)


def event_digest(**fields: Any) -> str:
    """Digest of everything an event says (keyword arguments as ``event_payload``)."""
    return sha256_text(event_payload(**fields))


def audit_record(
    *,
    action: Action,
    actor=None,
    outcome: str = "",
    subject: str = "",
    data: dict | None = None,
    content: dict | None = None,
    request=None,
) -> AuditEvent:
    """Append one event to the chain and return it.

    Call it inside the transaction that makes the change it records, so both commit or neither
    does, and call it last in that transaction: the chain lock it takes is held until commit, so
    every other writer waits for the rest of the transaction. Use READ COMMITTED (Django's default).

    ``data`` holds facts that may be kept forever (ids, timings, model, usage, outcome codes);
    ``content`` holds what people wrote or were shown, which the retention purge may remove.
    ``request`` (or, by default, the HTTP request being served) adds the client's IP address and
    request id to ``data`` as ``ip`` / ``request_id`` unless ``data`` already has them.
    Writers are serialised by a transaction-scoped advisory lock, so concurrent writers cannot
    fork the chain, and a rolled-back writer leaves no gap. Once the event commits, the head is
    anchored outside the database (``audit.anchor``).
    """
    try:
        action = Action(action)
    except ValueError:
        raise ValueError(f"{action!r} is not an audit action: add it to audit.actions.Action") from None
    data = _clean(dict(data or {}))
    request = request if request is not None else current_request.get()
    # Outside a request, the command that wrote it (manage.py ...), for who and from where.
    for key, value in (request_facts(request) if request is not None else command_facts()).items():
        data.setdefault(key, value)
    body = _clean(content) if content is not None else None
    content_text = canonical_json(body) if body is not None else ""
    content_sha256 = sha256_text(content_text) if body is not None else NO_CONTENT
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    actor_label = (getattr(actor, "email", "") or getattr(actor, "username", "")) if actor_id else ""
    outcome, subject, actor_label = _clean(outcome)[:64], _clean(subject)[:200], _clean(actor_label)[:254]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-seq").values("seq", "sha256").first()
        seq = (last["seq"] + 1) if last else 1
        prev = last["sha256"] if last else GENESIS
        # Taken under the lock, so time never runs backwards along the chain. Python datetimes
        # carry microseconds, exactly what PostgreSQL's timestamptz stores.
        created_at = timezone.now()
        text = event_payload(
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
            sha256=(digest := sha256_text(text)),
            canonical=text,
            mac=event_signature(digest),
        )
        event.save(force_insert=True)
        if body is not None:
            AuditContent.objects.create(event=event, body=body, canonical=content_text)
    checkpoint_after_commit(event.seq, event.sha256)
    return event
