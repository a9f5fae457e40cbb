"""What a curator reads about a synced source is in plain words: a run that read nothing says it
failed and why (not "synced, with errors"); a site that cannot be reached is named once, with when
it will be tried again, and its counts do not claim "0 failed"; folder sources are not offered when
this service reads no shared folder, and no refusal names a setting. The technical reasons (the
library's error, RFC 9309's rule, the setting) stay in the run's audit event.

Sites are a real local web server (``sources_server``); a host that cannot be found is a resolver
that finds nothing (``netguard.getaddrinfo``), so nothing here touches the internet."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError
from django.template.defaultfilters import date as date_filter
from django.utils import timezone

from audit.models import AuditEvent
from documents.models import RunOutcome, Source, SourceKind
from documents.services.sources import source_add
from documents.sources import netguard
from documents.sources.sync import source_sync, source_sync_scheduled
from tests.conftest import signed_in
from tests.documents.sources_server import Page, SourceServer

pytestmark = pytest.mark.django_db

#: What no curator's page about a source should carry: settings, the standard's number, the file
#: robots rules live in when the site could not even be reached, Python's error names.
JARGON = ("HUMPHREY_", "RFC", "9309", "Error)", "gaierror", "Errno")


@pytest.fixture
def server(settings):
    settings.HUMPHREY_SOURCE_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the test server is on loopback
    settings.HUMPHREY_SOURCE_HOST_INTERVAL = 0
    settings.HUMPHREY_SOURCE_TIMEOUT = 2
    with SourceServer() as running:
        yield running


@pytest.fixture
def nowhere(monkeypatch):
    """Every host name fails to resolve, as www.gov.uk does for a server cut off from DNS."""

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(netguard, "getaddrinfo", no_such_host)


def page_of(client, source: Source) -> str:
    return client.get(f"/curate/c/{source.collection.slug}/sources/{source.pk}/").content.decode()


def run_row(page: str, run_id: int) -> str:
    """The runs table's row for one run (its outcome, error and counts)."""
    start = page.index(f'data-run="{run_id}"')
    return page[start : page.index("</tr>", start)]


def sync_event(run) -> AuditEvent:
    return AuditEvent.objects.get(action="curation.source_sync", data__run_id=run.pk)


@pytest.mark.parametrize(
    ("refusal", "why"),
    [
        ("robots", "its site asks services like Humphrey not to read it"),
        ("error", "answered 500 Internal Server Error"),
    ],
)
def test_a_web_source_whose_only_page_is_refused_failed_and_says_why(
    client, make_collection, curator, server, refusal, why
):
    """One page, refused (robots.txt says no, or the server fails): nothing was read, so the run
    failed, in those words, and says why; it is not "synced, with errors"."""
    collection = make_collection()
    address = server.html("/leave", "Leave", "Staff get 25 days of annual leave.")
    if refusal == "robots":
        server.pages["/robots.txt"] = Page(b"User-agent: *\nDisallow: /\n", content_type="text/plain")
    else:
        server.pages["/leave"].status = 500
    source = source_add(collection=collection, kind=SourceKind.PAGES, location=address, user=curator)

    run = source_sync(source).run

    assert (run.outcome, run.failed, run.added) == (RunOutcome.FAILED, 1, 0)
    assert run.error.startswith("Nothing could be read.") and why in run.error and address in run.error
    signed_in(client, curator)
    page = page_of(client, source)
    assert "Synced, with errors" not in page
    row = run_row(page, run.pk)
    assert "Failed: nothing changed" in row and why in row and "1 failed" in row  # the count agrees
    assert not [word for word in JARGON if word in page]


def test_a_run_that_read_one_page_of_two_is_still_synced_with_errors(make_collection, curator, server):
    """The outcome above is for a run that read nothing: one that read something is partly synced."""
    good = server.html("/good", "Good", "The ibis rule applies.")
    bad = server.html("/bad", "Bad", "Never read.")
    server.pages["/bad"].status = 500
    source = source_add(collection=make_collection(), kind=SourceKind.PAGES, location=f"{good}\n{bad}", user=curator)

    run = source_sync(source).run

    assert (run.outcome, run.added, run.failed, run.error) == (RunOutcome.PARTIAL, 1, 1, "")


