"""The curation pages for synced sources: add, the status page, change, pause and resume, read now,
remove; only the collection's curators (404 for anyone else, as on every curation page); errors
shown as the service words them; every change audited. Nothing is fetched: adding a source only
queues its first run (the database task backend defers it), and runs are written straight in."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditEvent
from documents.models import Document, DocumentVersion, RunOutcome, Source, SourceItem, SourceKind, SourceRun
from tests import factories
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection(make_collection):
    return make_collection("hr", groups=["HR"])


@pytest.fixture
def shared(settings, tmp_path):
    """A shared folder sources may read, with a folder inside it."""
    root = tmp_path / "shared"
    (root / "policies").mkdir(parents=True)
    settings.HUMPHREY_SOURCE_ALLOWED_ROOTS = [str(root)]
    return root


def make_source(collection, location="https://www.example.gov.uk/guidance/leave", **extra) -> Source:
    """A source written straight in (no schedule, no audit event)."""
    return Source.objects.create(
        collection=collection, kind=extra.pop("kind", SourceKind.PAGES), location=location, **extra
    )


def url(source: Source, action: str = "") -> str:
    base = f"/curate/c/{source.collection.slug}/sources/{source.pk}/"
    return f"{base}{action}/" if action else base


def test_add_a_folder_source_through_the_form(client, curator, collection, shared):
    """The form adds the source, queues its first run and opens its status page with a message."""
    signed_in(client, curator)
    form = client.get(f"/curate/c/{collection.slug}/sources/new/")
    assert form.status_code == 200
    body = form.content.decode()
    assert 'type="radio"' in body and "sitemap.xml" in body and "/guidance/" in body
    assert 'name="every_hours"' in body and 'value="24"' in body

    response = client.post(
        f"/curate/c/{collection.slug}/sources/new/",
        {"kind": "folder", "location": str(shared / "policies"), "every_hours": "6"},
        follow=True,
    )
    source = Source.objects.get(collection=collection)
    assert response.redirect_chain[-1][0] == url(source)
    page = response.content.decode()
    assert "Added: it will be read in a moment" in page
    assert source.kind == "folder" and source.every_hours == 6 and source.is_active
    assert source.next_run_at is not None and source.schedule_token  # queued, not run
    assert str(shared / "policies") in page and "Every 6 hours" in page and "Not read yet" in page
    event = AuditEvent.objects.get(action="curation.source_add")
    assert event.actor_id == curator.pk and event.data["source_id"] == source.pk

    listing = client.get(f"/curate/c/{collection.slug}/").content.decode()
    assert 'id="source-list"' in listing and url(source) in listing and "Every 6 hours" in listing
    assert f"/curate/c/{collection.slug}/sources/new/" in listing


def test_add_a_pages_source_keeps_every_line(client, curator, collection):
    signed_in(client, curator)
    lines = "https://www.example.gov.uk/guidance/leave\nhttps://www.example.gov.uk/guidance/travel\n"
    response = client.post(
        f"/curate/c/{collection.slug}/sources/new/", {"kind": "pages", "location": lines, "every_hours": "24"}
    )
    source = Source.objects.get()
    assert response.status_code == 302 and response["Location"] == url(source)
    assert source.summary == "https://www.example.gov.uk/guidance/leave and 1 more"
    page = client.get(url(source)).content.decode()
    assert "https://www.example.gov.uk/guidance/travel" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"kind": "pages", "location": "ftp://files.example.gov.uk/leave.pdf", "every_hours": "24"},
            "is not an http or https address",
        ),
        ({"kind": "folder", "location": "/etc", "every_hours": "24"}, "is not under a folder sources may read"),
        (
            {"kind": "pages", "location": "https://www.example.gov.uk/", "every_hours": "0"},
            "Enter a number of hours from 1",
        ),
        ({"kind": "pages", "location": "", "every_hours": "24"}, "Enter the addresses"),
        ({"location": "https://www.example.gov.uk/", "every_hours": "24"}, "Choose what kind of source it is"),
    ],
)
def test_bad_input_is_shown_in_an_error_summary_and_kept(client, curator, collection, shared, data, message):
    signed_in(client, curator)
    response = client.post(f"/curate/c/{collection.slug}/sources/new/", data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "govuk-error-summary" in body and message in body, body[body.find("govuk-error-summary") :][:800]
    assert "<title>Error:" in body
    if data["location"]:
        assert data["location"] in body  # what was typed is kept
    if data.get("kind"):
        assert f'value="{data["kind"]}" checked' in body
    assert not Source.objects.exists() and not AuditEvent.objects.filter(action="curation.source_add").exists()


def test_a_duplicate_source_is_refused(client, curator, collection):
    signed_in(client, curator)
    data = {"kind": "pages", "location": "https://www.example.gov.uk/guidance/leave", "every_hours": "24"}
    assert client.post(f"/curate/c/{collection.slug}/sources/new/", data).status_code == 302
    again = client.post(f"/curate/c/{collection.slug}/sources/new/", data)
    assert again.status_code == 400 and b"already has that source" in again.content
    assert Source.objects.count() == 1


def test_change_pause_resume_and_sync_now(client, curator, collection):
    """Each action goes through the service (audited) and back to the status page with a message."""
    signed_in(client, curator)
    client.post(
        f"/curate/c/{collection.slug}/sources/new/",
        {"kind": "pages", "location": "https://www.example.gov.uk/guidance/leave", "every_hours": "24"},
    )
    source = Source.objects.get()

    edit = client.get(url(source, "edit"))
    assert edit.status_code == 200 and b"https://www.example.gov.uk/guidance/leave" in edit.content
    assert b'name="kind"' not in edit.content  # the kind stays
    bad = client.post(url(source, "edit"), {"location": "ftp://x.example/", "every_hours": "24"})
    assert bad.status_code == 400 and b"govuk-error-summary" in bad.content and b"ftp://x.example/" in bad.content
    response = client.post(
        url(source, "edit"), {"location": "https://www.example.gov.uk/guidance/travel", "every_hours": "12"}
    )
    assert response.status_code == 302 and response["Location"] == url(source)
    source.refresh_from_db()
    assert source.location == "https://www.example.gov.uk/guidance/travel" and source.every_hours == 12
    update = AuditEvent.objects.get(action="curation.source_update")
    assert update.data["before"]["every_hours"] == 24 and update.actor_id == curator.pk

    assert client.get(url(source, "pause")).status_code == 405  # POST only
    paused = client.post(url(source, "pause"), follow=True)
    source.refresh_from_db()
    assert not source.is_active and source.next_run_at is None
    page = paused.content.decode()
    assert "Paused: it is not read until you resume it" in page and ">Resume<" in page and "Sync now" not in page
    refused = client.post(url(source, "sync"), follow=True)
    assert b"resume it first" in refused.content

    resumed = client.post(url(source, "pause"), follow=True)
    source.refresh_from_db()
    assert source.is_active and source.next_run_at is not None
    assert b"Resumed: it will be read in a moment" in resumed.content
    assert AuditEvent.objects.filter(action="curation.source_update").count() == 3

    token = source.schedule_token
    assert client.get(url(source, "sync")).status_code == 405
    synced = client.post(url(source, "sync"), follow=True)
    source.refresh_from_db()
    assert b"Queued: it will be read in a moment" in synced.content
    assert source.schedule_token and source.schedule_token != token  # a new schedule owns the next run


def test_actions_need_the_csrf_token(curator, collection):
    from django.test import Client

    client = signed_in(Client(enforce_csrf_checks=True), curator)
    source = make_source(collection)
    for action in ("sync", "pause", "remove"):
        assert client.post(url(source, action)).status_code == 403, action
    assert client.post(f"/curate/c/{collection.slug}/sources/new/", {"kind": "pages"}).status_code == 403
    source.refresh_from_db()
    assert source.is_active


def test_remove_keeps_or_retires_the_documents(client, curator, collection):
    signed_in(client, curator)
    kept_source = make_source(collection)
    kept = factories.add_document(collection, ["You may carry over 5 days of leave."], title="Leave")
    SourceItem.objects.create(source=kept_source, key="https://www.example.gov.uk/guidance/leave", document=kept)
    confirm = client.get(url(kept_source, "remove"))
    assert confirm.status_code == 200
    assert b'name="retire_documents"' in confirm.content and b"Also retire its documents" in confirm.content
    response = client.post(url(kept_source, "remove"), follow=True)
    assert response.redirect_chain[-1][0] == f"/curate/c/{collection.slug}/"
    assert b"Its documents stay" in response.content
    assert not Source.objects.filter(pk=kept_source.pk).exists()
    kept.refresh_from_db()
    assert kept.is_active

    gone_source = make_source(collection, "https://www.example.gov.uk/guidance/travel")
    gone = factories.add_document(collection, ["Rail is standard class."], title="Travel")
    SourceItem.objects.create(source=gone_source, key="https://www.example.gov.uk/guidance/travel", document=gone)
    response = client.post(url(gone_source, "remove"), {"retire_documents": "yes"}, follow=True)
    assert b"Source removed and 1 of its documents retired" in response.content
    gone.refresh_from_db()
    assert not gone.is_active
    events = AuditEvent.objects.filter(action="curation.source_remove").order_by("pk")
    assert [e.data["documents_retired"] for e in events] == [0, 1]
    assert all(e.actor_id == curator.pk for e in events)


def test_the_status_page_shows_runs_their_changes_and_items(client, curator, collection):
    """Last and next run, each run's counts, error and changes; each page with its document."""
    now = timezone.now()
    source = make_source(
        collection,
        last_run_at=now,
        last_outcome=RunOutcome.PARTIAL,
        last_error="https://www.example.gov.uk/guidance/pay answered 500",
        next_run_at=None,
    )
    leave = factories.add_document(collection, ["You may carry over 5 days of leave."], title="Leave policy")
    evil = 'https://www.example.gov.uk/"><script>alert(1)</script>'
    SourceRun.objects.create(
        source=source,
        started_at=now,
        finished_at=now,
        trigger="schedule",
        outcome=RunOutcome.PARTIAL,
        added=1,
        failed=1,
        changes=[
            {"key": evil, "what": "added", "detail": "read it", "document_id": leave.pk, "version": 1},
            {"key": "https://www.example.gov.uk/guidance/pay", "what": "error", "detail": "answered 500"},
        ],
    )
    SourceRun.objects.create(
        source=source, started_at=now, trigger="curator", outcome=RunOutcome.FAILED, error="The sitemap is broken."
    )
    SourceItem.objects.create(
        source=source, key="https://www.example.gov.uk/guidance/leave", document=leave, last_seen_at=now
    )
    SourceItem.objects.create(
        source=source, key="https://www.example.gov.uk/guidance/gone", missing_since=now, last_error="404"
    )
    # The page changed into something that cannot be read: its newest version failed, the last good one stays.
    failed = DocumentVersion.objects.create(
        document=leave,
        number=2,
        original_filename="leave.html",
        sha256="0" * 64,
        size_bytes=10,
        status="failed",
        error="No text could be found in the file.",
    )
    signed_in(client, curator)
    page = client.get(url(source)).content.decode()

    assert f'href="/curate/versions/{failed.pk}/">Version 2</a> could not be ingested: No text could be' in page
    assert "Synced, with errors" in page and "answered 500" in page
    assert "Runs only when asked: no task worker" in page
    assert "1 added, 0 changed, 0 unchanged" in page and "0 missing, 0 retired, 1 failed" in page
    assert "The sitemap is broken." in page and "Failed: nothing changed" in page
    assert "govuk-details" in page and "What changed (2)" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'href="/curate/documents/{leave.pk}/"' in page and "Leave policy" in page
    assert "Missing</strong> since" in page and "404" in page
    assert 'href="https://www.example.gov.uk/guidance/leave"' not in page  # keys are text, not links

    source.is_active = False
    source.save(update_fields=["is_active"])
    assert '<dd class="govuk-summary-list__value" id="next-run">Paused</dd>' in client.get(url(source)).content.decode()


