"""Small filters for the auditor pages."""

from __future__ import annotations

import datetime as dt
import json

from django import template

from audit import selectors
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


# Chunks record their heading path as one string joined by documents' HEADING_SEPARATOR (audit
# imports no feature app, so it is named here); a list is taken too.
_HEADING_SEPARATOR = " > "


def _headings(value) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(_HEADING_SEPARATOR) if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value if str(part).strip()]
    return []


@register.filter
def section(passage) -> str:
    """A passage's place in its document, "Part 1 › 2 Passwords and sign-in" (the document's own
    title, which heads most paths, left out: it is shown beside), with its anchor when that adds
    something (a page number) rather than restating the heading; "" when there is none."""
    if not isinstance(passage, dict):
        return ""
    title = str(passage.get("document_title") or "").strip().casefold()
    headings = [h for h in _headings(passage.get("heading_path") or passage.get("section")) if h.casefold() != title]
    text = " › ".join(headings)
    anchor = str(passage.get("anchor") or "").strip()
    restated = {h.casefold() for h in headings} | {f"section {h}".casefold() for h in headings}
    if anchor and anchor.casefold() not in restated:
        text = f"{text} ({anchor})" if text else anchor
    return text


@register.filter
def sig3(value) -> str:
    """A score to three significant figures (0.0327868852459016 -> 0.0328); "—" when not recorded."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—" if value in (None, "") else str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


@register.filter
def ms(value) -> str:
    """A recorded time ("0 ms" is a time: it took under a millisecond); "not recorded" when none was."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not recorded"
    return f"{value:.0f} ms" if float(value).is_integer() else f"{value:.1f} ms"


@register.filter
def error_code(event) -> str:
    """The answer's error code, or the code of the model that failed before the guidance was quoted."""
    return selectors.error_code(event.data) if isinstance(event.data, dict) else ""


@register.filter
def model_failed(event) -> tuple[str, str] | None:
    """(model name, error code) when the guidance was quoted because the model failed; else None."""
    return selectors.model_failure(event.data) if event.action == "answer" else None


@register.filter
def money(cost) -> str:
    """A recorded cost as an amount ("£0.0042"), or "not priced" when no rate was configured."""
    amount = cost.get("amount") if isinstance(cost, dict) else None
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return "not priced"
    digits = f"{amount:.6f}".rstrip("0")
    whole, _, fraction = digits.partition(".")
    digits = f"{whole}.{fraction.ljust(2, '0')}"
    currency = cost.get("currency") or ""
    return f"£{digits}" if currency == "GBP" else f"{digits} {currency}".strip()


# Whether the document versions an answer quoted have since been replaced by a newer searchable
# version is the documents' to know, and the audit app imports no feature app: the assistant
# registers the check when it starts (``register_superseded_check``); each takes version ids and
# returns those replaced, in one query.
_superseded_checks: list = []


def register_superseded_check(check) -> None:
    if check not in _superseded_checks:
        _superseded_checks.append(check)


@register.simple_tag
def superseded_versions(passages) -> set:
    """Of the versions ``passages`` (a trace's) quote, the ids of those replaced since."""
    ids = [p.get("version_id") for p in passages or [] if isinstance(p, dict) and p.get("version_id") is not None]
    found: set = set()
    for check in _superseded_checks if ids else []:
        found |= set(check(ids))
    return found


_REVIEW_WORDS = {
    "none": "no review date",
    "current": "current",
    "due": "due for review soon",
    "overdue": "overdue for review",
    "expired": "expired (past its review date, no longer searched)",
}


@register.filter
def review_at_answer(passage) -> str:
    """How fresh a passage's document was when the answer was given, as recorded: "overdue for
    review (review by 1 March 2026)"; "not recorded" for answers from before it was."""
    if not isinstance(passage, dict) or not passage.get("review_status"):
        return "not recorded"
    words = _REVIEW_WORDS.get(str(passage["review_status"]), str(passage["review_status"]))
    try:
        day = dt.date.fromisoformat(str(passage.get("review_by")))
    except ValueError:
        return words
    return f"{words} (review by {day.day} {day.strftime('%B %Y')})"
