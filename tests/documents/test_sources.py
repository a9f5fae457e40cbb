"""Synced sources (issue 23): web pages, a sitemap, GOV.UK Content API paths and a folder, read from a
real local web server and real files; each new page found by retrieval, a changed page a version 2,
an unchanged one not downloaded again, a removed one retired only after the grace period, and each
bad source reported with the collection left as it was."""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from documents.ingest.pipeline import version_ingest
from documents.models import Document, RunOutcome, Source, SourceItem, SourceKind
from documents.services.sources import source_add, source_remove, source_update
from documents.sources.sync import source_schedule_all, source_sync, source_sync_scheduled
from tests.documents.files import make_pdf
from tests.documents.sources_server import Page, SourceServer


@pytest.fixture
def reader(make_user):
    return make_user("rita@example.gov.uk", groups=["All staff"])


@pytest.fixture
def server(settings):
    settings.HUMPHREY_SOURCE_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the test server is on loopback
    settings.HUMPHREY_SOURCE_HOST_INTERVAL = 0
    settings.HUMPHREY_SOURCE_TIMEOUT = 2
    with SourceServer() as running:
        yield running


def _sync(source: Source, *, hours: float = 0):
    """One run (``hours`` from now), with what it queued ingested here; returns the run."""
    report = source_sync(source, now=timezone.now() + dt.timedelta(hours=hours))
    for version_id in report.versions:
        version_ingest(version_id)
    return report.run


def _found(reader, query: str, word: str) -> list:
    from documents.retrieval import passages_for_user

    return [p for p in passages_for_user(user=reader, query=query, collections=["guidance"]) if word in p.text]


def _add(collection, kind, location, curator):
    return source_add(collection=collection, kind=kind, location=location, user=curator)


def test_web_pages_stay_in_sync(make_collection, curator, reader, server):
    collection = make_collection()
    first = server.html("/travel", "Travel rates", "The capybara mileage rate is 47p a mile.")
    second = server.html("/leave", "Leave", "Staff get 25 days of annual leave.")
    source = _add(collection, SourceKind.PAGES, f"{first}\n{second}", curator)

    run = _sync(source)
    assert (run.outcome, run.added, run.failed) == (RunOutcome.OK, 2, 0), run.changes
    (passage,) = _found(reader, "capybara mileage rate", "capybara")[:1]
    document = Document.objects.get(pk=passage.document_id)
    assert document.origin_url == first
    assert "Site header" not in passage.text and "Footer" not in passage.text  # the page's <main> only

    run = _sync(source)  # nothing changed: a conditional request each, nothing downloaded again
    assert (run.unchanged, run.added, run.changed) == (2, 0, 0)
    assert server.hits["/travel"] == 1 and server.not_modified["/travel"] == 1

    server.html("/travel", "Travel rates", "The capybara mileage rate is 52p a mile from April.")
    run = _sync(source)
    assert (run.changed, run.unchanged) == (1, 1)
    assert [c["what"] for c in run.changes] == ["changed"] and run.changes[0]["version"] == 2
    document.refresh_from_db()
    assert document.current_version.number == 2
    assert any("52p" in p.text for p in _found(reader, "capybara mileage rate", "capybara"))
    assert not any("47p" in p.text for p in _found(reader, "capybara mileage rate", "capybara"))

    del server.pages["/leave"]  # gone (404): missing, but not retired within the grace period
    run = _sync(source, hours=1)
    assert (run.missing, run.retired) == (1, 0)
    assert _found(reader, "annual leave days", "25 days")
    run = _sync(source, hours=80)  # past HUMPHREY_SOURCE_GRACE_HOURS (72)
    assert run.retired == 1
    assert not _found(reader, "annual leave days", "25 days")
    assert AuditEvent.objects.filter(action="curation.document_retire", actor__isnull=True).count() == 1

    server.html("/leave", "Leave", "Staff get 25 days of annual leave.")  # back again: restored
    run = _sync(source, hours=81)
    assert [c["what"] for c in run.changes] == ["back"]
    assert _found(reader, "annual leave days", "25 days")


def test_a_sitemap_source_follows_its_list(make_collection, curator, reader, server):
    collection = make_collection()
    pages = [server.html(f"/p{i}", f"Page {i}", f"The okapi code for page {i} is OK-{i}.") for i in range(3)]
    sitemap = server.sitemap("/sitemap.xml", pages)
    source = _add(collection, SourceKind.SITEMAP, sitemap, curator)
    assert _sync(source).added == 3
    server.sitemap("/sitemap.xml", pages[:2])  # one page taken off the list
    run = _sync(source, hours=1)
    assert (run.missing, run.unchanged) == (1, 2)
    assert _sync(source, hours=100).retired == 1
    assert SourceItem.objects.get(key=pages[2]).document.is_active is False


