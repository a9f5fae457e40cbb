"""Owners and review dates on the curators' pages (issue 22): the review list and its isolation,
"reviewed, still correct" (which brings an expired document back into search), a collection's expiry
on search, the collection and document forms, and reminders sent once per owner per day.
(tests/documents/test_review.py: statuses, file dates, owners and new versions.)"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditEvent
from documents.models import Chunk, Collection, Document, ReviewReminder
from documents.retrieval import passages_for_user
from documents.review import ReviewStatus, add_months, review_of
from documents.services import collection_update
from documents.services.review import document_review_confirm, document_review_set
from tests.conftest import signed_in
from tests.documents.files import upload_and_ingest
from tests.documents.test_review import TODAY, _markdown

pytestmark = pytest.mark.django_db


# --- Pages ----------------------------------------------------------------------------------


def _overdue(collection, curator, name: str, *, days_past: int = 10) -> Document:
    version = upload_and_ingest(collection, name, _markdown(f"x: {name}"), curator)
    document = Document.objects.get(pk=version.document_id)
    past = timezone.localdate() - dt.timedelta(days=days_past)
    return document_review_set(document=document, user=curator, owner_email=curator.email, review_by=past)


def test_work_list_shows_only_the_curators_collections(client, make_collection, curator, make_user):
    travel = make_collection("travel")
    _overdue(travel, curator, "claims.md")
    tomas = make_user("tomas@example.gov.uk", roles=[Role.CURATOR])
    hr = make_collection("hr", owner=tomas)
    _overdue(hr, tomas, "leave.md")
    upload_and_ingest(travel, "fresh.md", _markdown("x: 2"), curator)  # current: not listed

    page = signed_in(client, curator).get(reverse("documents:review"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Claims" in html or "Travel claims" in html
    assert html.count('data-document="') == 1
    assert "Overdue" in html
    # "Upload a new version" leads to that document's own upload, which takes a file of any name.
    claims = Document.objects.get(collection=travel, source_name="claims.md")
    assert f'href="/curate/documents/{claims.pk}/#new-version">Upload a new version' in html
    client.logout()
    tomas_page = signed_in(client, tomas).get("/curate/review/").content.decode()
    assert tomas_page.count('data-document="') == 1
    assert f'data-document="{Document.objects.get(collection=travel, source_name="claims.md").pk}"' not in tomas_page


def test_a_curator_of_another_collection_sees_none_and_cannot_confirm(client, make_collection, curator, make_user):
    document = _overdue(make_collection("travel"), curator, "claims.md")
    stranger = make_user("sam@example.gov.uk", roles=[Role.CURATOR])
    signed_in(client, stranger)
    assert 'data-document="' not in client.get("/curate/review/").content.decode()
    assert client.post(reverse("documents:document_reviewed", args=[document.pk])).status_code == 404
    client.logout()
    reader = make_user("casey@example.gov.uk", groups=["All staff"])
    signed_in(client, reader)
    assert client.get("/curate/review/").status_code == 403


def test_work_list_sorts(client, make_collection, curator):
    collection = make_collection("travel")
    a = _overdue(collection, curator, "a.md", days_past=5)
    b = _overdue(collection, curator, "b.md", days_past=50)
    document_review_set(document=b, user=curator, owner_email="aaron@example.gov.uk", review_by=b.review_by)
    signed_in(client, curator)

    def order(sort):
        html = client.get("/curate/review/", {"sort": sort}).content.decode()
        return [int(pk) for pk in re.findall(r'data-document="(\d+)"', html)]

    assert order("review_by") == [b.pk, a.pk]
    assert order("-review_by") == [a.pk, b.pk]
    assert order("owner") == [b.pk, a.pk]  # aaron@ before cara@
    assert order("-owner") == [a.pk, b.pk]
    assert order("nonsense") == [b.pk, a.pk]


def test_reviewed_still_correct_sets_the_next_date_audits_and_brings_an_expired_document_back(
    client, make_collection, curator, make_user
):
    collection = make_collection("travel")
    collection_update(collection=collection, user=curator, review_months=6, expire_after_days=3)
    reader = make_user("casey@example.gov.uk", groups=["All staff"])
    document = _overdue(collection, curator, "claims.md", days_past=10)
    document = Document.objects.select_related("collection", "current_version").get(pk=document.pk)
    assert review_of(document).status == ReviewStatus.EXPIRED
    assert passages_for_user(user=reader, query="travel claims receipts", collections=["travel"], k=5) == []

    signed_in(client, curator)
    response = client.post(
        reverse("documents:document_reviewed", args=[document.pk]), {"next": "/curate/review/?sort=owner"}
    )
    assert response.status_code == 302 and response["Location"] == "/curate/review/?sort=owner"
    document.refresh_from_db()
    assert document.review_by == add_months(timezone.localdate(), 6)
    assert document.review_by_source == "reviewed" and document.reviewed_at is not None
    event = AuditEvent.objects.get(action="curation.document_review", outcome="confirmed")
    assert event.actor_id == curator.pk
    assert event.data["previous_review_status"] == "expired" and event.data["review_status"] == "current"
    found = passages_for_user(user=reader, query="travel claims receipts", collections=["travel"], k=5)
    assert [p.document_id for p in found] == [document.pk]
    assert 'data-document="' not in client.get("/curate/review/").content.decode()


def test_reviewed_in_a_collection_without_a_period_looks_twelve_months_ahead(make_collection, curator):
    collection = make_collection("travel")
    collection_update(collection=collection, user=curator, review_months=0)
    document = _overdue(collection, curator, "claims.md")
    document_review_confirm(document=document, user=curator, today=TODAY)
    document.refresh_from_db()
    assert document.review_by == dt.date(2027, 6, 15)


def test_a_collections_expiry_takes_effect_on_search(make_collection, curator, make_user):
    collection = make_collection("travel")
    reader = make_user("casey@example.gov.uk", groups=["All staff"])
    document = _overdue(collection, curator, "claims.md", days_past=10)

    def found():
        return [p.document_id for p in passages_for_user(user=reader, query="travel claims", collections=["travel"])]

    assert found() == [document.pk]  # overdue, no expiry: still searched
    collection_update(collection=collection, user=curator, expire_after_days=3)
    assert found() == []
    event = AuditEvent.objects.filter(action="curation.collection_update").latest("seq")
    assert event.data["expire_after_days"] == 3 and event.data["previous_expire_after_days"] is None
    assert event.data["chunks_expiry_changed"] >= 1
    collection_update(collection=collection, user=curator, expire_after_days=30)
    assert found() == [document.pk]
    collection_update(collection=collection, user=curator, expire_after_days=None)
    assert Chunk.objects.filter(version__document=document, search_until__isnull=False).count() == 0


def test_collection_edit_form_sets_the_period_and_expiry(client, make_collection, curator):
    collection = make_collection("travel")
    signed_in(client, curator)
    url = reverse("documents:collection_edit", args=[collection.slug])
    assert "Review period in months" in client.get(url).content.decode()
    form = {"name": collection.name, "description": "", "marking": collection.marking}
    response = client.post(url, {**form, "review_months": "6", "expire_after_days": "14"})
    assert response.status_code == 302
    collection.refresh_from_db()
    assert (collection.review_months, collection.expire_after_days) == (6, 14)
    client.post(url, {**form, "review_months": "6", "expire_after_days": ""})
    collection.refresh_from_db()
    assert collection.expire_after_days is None
    bad = client.post(url, {**form, "review_months": "-1", "expire_after_days": "x"})
    assert bad.status_code == 400
    assert "The review period cannot be negative" in bad.content.decode()


def test_document_page_sets_owner_and_date(client, make_collection, curator):
    collection = make_collection("travel")
    version = upload_and_ingest(collection, "claims.md", _markdown("x: 1"), curator)
    url = reverse("documents:document", args=[version.document_id])
    signed_in(client, curator)
    page = client.get(url).content.decode()
    assert curator.email in page and "Review by" in page
    action = reverse("documents:document_review", args=[version.document_id])
    response = client.post(
        action,
        {
            "owner_email": "travel-team@example.gov.uk",
            "review_from": "date",
            "review_day": "1",
            "review_month": "3",
            "review_year": "2027",
        },
    )
    assert response.status_code == 302
    document = Document.objects.get(pk=version.document_id)
    assert (document.owner_email, document.review_by, document.review_by_source) == (
        "travel-team@example.gov.uk",
        dt.date(2027, 3, 1),
        "curator",
    )
    bad = client.post(action, {"owner_email": "nobody", "review_from": "date", "review_day": "31", "review_month": "2"})
    assert bad.status_code == 400
    html = bad.content.decode()
    # A date without its year is incomplete, said as GOV.UK's date input says it.
    assert "Enter an email address in the correct format" in html and "Review date must include a year" in html


# --- Reminders ------------------------------------------------------------------------------


def test_reminders_go_once_per_owner_per_day(make_collection, curator, make_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.HUMPHREY_SITE_URL = "https://humphrey.example.gov.uk"
    collection = make_collection("travel")
    a = _overdue(collection, curator, "a.md")
    b = _overdue(collection, curator, "b.md", days_past=-10)  # due in 10 days
    c = _overdue(collection, curator, "c.md")
    document_review_set(document=c, user=curator, owner_email="Team@Example.gov.uk", review_by=c.review_by)
    upload_and_ingest(collection, "fresh.md", _markdown("x: 9"), curator)  # current: not listed

    out = io.StringIO()
    call_command("send_review_reminders", stdout=out)
    assert sorted(m.to[0] for m in mail.outbox) == [curator.email, "team@example.gov.uk"]
    to_cara = next(m for m in mail.outbox if m.to == [curator.email])
    assert to_cara.subject == "2 documents for you to review"
    assert f"https://humphrey.example.gov.uk/curate/documents/{a.pk}/" in to_cara.body
    assert f"/curate/documents/{b.pk}/" in to_cara.body and "overdue" in to_cara.body
    assert f"/curate/documents/{c.pk}/" not in to_cara.body
    assert ReviewReminder.objects.get(owner_email=curator.email).documents == sorted([a.pk, b.pk])
    (event,) = AuditEvent.objects.filter(action="curation.review_reminder", data__owner_email=curator.email)
    assert event.data["document_ids"] == sorted([a.pk, b.pk])

    again = io.StringIO()
    call_command("send_review_reminders", stdout=again)
    assert len(mail.outbox) == 2
    assert "2 owner(s) already reminded today: not sent again." in again.getvalue()
    assert "No reminders sent" in again.getvalue()


def test_a_reminder_names_no_document_marked_above_official(make_collection, curator, settings):
    """Email leaves the service: a document in an OFFICIAL-SENSITIVE collection is listed by its link and
    its marking, never its title or its collection's name."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    collection = make_collection("casework")
    Collection.objects.filter(pk=collection.pk).update(name="Witness protection casework", marking="OFFICIAL-SENSITIVE")
    document = _overdue(collection, curator, "relocations.md")
    call_command("send_review_reminders", stdout=io.StringIO())
    (message,) = mail.outbox
    assert f"/curate/documents/{document.pk}/" in message.body and "OFFICIAL-SENSITIVE" in message.body
    assert document.title not in message.body and "Witness protection" not in message.body