def test_the_status_page_caps_its_items(client, curator, collection, monkeypatch):
    from documents.views import sources as views

    monkeypatch.setattr(views, "ITEMS_SHOWN", 3)
    source = make_source(collection)
    SourceItem.objects.bulk_create(SourceItem(source=source, key=f"https://www.example.gov.uk/p/{n}") for n in range(5))
    signed_in(client, curator)
    page = client.get(url(source)).content.decode()
    assert "It holds 5 pages and files; the first 3" in page
    assert "/p/2" in page and "/p/3" not in page


def test_nobody_else_may_open_or_change_a_source(client, make_user, collection, make_collection, shared):
    """A curator who only reads the collection and a curator of another collection get 404 on every
    address; a civil servant who reads it is refused by the curator gate first (403), as everywhere."""
    source = make_source(collection)
    other = make_user("olu@example.gov.uk", roles=[Role.CURATOR], groups=["HR"])
    make_collection("finance", owner=other)
    reader = make_user("rita@example.gov.uk", groups=["HR"])
    gets = [url(source), url(source, "edit"), url(source, "remove"), f"/curate/c/{collection.slug}/sources/new/"]
    posts = {
        url(source, "sync"): {},
        url(source, "pause"): {},
        url(source, "remove"): {"retire_documents": "yes"},
        url(source, "edit"): {"location": "https://www.example.gov.uk/x", "every_hours": "1"},
        f"/curate/c/{collection.slug}/sources/new/": {"kind": "folder", "location": str(shared), "every_hours": "1"},
    }
    signed_in(client, other)
    for address in gets:
        assert client.get(address).status_code == 404, address
    for address, data in posts.items():
        assert client.post(address, data).status_code == 404, address
    # Another collection's address cannot reach this source either.
    assert client.get(f"/curate/c/finance/sources/{source.pk}/").status_code == 404
    client.logout()
    signed_in(client, reader)
    for address in gets:
        assert client.get(address).status_code == 403, address
    for address, data in posts.items():
        assert client.post(address, data).status_code == 403, address
    source.refresh_from_db()
    assert source.is_active and source.location == "https://www.example.gov.uk/guidance/leave"
    assert Source.objects.count() == 1
    assert not AuditEvent.objects.filter(action__startswith="curation.source_").exists()


