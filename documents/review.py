"""Guidance that stays true: each document's review date and where it stands against it.

A document's review date is, first of these that exists: the date a curator set (or the next one set
by confirming it still correct), the date in the current version's own file (front matter
``review_by:``, DOCX core properties), or the current version's upload plus its collection's review
period (``Collection.review_months``; 0 means no review dates). Against today it is:

- ``current``: more than ``DUE_DAYS`` away;
- ``due``: within ``DUE_DAYS``;
- ``overdue``: past it (still searched, shown as "due for review since ...");
- ``expired``: past it by more than the collection's ``expire_after_days``: no longer searched
  (``Chunk.search_until``, kept by ``documents.lifecycle``).

Plain functions of the rows they are given (no queries of their own), so pages, frames and the audit
compute many documents' statuses from one query.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from dataclasses import dataclass

from django.utils import timezone

DUE_DAYS = 30


class ReviewStatus(enum.StrEnum):
    NONE = "none"  # no review date: the collection has no review period
    CURRENT = "current"
    DUE = "due"
    OVERDUE = "overdue"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Review:
    status: ReviewStatus
    review_by: dt.date | None
    source: str  # curator | reviewed | file | collection | ""
    expires_on: dt.date | None = None  # when it stops being searched, if its collection says so

    @property
    def needs_attention(self) -> bool:
        return self.status in (ReviewStatus.DUE, ReviewStatus.OVERDUE, ReviewStatus.EXPIRED)

    def as_facts(self) -> dict:
        """For frames and the audit trail: plain JSON."""
        return {
            "review_status": str(self.status),
            "review_by": self.review_by.isoformat() if self.review_by else None,
        }

    def note(self) -> str:
        """What a reader is told beside a citation ("" when nothing needs saying)."""
        when = _long_date(self.review_by) if self.review_by else ""
        if self.status == ReviewStatus.OVERDUE:
            return f"due for review since {when}"
        if self.status == ReviewStatus.EXPIRED:
            return f"past its review date ({when}) and no longer searched"
        return ""


def _long_date(day: dt.date) -> str:
    return f"{day.day} {day.strftime('%B %Y')}"


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def review_date(
    *,
    document_review_by: dt.date | None,
    document_source: str,
    version_review_by: dt.date | None,
    uploaded_at: dt.datetime | None,
    review_months: int,
) -> tuple[dt.date | None, str]:
    """The review date and where it came from (see the module's docstring)."""
    if document_review_by:
        return document_review_by, document_source or "curator"
    if version_review_by:
        return version_review_by, "file"
    if review_months and uploaded_at:
        return add_months(timezone.localdate(uploaded_at), review_months), "collection"
    return None, ""


def review_of(document, *, today: dt.date | None = None) -> Review:
    """``document``'s review (its ``current_version`` and ``collection`` loaded by the caller)."""
    version = document.current_version
    collection = document.collection
    review_by, source = review_date(
        document_review_by=document.review_by,
        document_source=document.review_by_source,
        version_review_by=version.review_by if version else None,
        uploaded_at=version.uploaded_at if version else None,
        review_months=collection.review_months,
    )
    return review_status(review_by, source, collection.expire_after_days, today=today)


def review_status(
    review_by: dt.date | None, source: str, expire_after_days: int | None, *, today: dt.date | None = None
) -> Review:
    if review_by is None:
        return Review(ReviewStatus.NONE, None, source)
    today = today or timezone.localdate()
    expires_on = review_by + dt.timedelta(days=expire_after_days) if expire_after_days is not None else None
    if expires_on is not None and today > expires_on:
        status = ReviewStatus.EXPIRED
    elif today > review_by:
        status = ReviewStatus.OVERDUE
    elif today >= review_by - dt.timedelta(days=DUE_DAYS):
        status = ReviewStatus.DUE
    else:
        status = ReviewStatus.CURRENT
    return Review(status, review_by, source, expires_on)


def search_until(review: Review) -> dt.datetime | None:
    """When a document with this review stops being searched: the end of its expiry day, local time."""
    if review.expires_on is None:
        return None
    midnight = dt.datetime.combine(review.expires_on + dt.timedelta(days=1), dt.time.min)
    return timezone.make_aware(midnight)