def test_a_failed_send_is_tried_again_next_run(make_collection, curator, settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _overdue(make_collection("travel"), curator, "a.md")
    from django.core.mail.backends.locmem import EmailBackend

    def refuse(self, messages):
        raise OSError("relay down")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    with pytest.raises(OSError):
        call_command("send_review_reminders", stdout=io.StringIO())
    assert not ReviewReminder.objects.exists()
    monkeypatch.undo()
    call_command("send_review_reminders", stdout=io.StringIO())
    assert len(mail.outbox) == 1


def test_schedule_queues_the_daily_task_once(settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "ingest"]},
    }
    out = io.StringIO()
    call_command("send_review_reminders", "--schedule", stdout=out)
    call_command("send_review_reminders", "--schedule", stdout=out)
    queued = DBTaskResult.objects.filter(task_path="documents.tasks.review_reminders_task")
    assert queued.count() == 1
    assert queued.get().run_after > timezone.now()
    assert "already queued" in out.getvalue()


def test_the_task_sends_and_queues_itself_for_tomorrow(make_collection, curator, settings):
    from django_tasks_db.models import DBTaskResult

    from documents.tasks import review_reminders_task

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "ingest"]}}
    _overdue(make_collection("travel"), curator, "a.md")
    assert review_reminders_task.call() == {"sent": 1, "already_sent": 0, "no_owner": 0}
    assert len(mail.outbox) == 1
    next_run = DBTaskResult.objects.get(task_path="documents.tasks.review_reminders_task")
    assert timezone.localtime(next_run.run_after).date() == timezone.localdate() + dt.timedelta(days=1)
