"""What the site holds about one person beyond the audit trail, for a subject-access request.

The trail records what a person did; the apps also *store* things about them that a subject-access
request (UK GDPR article 15) must include: their account, their conversations as they now read them
(titles they renamed, questions and answers not yet purged), their ratings and comments. The audit
app depends on no feature app, so each app registers a reader of its own records
(``register_personal_records``); this module puts them together with the account, as one JSON
document signed like an export's manifest, so a copy handed to the person or their representative
can be shown to be the site's and unaltered.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from audit.actions import Action
from audit.export_signing import ExportKey, sign_manifest
from audit.models import AuditEvent, LegalHold

FORMAT = "humphrey-subject-access-records/1"

_readers: dict[str, Callable[..., list[dict]]] = {}


def register_personal_records(name: str, read: Callable[..., list[dict]]) -> None:
    """Register an app's reader of what it stores about a person: ``read(user)`` returns a list of
    JSON-able dicts (everything personal a record holds, nothing secret). The assistant registers
    "conversations" and "feedback" in its ``AppConfig.ready``."""
    _readers[name] = read


def _account(user) -> dict:
    """The account as stored: who, which groups (roles and readable collections come from them),
    whether two-factor sign-in is set up (never its secrets)."""
    from allauth.mfa.models import Authenticator

    return {
        "id": user.pk,
        "email": user.email,
        "name": user.get_full_name() if hasattr(user, "get_full_name") else "",
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "two_factor": sorted(Authenticator.objects.filter(user=user).values_list("type", flat=True)),
    }


def _processing(user) -> dict:
    """What UK GDPR article 15(1) asks besides the data: how long it is kept, who it went to, and
    what keeps it longer (legal holds)."""
    from audit.integrity import holds_in_force

    days = settings.HUMPHREY_RETENTION_DAYS
    in_force = {hold.pk for hold in holds_in_force()}
    answers = AuditEvent.objects.filter(action=Action.ANSWER, actor=user) if user else AuditEvent.objects.none()
    services = set()
    for model in answers.values_list("data__model", flat=True):
        if isinstance(model, dict) and model.get("host"):
            services.add((str(model.get("provider") or ""), str(model["host"]), str(model.get("name") or "")))
    holds = LegalHold.objects.filter(user=user).order_by("created_at") if user else LegalHold.objects.none()
    return {
        "retention": f"What people asked and were told (questions, answers, titles, comments) is removed "
        f"{days} days after it was written, unless a legal hold keeps it; the record that it happened is kept.",
        "retention_days": days,
        "sent_to_language_model_services": [
            {"provider": provider, "host": host, "model": name} for provider, host, name in sorted(services)
        ],
        # When, not why: a hold's reason may name a case the person must not be told of (review it).
        "legal_holds": [{"placed_at": hold.created_at, "in_force": hold.pk in in_force} for hold in holds],
    }


def personal_records(email: str) -> dict:
    """Everything stored about the person with ``email`` (no account: only that there is none)."""
    user = get_user_model().objects.filter(email__iexact=email).first()
    records: dict = {"account": _account(user) if user else None}
    for name, read in sorted(_readers.items()):
        records[name] = read(user) if user else []
    records["processing"] = _processing(user)
    return records


def records_document(email: str, records: dict, *, head: dict, key: ExportKey, purpose: str = "") -> str:
    """The signed JSON document handed over: the records, whose they are, as of which audit event,
    for which request (the reason the auditor gave)."""
    document = {
        "format": FORMAT,
        "subject_access": email,
        "purpose": purpose,
        "exported_at": timezone.now(),
        "head": head,
        "counts": {name: len(value) for name, value in records.items() if isinstance(value, list)},
        "records": records,
    }
    # Signed as it will be read back (through JSON), like an export's manifest.
    plain = json.loads(json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False))
    return json.dumps(sign_manifest(plain, key), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