def test_a_bad_sitemap_changes_nothing(make_collection, curator, server, settings):
    collection = make_collection()
    pages = [server.html(f"/s{i}", f"S {i}", f"Text {i}.") for i in range(3)]
    source = _add(collection, SourceKind.SITEMAP, server.sitemap("/sitemap.xml", pages), curator)
    assert _sync(source).added == 3
    settings.HUMPHREY_SOURCE_MAX_URLS = 2  # a sitemap of a million pages, in small
    run = _sync(source, hours=100)
    assert run.outcome == RunOutcome.FAILED and "at most 2" in run.error
    settings.HUMPHREY_SOURCE_MAX_URLS = 500
    server.pages["/sitemap.xml"] = Page(b"<urlset><url><loc>", content_type="application/xml")
    run = _sync(source, hours=200)
    assert run.outcome == RunOutcome.FAILED and "not valid XML" in run.error
    server.sitemap("/sitemap.xml", ["https://elsewhere.example/page"])
    run = _sync(source, hours=300)
    assert run.outcome == RunOutcome.FAILED and "another host" in run.error
    server.pages["/sitemap.xml"] = Page(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')
    server.pages["/sitemap.xml"].content_type = "application/xml"
    assert _sync(source, hours=400).outcome == RunOutcome.FAILED  # entities refused (defusedxml)
    server.sitemap("/sitemap.xml", [])
    run = _sync(source, hours=500)
    assert run.outcome == RunOutcome.FAILED and "lists nothing" in run.error
    assert Document.objects.filter(collection=collection, is_active=True).count() == 3
    source.refresh_from_db()
    assert source.last_outcome == RunOutcome.FAILED and source.last_error


GUIDE = {
    "title": "Working from home",
    "description": "How to claim for working from home.",
    "document_type": "guide",
    "public_updated_at": "2026-10-01T09:00:00.000+01:00",
    "details": {
        "parts": [
            {"title": "Overview", "slug": "overview", "body": "<p>You may be able to claim tax relief.</p>"},
            {"title": "Eligibility", "slug": "eligibility", "body": "<p>The axolotl allowance is 6 pounds a week.</p>"},
        ]
    },
    "links": {},
}


def test_govuk_content_api_paths(make_collection, curator, reader, server, settings):
    settings.HUMPHREY_GOVUK_CONTENT_API = server.url("/api/content")
    collection = make_collection()
    server.govuk("/working-from-home", GUIDE)
    server.govuk(
        "/government/collections/travel",
        {
            "title": "Travel guidance",
            "document_type": "document_collection",
            "details": {"body": "<p>Guidance on official travel.</p>"},
            "links": {"documents": [{"base_path": "/guidance/rail", "title": "Rail"}]},
        },
    )
    server.govuk(
        "/guidance/rail",
        {
            "title": "Rail travel",
            "document_type": "detailed_guide",
            "details": {"body": "<p>Book the narwhal fare.</p>"},
        },
    )
    # A publication whose guidance is in its attachments: an HTML publication and a PDF.
    server.pages["/media/expenses.pdf"] = Page(
        make_pdf(["The bandicoot expenses limit is 40 pounds."], title="Expenses"), content_type="application/pdf"
    )
    server.govuk(
        "/government/publications/expenses",
        {
            "title": "Expenses policy",
            "document_type": "policy_paper",
            "details": {
                "body": "<p>Read the attachments.</p>",
                "attachments": [
                    {"attachment_type": "html", "url": "https://www.gov.uk/government/publications/expenses/rules"},
                    {
                        "attachment_type": "file",
                        "content_type": "application/pdf",
                        "url": server.url("/media/expenses.pdf"),
                    },
                    {"attachment_type": "file", "content_type": "application/zip", "url": server.url("/media/x.zip")},
                ],
            },
        },
    )
    server.govuk(
        "/government/publications/expenses/rules",
        {"title": "Expenses rules", "document_type": "html_publication", "details": {"body": "<p>The civet rule.</p>"}},
    )
    source = _add(
        collection,
        SourceKind.GOVUK,
        "/working-from-home\nhttps://www.gov.uk/government/collections/travel\n/government/publications/expenses",
        curator,
    )
    assert source.location == "/working-from-home\n/government/collections/travel\n/government/publications/expenses"
    run = _sync(source)
    assert (run.outcome, run.added) == (RunOutcome.OK, 6), run.changes
    assert _found(reader, "bandicoot expenses limit", "bandicoot") and _found(reader, "civet rule", "civet")
    (passage,) = _found(reader, "axolotl allowance", "axolotl")[:1]
    assert passage.document_title == "Working from home" and "Eligibility" in passage.text
    assert Document.objects.get(pk=passage.document_id).origin_url == "https://www.gov.uk/working-from-home"
    assert _found(reader, "narwhal fare", "narwhal")  # a document the collection page links
    api = [p for p in server.pages if p.startswith("/api/content/")]
    assert all(server.hits[p] == 1 for p in api)
    again = _sync(source, hours=1)
    assert (again.unchanged, again.missing) == (6, 0), again.changes
    # Asked "has it changed?" with the last run's ETag: each item answered 304, nothing downloaded
    # again, and what the collection and the publication list was kept from the first run.
    assert all(server.hits[p] == 1 and server.not_modified[p] == 1 for p in api)
    server.govuk("/guidance/rail", {"title": "Rail travel", "withdrawn_notice": {"explanation": "Replaced."}})
    assert _sync(source, hours=2).missing == 1


def test_a_govuk_manual_is_read_section_by_section(make_collection, curator, reader, server, settings):
    """A manual's page is a contents list: its sections (``child_section_groups``) are items of their
    own, and a section's own sections too (HMRC manuals nest them); a fact only in a nested section is
    found. A manual with more sections than a source may hold is refused whole."""
    settings.HUMPHREY_GOVUK_CONTENT_API = server.url("/api/content")
    collection = make_collection()

    def groups(*paths):
        return [{"title": "Contents", "child_sections": [{"title": p, "base_path": p} for p in paths]}]

    server.govuk(
        "/guidance/travel-manual",
        {
            "title": "Travel manual",
            "document_type": "manual",
            "details": {"body": "<p>How staff travel.</p>", "child_section_groups": groups(
                "/guidance/travel-manual/rail", "/guidance/travel-manual/air"
            )},
        },
    )  # fmt: skip
    server.govuk(
        "/guidance/travel-manual/rail",
        {"title": "Rail", "document_type": "manual_section", "details": {"body": "<p>The quokka railcard.</p>"}},
    )
    server.govuk(
        "/guidance/travel-manual/air",
        {
            "title": "Air",
            "document_type": "manual_section",
            "details": {"body": "<p>Flights.</p>", "child_section_groups": groups("/guidance/travel-manual/air/long")},
        },
    )
    server.govuk(
        "/guidance/travel-manual/air/long",
        {"title": "Long haul", "document_type": "manual_section", "details": {"body": "<p>The dugong seat rule.</p>"}},
    )
    source = _add(collection, SourceKind.GOVUK, "/guidance/travel-manual", curator)
    run = _sync(source)
    assert (run.outcome, run.added) == (RunOutcome.OK, 4), run.changes
    (passage,) = _found(reader, "dugong seat rule", "dugong")[:1]
    assert passage.document_title == "Long haul"
    assert _found(reader, "quokka railcard", "quokka")

    # Unchanged, the manual and its sections answer 304 and stay listed; a changed nested section is
    # read again (version 2) while the pages above it are not downloaded again.
    server.govuk(
        "/guidance/travel-manual/air/long",
        {"title": "Long haul", "document_type": "manual_section", "details": {"body": "<p>The manatee seat rule.</p>"}},
    )
    run = _sync(source, hours=1)
    assert (run.outcome, run.unchanged, run.changed, run.missing) == (RunOutcome.OK, 3, 1, 0), run.changes
    assert server.hits["/api/content/guidance/travel-manual"] == 1
    assert server.not_modified["/api/content/guidance/travel-manual/air"] == 1
    assert _found(reader, "manatee seat rule", "manatee")

    settings.HUMPHREY_SOURCE_MAX_URLS = 3
    run = _sync(source, hours=2)
    assert run.outcome == RunOutcome.FAILED and "at most 3" in run.error
    assert _found(reader, "manatee seat rule", "manatee")  # nothing was changed


def test_a_folder_source(make_collection, curator, reader, settings, tmp_path):
    share = tmp_path / "share"
    (share / "policies").mkdir(parents=True)
    settings.HUMPHREY_SOURCE_ALLOWED_ROOTS = [str(share)]
    (share / "policies" / "rates.csv").write_text("Item,Rate\nTamarin subsistence,£14\n")
    (share / "notes.md").write_text("# Notes\n\nThe gecko desk code is G-12.\n")
    (share / "picture.png").write_bytes(b"\x89PNG not read")  # not a format we read: not listed
    (share / "elsewhere.txt").symlink_to("/etc/hostname")  # points outside the share
    os.mkfifo(share / "pipe.txt")  # not a regular file
    collection = make_collection()
    with pytest.raises(ValidationError, match="not under a folder"):
        _add(collection, SourceKind.FOLDER, str(tmp_path), curator)
    source = _add(collection, SourceKind.FOLDER, str(share), curator)
    run = _sync(source)
    assert (run.outcome, run.added, run.failed) == (RunOutcome.PARTIAL, 2, 2)
    errors = {c["key"]: c["detail"] for c in run.changes if c["what"] == "error"}
    assert "outside the folder" in errors["elsewhere.txt"] and "not a regular file" in errors["pipe.txt"]
    (passage,) = _found(reader, "tamarin subsistence", "Tamarin")[:1]
    assert "Tamarin subsistence" in passage.text and "Rate: £14" in passage.text
    assert passage.document_title.lower().startswith("policies › rates")
    (share / "notes.md").write_text("# Notes\n\nThe gecko desk code is G-14.\n")
    run = _sync(source, hours=1)
    assert run.changed == 1 and run.unchanged == 1
    (share / "notes.md").write_bytes(b"")  # emptied at the source: reported; the document keeps G-14
    run = _sync(source, hours=1.5)
    assert (run.failed, run.changed) == (3, 0)  # with the two above
    assert {c["key"]: c["detail"] for c in run.changes if c["what"] == "error"}["notes.md"] == "The file is empty."
    (passage,) = _found(reader, "gecko desk code", "gecko")[:1]
    assert "G-14" in passage.text
    (share / "notes.md").unlink()
    assert _sync(source, hours=2).missing == 1
    assert _sync(source, hours=100).retired == 1
    os.rename(share, tmp_path / "unmounted")  # the share is gone: the run fails, nothing is retired
    run = _sync(source, hours=200)
    assert run.outcome == RunOutcome.FAILED and "cannot be found" in run.error
    assert Document.objects.get(source_name="policies › rates.csv").is_active


def test_bad_pages_are_reported_and_leave_the_collection_as_it_was(make_collection, curator, reader, server, settings):
    collection = make_collection()
    good = server.html("/good", "Good", "The ibis rule applies.")
    source = _add(collection, SourceKind.PAGES, good, curator)
    _sync(source)
    server.pages["/good"].status = 500
    slow = server.url("/slow")
    server.pages["/slow"] = Page(b"<p>late</p>", delay=3)
    image = server.url("/image")
    server.pages["/image"] = Page(b"\x89PNG", content_type="image/png")
    endless = server.url("/endless")
    server.pages["/endless"] = Page(b"", endless=True)
    settings.HUMPHREY_MAX_UPLOAD_MB = 1
    loop = server.url("/loop")
    server.pages["/loop"] = Page(b"", status=302, headers={"Location": "/loop2"})
    server.pages["/loop2"] = Page(b"", status=302, headers={"Location": "/loop"})
    inward = server.url("/inward")
    server.pages["/inward"] = Page(b"", status=302, headers={"Location": "http://10.0.0.5/admin"})
    source = source_update(source=source, user=curator, location="\n".join([good, slow, image, endless, loop, inward]))
    run = _sync(source, hours=1)
    assert run.outcome == RunOutcome.FAILED and run.failed == 6  # nothing could be read: the run failed
    details = {c["key"]: c["detail"] for c in run.changes}
    assert "500" in details[good]
    assert all(details[u] for u in (slow, image, endless, loop, inward))
    assert "image/png" in details[image]
    assert _found(reader, "ibis rule", "ibis")  # the page read before is still searched
    assert Document.objects.filter(collection=collection).count() == 1


def test_no_server_side_request_forgery(make_collection, curator, server, settings):
    settings.HUMPHREY_SOURCE_ALLOWED_NETWORKS = []  # the default: the deployment's own network is off limits
    collection = make_collection()
    page = server.html("/x", "X", "Internal only.")
    source = _add(collection, SourceKind.PAGES, page, curator)
    run = _sync(source)
    assert run.failed == 1 and server.hits == {}
    with pytest.raises(ValidationError):
        _add(collection, SourceKind.PAGES, "file:///etc/passwd", curator)
    with pytest.raises(ValidationError):
        _add(collection, SourceKind.PAGES, "ftp://example.gov.uk/x", curator)


def test_the_schedule_runs_on_the_task_worker(make_collection, curator, server, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    collection = make_collection()
    page = server.html("/s", "S", "The shrew rule.")
    with django_capture_on_commit_callbacks(execute=True):
        source = _add(collection, SourceKind.PAGES, page, curator)
    source.refresh_from_db()
    (queued,) = DBTaskResult.objects.filter(task_path__endswith="source_sync_task")
    assert queued.args_kwargs["args"] == [source.pk, source.schedule_token, "schedule"]
    assert source_sync_scheduled(source.pk, "an-old-token")["skipped"]  # a stale schedule does nothing
    with django_capture_on_commit_callbacks(execute=True):
        result = source_sync_scheduled(source.pk, source.schedule_token)
    assert result["outcome"] == RunOutcome.OK
    source.refresh_from_db()
    assert source.next_run_at - source.last_run_at == dt.timedelta(hours=24)
    DBTaskResult.objects.all().delete()  # the queue was emptied
    with django_capture_on_commit_callbacks(execute=True):
        assert source_schedule_all() == 1
    assert source_schedule_all() == 0
    paused = source_update(source=source, user=curator, active=False)
    assert paused.next_run_at is None or Source.objects.get(pk=source.pk).next_run_at is None


def test_the_commands(make_collection, curator, server):
    collection = make_collection()
    page = server.html("/c", "C", "The coati rule.")
    out = io.StringIO()
    call_command("source_add", page, "--collection", collection.slug, "--every", "6", stdout=out)
    assert "read every 6 h" in out.getvalue()
    source = Source.objects.get()
    assert (source.kind, source.every_hours) == (SourceKind.PAGES, 6)
    out = io.StringIO()
    call_command("source_sync", "--collection", collection.slug, "--wait", stdout=out)
    assert "1 added" in out.getvalue() and f"added: {page} (version 1)" in out.getvalue()
    del server.pages["/c"]
    server.pages["/c"] = Page(b"", status=503)
    out = io.StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("source_sync", stdout=out)
    assert "503" in out.getvalue()
    with pytest.raises(CommandError, match="No collection"):
        call_command("source_add", page, "--collection", "nope")
    retired = source_remove(source=source, user=curator, retire_documents=True)
    assert retired == 1 and not Source.objects.exists()
    assert AuditEvent.objects.filter(action__startswith="curation.source_").count() >= 3


def test_a_run_out_of_time_leaves_the_rest_for_the_next(make_collection, curator, server, monkeypatch):
    """A run past HUMPHREY_SOURCE_RUN_MINUTES stops; what it did not reach stays as it was (not missing)
    and is read first by the next run."""
    from documents.sources import sync

    collection = make_collection()
    pages = [server.html(f"/t{i}", f"T {i}", f"The tenrec rule {i}.") for i in range(3)]
    source = _add(collection, SourceKind.PAGES, "\n".join(pages), curator)
    assert _sync(source).added == 3
    clock = iter([0.0, 0.0, 0.0, 10_000.0])  # the budget runs out after two pages
    monkeypatch.setattr(sync, "_clock", lambda: next(clock))
    run = _sync(source, hours=1)
    assert run.outcome == RunOutcome.PARTIAL and (run.unchanged, run.failed, run.missing) == (2, 1, 0)
    assert "1 of 3 pages were not read" in run.error
    monkeypatch.undo()
    left = SourceItem.objects.order_by("last_seen_at").first()
    run = _sync(source, hours=2)
    assert run.outcome == RunOutcome.OK
    left.refresh_from_db()
    assert left.last_seen_at == max(SourceItem.objects.values_list("last_seen_at", flat=True))


def test_retiring_a_collection_pauses_its_sources(make_collection, curator, server, django_capture_on_commit_callbacks):
    from documents.services import collection_retire

    collection = make_collection()
    with django_capture_on_commit_callbacks(execute=True):
        source = _add(collection, SourceKind.PAGES, server.html("/r", "R", "The rhea rule."), curator)
    token = Source.objects.get(pk=source.pk).schedule_token
    collection_retire(collection=collection, user=curator)
    source.refresh_from_db()
    assert (source.is_active, source.next_run_at, source.schedule_token) == (False, None, "")
    assert source_sync_scheduled(source.pk, token)["skipped"]  # the task already queued does nothing
    assert not source.runs.exists() and server.hits == {}
    event = AuditEvent.objects.get(action="curation.collection_retire")
    assert event.data["sources_paused"] == 1