def test_govuk_out_of_reach_says_so_plainly_and_when_it_tries_again(
    client, make_collection, curator, settings, nowhere
):
    """www.gov.uk cannot be found: the page says Humphrey could not reach it, that nothing was read
    and when it tries again, with no robots.txt, RFC or library words, and its counts say nothing
    was read rather than "0 failed" beside "Failed". The run's audit event keeps the technical reason."""
    settings.HUMPHREY_GOVUK_CONTENT_API = "https://www.gov.uk/api/content"
    source = source_add(collection=make_collection(), kind=SourceKind.GOVUK, location="/guidance/travel", user=curator)
    source.refresh_from_db()

    result = source_sync_scheduled(source.pk, source.schedule_token)  # the run, then its next one queued

    source.refresh_from_db()
    run = source.runs.get(pk=result["run_id"])
    assert run.outcome == RunOutcome.FAILED
    assert run.error == "Humphrey could not reach www.gov.uk, so nothing was read."
    assert source.last_error == run.error and source.next_run_at > timezone.now()
    signed_in(client, curator)
    page = page_of(client, source)
    when = timezone.localtime(source.next_run_at)
    assert f"It will try again at {date_filter(when, 'H:i')} on {date_filter(when, 'j F Y')}." in page
    row = run_row(page, run.pk)
    assert "Failed: nothing changed" in row and "Nothing was read" in row
    assert "0 failed" not in row and "0 added" not in row
    assert not [word for word in (*JARGON, "robots.txt", "was not fetched") if word in page]
    cause = sync_event(run).data["cause"]
    assert "RFC 9309" in cause and "www.gov.uk/robots.txt" in cause and "Name or service not known" in cause


def test_a_web_page_on_a_host_that_cannot_be_found_is_said_the_same_way(make_collection, curator, nowhere):
    """The same words when it is every page of a web pages source whose site cannot be found."""
    location = "https://intranet.example.gov.uk/policies/leave\nhttps://intranet.example.gov.uk/policies/pay"
    source = source_add(collection=make_collection(), kind=SourceKind.PAGES, location=location, user=curator)

    run = source_sync(source).run

    assert (run.outcome, run.failed) == (RunOutcome.FAILED, 2)
    assert run.error == "Humphrey could not reach intranet.example.gov.uk, so nothing was read."
    details = {change["detail"] for change in run.changes}
    assert all("could not reach intranet.example.gov.uk" in d and "RFC" not in d for d in details), details
    causes = [f["cause"] for f in sync_event(run).data["failures"]]
    assert len(causes) == 2 and all("RFC 9309" in c for c in causes)


def test_folder_sources_are_not_offered_when_this_service_reads_no_folder(
    client, make_collection, curator, settings, tmp_path
):
    """With no shared folder allowed, "Folder" is not a choice and the form says whom to ask; a folder
    source asked for anyway (by a stale form, the service or the command) is refused without naming
    a setting. With one allowed, "Folder" is offered again."""
    settings.HUMPHREY_SOURCE_ALLOWED_ROOTS = []
    collection = make_collection("hr")
    signed_in(client, curator)
    add = f"/curate/c/{collection.slug}/sources/new/"

    form = client.get(add).content.decode()
    assert 'value="folder"' not in form and 'value="pages"' in form
    assert "ask your administrator to allow folder sources" in form
    assert 'aria-describedby="kind-hint"' in form

    refused = client.post(add, {"kind": "folder", "location": str(tmp_path), "every_hours": "24"})
    assert refused.status_code == 400 and not Source.objects.exists()
    assert not [word for word in JARGON if word in refused.content.decode()]
    with pytest.raises(ValidationError) as caught:
        source_add(collection=collection, kind=SourceKind.FOLDER, location=str(tmp_path), user=curator)
    (message,) = caught.value.messages
    assert "administrator" in message and "HUMPHREY_" not in message and "switched off" not in message

    settings.HUMPHREY_SOURCE_ALLOWED_ROOTS = [str(tmp_path)]
    form = client.get(add).content.decode()
    assert 'value="folder"' in form and "ask your administrator to allow folder sources" not in form


def test_a_folder_source_left_when_folders_are_switched_off_fails_in_plain_words(
    client, make_collection, curator, settings, tmp_path
):
    """A folder source added while folders were allowed, read after they no longer are: its run
    fails saying so without naming the setting; the setting is in the audit event."""
    settings.HUMPHREY_SOURCE_ALLOWED_ROOTS = [str(tmp_path)]
    (tmp_path / "note.md").write_text("# Note\n\nThe heron rule applies.\n")
    source = source_add(collection=make_collection(), kind=SourceKind.FOLDER, location=str(tmp_path), user=curator)
    settings.HUMPHREY_SOURCE_ALLOWED_ROOTS = []

    run = source_sync(source).run

    assert run.outcome == RunOutcome.FAILED
    assert "administrator" in run.error and "HUMPHREY_" not in run.error
    assert "HUMPHREY_SOURCE_ALLOWED_ROOTS" in sync_event(run).data["cause"]
    signed_in(client, curator)
    assert not [word for word in JARGON if word in page_of(client, source)]