def test_the_document_page_says_where_a_document_came_from(client, curator, collection):
    source = make_source(collection)
    message = factories.add_document(collection, ["From: HR"], title="Leave update (email)")
    page_doc = factories.add_document(collection, ["You may carry over 5 days."], title="Leave")
    Document.objects.filter(pk=page_doc.pk).update(origin_url="https://www.example.gov.uk/guidance/leave")
    SourceItem.objects.create(source=source, key="https://www.example.gov.uk/guidance/leave", document=page_doc)
    attachment = factories.add_document(collection, ["Table of entitlements"], title="Entitlements")
    Document.objects.filter(pk=attachment.pk).update(attached_to=message, origin_url="javascript:alert(1)")
    signed_in(client, curator)

    body = client.get(f"/curate/documents/{page_doc.pk}/").content.decode()
    assert "Kept in sync from" in body and f'href="{url(source)}"' in body
    assert 'href="https://www.example.gov.uk/guidance/leave" rel="noopener noreferrer"' in body

    body = client.get(f"/curate/documents/{attachment.pk}/").content.decode()
    assert "Attached to" in body and f'href="/curate/documents/{message.pk}/"' in body
    assert "javascript:alert(1)" in body and 'href="javascript:' not in body  # shown, never a link
    assert "Kept in sync from" not in body

    body = client.get(f"/curate/documents/{message.pk}/").content.decode()
    assert 'id="attachments"' in body and f'href="/curate/documents/{attachment.pk}/"' in body


def test_sync_now_without_a_task_worker_reads_it_there_and_then(client, curator, collection, shared, settings):
    """Where nothing can be queued (no worker: HUMPHREY_TASKS_IMMEDIATE), "sync now" reads the source in
    the request, recorded as the curator's run, and the request itself is audited with the curator."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default", "ingest"]}
    }
    (shared / "note.md").write_text("# Note\n\nThe heron rule applies.\n")
    source = make_source(collection, location=str(shared), kind=SourceKind.FOLDER)
    signed_in(client, curator)
    page = client.post(url(source, "sync"), follow=True).content.decode()
    assert "Read just now." in page
    (run,) = source.runs.all()
    assert (run.trigger, run.added) == ("curator", 1)
    assert AuditEvent.objects.filter(action="curation.source_update", outcome="sync_requested", actor=curator).exists()
