"""Small filters for the auditor pages."""

from __future__ import annotations

import datetime as dt
import json

from django import template

from audit.services import NO_CONTENT

register = template.Library()

_OUTCOME_TAGS = {
    "answered": "govuk-tag--green",
    "up": "govuk-tag--green",
    "success": "govuk-tag--green",
    "ok": "govuk-tag--green",
    "no_answer": "govuk-tag--yellow",
    "stopped": "govuk-tag--grey",
    "stalled": "govuk-tag--orange",
    "refused": "govuk-tag--purple",
    "error": "govuk-tag--red",
    "failure": "govuk-tag--red",
    "failed": "govuk-tag--red",
    "down": "govuk-tag--red",
}


@register.filter
def utc(value: dt.datetime | None) -> dt.datetime | None:
    """Audit times are shown in UTC, the time the digests carry."""
    return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else value


@register.filter
def outcome_tag(outcome: str) -> str:
    return _OUTCOME_TAGS.get(outcome, "govuk-tag--blue")


@register.filter
def feedback_label(rating: str) -> str:
    return {"up": "Helpful", "down": "Not helpful"}.get(rating, rating or "")


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def purged(event) -> bool:
    """Content was recorded for this event but is no longer held (retention purge)."""
    present = getattr(event, "content_present", None)
    return event.content_sha256 != NO_CONTENT and present is None


@register.filter
def who(event) -> str:
    """The actor as recorded, or for a failed sign-in the address that was tried."""
    data = event.data if isinstance(event.data, dict) else {}
    return event.actor_label or (f"{data['email']} (not signed in)" if data.get("email") else "—")
