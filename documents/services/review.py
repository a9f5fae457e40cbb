"""Owners and review dates: a curator sets them, confirms a document still correct, and owners are
reminded of what is due (``documents.review`` says where each document stands).

Names are ``<entity>_<action>``. Each change records an audit event (``curation.document_review``)
last in the same transaction, and copies the document's expiry onto its chunks
(``documents.lifecycle.document_expiry_refresh``) so retrieval stops, or starts again, searching it
from the moment the change commits. A collection's review period or expiry changes every one of its
documents' expiry at once (``collection_expiry_refresh``, called by ``collection_update``).

Reminders (``review_reminders_send``): one email a day to each owner listing their documents due,
overdue or expired, recorded in ``ReviewReminder`` (unique per owner and day) so a second run the
same day sends nothing. The worker runs it daily (``documents.tasks.review_reminders_task``, queued
by ``review_reminders_schedule``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audit.actions import Action
from audit.services import audit_record

from ..lifecycle import document_expiry_refresh
from ..models import Chunk, Collection, Document, Marking, ReviewReminder
from ..review import Review, ReviewStatus, add_months, review_of, search_until
from ..subjects import audit_subject

ACTION = Action.DOCUMENT_REVIEW
#: The period "reviewed, still correct" looks ahead by in a collection without one (review_months 0).
DEFAULT_CONFIRM_MONTHS = 12
#: What needs a curator's attention, and what an owner is reminded of.
ATTENTION = (ReviewStatus.DUE, ReviewStatus.OVERDUE, ReviewStatus.EXPIRED)


def _facts(document: Document, review: Review) -> dict:
    return {
        "collection_id": document.collection_id,
        "document_id": document.pk,
        "version_id": document.current_version_id,
        "review_by": review.review_by.isoformat() if review.review_by else None,
        "review_by_source": review.source,
        "review_status": str(review.status),
    }


def _locked(document: Document) -> Document:
    return (
        Document.objects.select_for_update(of=("self",))
        .select_related("collection", "current_version")
        .get(pk=document.pk)
    )


def document_review_set(*, document: Document, user, owner_email: str, review_by: dt.date | None) -> Document:
    """Set who owns ``document`` and its review date (``None``: the file's own date, else the
    collection's period). A date set here is kept across new versions while it is ahead; a new
    version clears it once it has passed (``ingest.pipeline.review_date_lapses``). A date already
    past is taken (it may be the true one, and it is how a curator stops an out-of-date document
    being searched); the page that set it says what it does."""
    owner_email = (owner_email or "").strip()
    if not owner_email:
        raise ValidationError("Enter the owner's email address.")
    validate_email(owner_email)
    with transaction.atomic():
        document = _locked(document)
        before = review_of(document)
        previous_owner = document.owner_email
        changes: list[str] = []
        if owner_email != document.owner_email:
            document.owner_email = owner_email
            changes.append("owner_email")
        source = "curator" if review_by else ""
        if review_by != document.review_by or source != document.review_by_source:
            document.review_by, document.review_by_source = review_by, source
            changes += ["review_by", "review_by_source"]
        if not changes:
            return document
        document.save(update_fields=[*changes, "updated_at"])
        document_expiry_refresh(document)
        after = review_of(document)
        audit_record(
            action=ACTION,
            actor=user,
            outcome="set",
            subject=audit_subject(document),
            data={
                **_facts(document, after),
                "changed": sorted(changes),
                "previous_review_by": before.review_by.isoformat() if before.review_by else None,
                "previous_review_status": str(before.status),
            },
            content={"owner_email": owner_email, "previous_owner_email": previous_owner}
            if "owner_email" in changes
            else None,
        )
    return document


def document_review_confirm(*, document: Document, user, today: dt.date | None = None) -> Document:
    """ "Reviewed, still correct": the next review date is today plus the collection's period (12 months
    where it has none), no new upload needed. An expired document is searched again at once."""
    today = today or timezone.localdate()
    with transaction.atomic():
        document = _locked(document)
        if document.current_version_id is None:
            raise ValidationError("This document has no version to confirm yet.")
        before = review_of(document, today=today)
        months = document.collection.review_months or DEFAULT_CONFIRM_MONTHS
        document.review_by = add_months(today, months)
        document.review_by_source = "reviewed"
        document.reviewed_at = timezone.now()
        document.save(update_fields=["review_by", "review_by_source", "reviewed_at", "updated_at"])
        document_expiry_refresh(document)
        audit_record(
            action=ACTION,
            actor=user,
            outcome="confirmed",
            subject=audit_subject(document),
            data={
                **_facts(document, review_of(document, today=today)),
                "previous_review_by": before.review_by.isoformat() if before.review_by else None,
                "previous_review_status": str(before.status),
            },
        )
    return document


def collection_expiry_refresh(collection: Collection) -> int:
    """Copy every document's expiry onto its current version's chunks after the collection's review
    period or expiry changed: one query for the documents, one update per distinct expiry (not one per
    document). Returns the number of chunks changed. Call it inside the transaction that changed it."""
    documents = Document.objects.filter(collection_id=collection.pk, current_version__isnull=False).select_related(
        "collection", "current_version"
    )
    versions_by_until: dict[dt.datetime | None, list[int]] = defaultdict(list)
    for document in documents:
        versions_by_until[search_until(review_of(document))].append(document.current_version_id)
    changed = 0
    for until, version_ids in versions_by_until.items():
        changed += (
            Chunk.objects.filter(version_id__in=version_ids).exclude(search_until=until).update(search_until=until)
        )
    return changed


# --- The work list and reminders ------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    document: Document
    review: Review

    @property
    def owner(self) -> str:
        return document_owner(self.document)


def document_owner(document: Document) -> str:
    """Who is reminded: the document's owner, else its collection's owner (collection loaded)."""
    if document.owner_email:
        return document.owner_email
    owner = document.collection.owner
    return owner.email if owner is not None else ""


def documents_needing_review(collections, *, today: dt.date | None = None) -> list[ReviewItem]:
    """Active documents of ``collections`` (a queryset) due, overdue or expired, in one query."""
    today = today or timezone.localdate()
    documents = (
        Document.objects.filter(
            collection__in=collections,
            collection__is_active=True,
            is_active=True,
            current_version__isnull=False,
        )
        .select_related("collection__owner", "current_version")
        .order_by("pk")
    )
    items = [ReviewItem(document, review_of(document, today=today)) for document in documents]
    return [item for item in items if item.review.status in ATTENTION]


def site_url() -> str:
    """Where links in emails point: ``HUMPHREY_SITE_URL``, else the
    first of ``CSRF_TRUSTED_ORIGINS``; "" leaves links relative."""
    url = settings.HUMPHREY_SITE_URL
    if not url and settings.CSRF_TRUSTED_ORIGINS:
        url = settings.CSRF_TRUSTED_ORIGINS[0]
    return url.rstrip("/")


@dataclass
class ReminderRun:
    today: dt.date
    sent: dict[str, list[int]] = field(default_factory=dict)  # owner -> document ids
    already_sent: list[str] = field(default_factory=list)  # owners reminded earlier today
    no_owner: int = 0  # documents needing review with nobody to remind


_STATUS_WORDS = {
    ReviewStatus.DUE: "due for review by {date}",
    ReviewStatus.OVERDUE: "overdue: due for review since {date}",
    ReviewStatus.EXPIRED: "expired: past its review date ({date}) and no longer searched",
}


def _reminder_text(items: list[ReviewItem], base: str) -> tuple[str, str]:
    count = len(items)
    subject = f"{count} document{'s' if count != 1 else ''} for you to review"
    lines = [
        "These documents you own need reviewing. Check each is still correct, then either upload a new "
        "version or mark it “reviewed, still correct” on the review list.",
        "",
    ]
    for item in sorted(items, key=lambda i: (i.review.review_by, i.document.title)):
        document, review = item.document, item.review
        when = f"{review.review_by.day} {review.review_by.strftime('%B %Y')}"
        # Email leaves the service: what is marked above OFFICIAL is named only behind the link.
        if Marking.rank(document.collection.marking) > Marking.rank(Marking.OFFICIAL):
            named = f"A document in a collection marked {document.collection.marking} (its title is on the page)"
        else:
            named = f"{document.title} ({document.collection.name})"
        lines += [
            f"- {named}",
            f"  {_STATUS_WORDS[review.status].format(date=when)}",
            f"  {base}{reverse('documents:document', args=[document.pk])}",
        ]
    lines += ["", f"All documents due for review: {base}{reverse('documents:review')}"]
    return subject, "\n".join(lines)


def review_reminders_send(*, today: dt.date | None = None) -> ReminderRun:
    """Email each owner their documents due, overdue or expired, once a day.

    Each owner's email is recorded (``ReviewReminder``) in the same transaction as it is sent: a
    second run the same day finds the record and sends nothing; a failed send records nothing, so the
    next run tries again."""
    run = ReminderRun(today=today or timezone.localdate())
    by_owner: dict[str, list[ReviewItem]] = defaultdict(list)
    for item in documents_needing_review(Collection.objects.all(), today=run.today):
        owner = item.owner.strip().lower()
        if owner:
            by_owner[owner].append(item)
        else:
            run.no_owner += 1
    done = set(
        ReviewReminder.objects.filter(sent_on=run.today, owner_email__in=list(by_owner)).values_list(
            "owner_email", flat=True
        )
    )
    base = site_url()
    for owner, items in sorted(by_owner.items()):
        if owner in done:
            run.already_sent.append(owner)
            continue
        ids = sorted(item.document.pk for item in items)
        subject, body = _reminder_text(items, base)
        try:
            with transaction.atomic():
                reminder = ReviewReminder.objects.create(owner_email=owner, sent_on=run.today, documents=ids)
                audit_record(
                    action=Action.REVIEW_REMINDER,
                    outcome="sent",
                    subject=audit_subject(reminder),
                    data={"owner_email": owner, "document_ids": ids, "sent_on": run.today.isoformat()},
                )
                send_mail(subject, body, None, [owner])
        except IntegrityError:  # another run reminded them a moment ago
            run.already_sent.append(owner)
            continue
        run.sent[owner] = ids
    return run


def next_reminder_time(now: dt.datetime | None = None) -> dt.datetime:
    """When the daily reminders run next: tomorrow at ``HUMPHREY_REVIEW_REMINDER_HOUR`` local time."""
    now = timezone.localtime(now)
    hour = settings.HUMPHREY_REVIEW_REMINDER_HOUR
    tomorrow = now.date() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(hour)))


def review_reminders_pending(*, include_running: bool = True) -> bool:
    """Whether a reminders task is already waiting in the database backend's queue (or running)."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from ..tasks import review_reminders_task

    statuses = [TaskResultStatus.READY] + ([TaskResultStatus.RUNNING] if include_running else [])
    return DBTaskResult.objects.filter(task_path=review_reminders_task.module_path, status__in=statuses).exists()


def review_reminders_schedule(*, run_after: dt.datetime | None = None, from_task: bool = False):
    """Queue the daily reminders task to run at ``run_after`` (default: the next reminder time) unless
    one is already waiting; returns the queued result, or None when one was there. Needs a backend
    that can defer (``django_tasks_db``); raises ``ValidationError`` otherwise (use cron instead)."""
    from ..tasks import review_reminders_task

    task = review_reminders_task.using(run_after=run_after or next_reminder_time())
    if not task.get_backend().supports_defer:
        raise ValidationError(
            "The task backend cannot run a task later (HUMPHREY_TASKS_IMMEDIATE is on?): "
            "run `python manage.py send_review_reminders` daily from cron instead."
        )
    # The running task re-queues itself: only a waiting one counts then.
    if review_reminders_pending(include_running=not from_task):
        return None
    return task.enqueue()
