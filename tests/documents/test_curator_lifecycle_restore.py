"""Retired documents and uploads, and the retire page (curators' walk, defects 3 and 4). Measured before:
a batch holding a retired document's file answered "1 restored: Holiday entitlement." and put it back
in front of readers with no confirmation; the retired document's page said only "To bring it back,
upload the file again"; and "Retire 'Holiday entitlement'?" could not tell two documents of one title
apart. Now an upload never restores a retired document by itself (it says so, and nothing of it is
searched); its page restores it, confirmed and audited as before; and both confirmation pages name
the file, the version, when it was uploaded and by whom."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditEvent
from documents import services
from documents.models import Chunk, Document
from documents.retrieval import passages_for_user
from tests.conftest import signed_in
from tests.documents.conftest import notices
from tests.documents.files import upload_and_ingest

pytestmark = pytest.mark.django_db

HOLIDAY = b"# Holiday entitlement\n\nYou get 25 days of holiday a year, plus bank holidays.\n"
HOLIDAY_V2 = b"# Holiday entitlement\n\nYou get 27 days of holiday a year, plus bank holidays.\n"
TRAVEL = b"# Travel\n\nRail travel is standard class.\n"


@pytest.fixture
def retired(hr, curator, make_user):
    """Holiday entitlement, version 1, retired on purpose by a colleague."""
    version = upload_and_ingest(hr, "holiday.md", HOLIDAY, curator)
    colleague = make_user("cole@example.gov.uk", roles=[Role.CURATOR])
    hr.curators.add(colleague)
    services.document_retire(document=version.document, user=colleague)
    return Document.objects.get(pk=version.document_id)


def holiday_quoted(reader) -> list[str]:
    """What a reader is quoted of the holiday guidance (whatever else the collection holds)."""
    found = passages_for_user(user=reader, query="holiday days a year", collections=["hr"], k=5)
    return [p.text for p in found if "holiday" in p.text]


def upload(client, collection, files: dict[str, bytes]):
    chosen = [SimpleUploadedFile(name, data) for name, data in files.items()]
    return client.post(reverse("documents:collection_upload", args=[collection.slug]), {"files": chosen})


def test_an_upload_of_a_retired_documents_file_does_not_restore_it(client, hr, retired, curator, reader):
    """The walk's batch: the retired document's file, with another. Reported as not restored, with the
    way to restore it; the document stays retired, nothing of it searched, no restore audited."""
    upload_and_ingest(hr, "travel.md", TRAVEL, curator)
    signed_in(client, curator)
    response = upload(client, hr, {"holiday.md": HOLIDAY, "travel.md": TRAVEL})
    said = notices(response)
    assert "0 queued for ingestion, 2 unchanged, 0 refused." in said
    assert (
        "1 file matches a retired document, Holiday entitlement: not restored. "
        "Restore it from its page if it should be searched again." in said
    )
    assert not any("restored:" in line for line in said)
    assert not Document.objects.get(pk=retired.pk).is_active
    assert not Chunk.objects.filter(version__document=retired, searchable=True).exists()
    assert holiday_quoted(reader) == []
    assert not AuditEvent.objects.filter(action="curation.document_restore").exists()


def test_a_changed_file_of_a_retired_document_is_kept_unsearched_until_restored(client, hr, retired, curator, reader):
    """A new file for the retired document is read as its next version, and not searched; restoring it
    from its page brings back that newest ready version."""
    signed_in(client, curator)
    response = upload(client, hr, {"holiday.md": HOLIDAY_V2})
    assert "1 file matches a retired document, Holiday entitlement: not restored." in " ".join(notices(response))
    v2 = retired.versions.get(number=2)
    services.version_ingest(v2.pk)
    v2.refresh_from_db()
    assert v2.status == "ready"
    document = Document.objects.get(pk=retired.pk)
    assert not document.is_active and document.current_version_id == v2.pk
    assert holiday_quoted(reader) == []
    upload_event = AuditEvent.objects.filter(action="curation.document_upload", outcome="queued").latest("seq")
    assert upload_event.data["restored"] is False and upload_event.data["document_retired"] is True

    page = client.get(reverse("documents:document_retire", args=[retired.pk])).content.decode()
    assert "Restore “Holiday entitlement”?" in page and "Version 2, uploaded" in page
    client.post(reverse("documents:document_retire", args=[retired.pk]), {"action": "restore"})
    assert ["27 days" in t for t in holiday_quoted(reader)] == [True]


def test_a_retired_documents_page_restores_it_confirmed_and_audited(client, hr, retired, curator, reader):
    """ "Restore this document" on its page leads to a confirmation naming what comes back; confirming
    (a POST) brings back its last ready version at once, with no file; audited as
    ``curation.document_restore``, the action uploads have always recorded."""
    signed_in(client, curator)
    document_page = client.get(reverse("documents:document", args=[retired.pk])).content.decode()
    assert "To bring it back, upload the file again" not in document_page
    link = re.search(
        r'<a class="govuk-button" href="([^"]+)"[^>]*id="restore">Restore this document</a>', document_page
    )
    assert link and link.group(1) == reverse("documents:document_retire", args=[retired.pk])

    confirm = client.get(link.group(1))
    assert confirm.status_code == 200
    html = " ".join(confirm.content.decode().split())
    assert "Restore “Holiday entitlement”?" in html
    assert (
        "holiday.md" in html
        and f"Version 1, uploaded {timezone.localtime(retired.current_version.uploaded_at):%-d %B %Y}" in html
    )
    assert f"by {curator.email}" in html
    assert 'name="action" value="restore"' in html and holiday_quoted(reader) == []

    # A retire form gone stale (no action named) does not restore it.
    stale = client.post(link.group(1), follow=True)
    assert "was already retired. Nothing was changed." in stale.content.decode()
    assert not Document.objects.get(pk=retired.pk).is_active

    response = client.post(link.group(1), {"action": "restore"})
    assert response.status_code == 302 and response["Location"] == reverse("documents:document", args=[retired.pk])
    assert notices(response) == ["“Holiday entitlement” is restored: version 1 is searched again."]
    document = Document.objects.get(pk=retired.pk)
    assert document.is_active and document.retired_at is None
    assert len(holiday_quoted(reader)) == 1
    (event,) = AuditEvent.objects.filter(action="curation.document_restore")
    assert event.actor_id == curator.pk and event.subject == f"document:{retired.pk}"
    assert event.data["version_id"] == retired.current_version_id and event.data["document_id"] == retired.pk

    again = client.post(link.group(1), {"action": "restore"})  # a second click changes nothing
    assert "is not retired" in " ".join(notices(again))
    assert AuditEvent.objects.filter(action="curation.document_restore").count() == 1


def test_only_the_collections_curators_may_restore(client, retired, make_user, reader):
    outsider = make_user("olu@example.gov.uk", roles=[Role.CURATOR])
    url = reverse("documents:document_retire", args=[retired.pk])
    assert signed_in(client, outsider).post(url, {"action": "restore"}).status_code == 404
    client.logout()
    assert signed_in(client, reader).post(url, {"action": "restore"}).status_code == 403
    assert not Document.objects.get(pk=retired.pk).is_active
    assert not AuditEvent.objects.filter(action="curation.document_restore").exists()


def test_a_synced_source_brings_back_only_what_it_retired_itself(hr, curator, retired):
    """A source retires a page gone for its grace period (by no person) and restores it when it is back;
    a document a person retired stays retired whatever the source reads."""
    via = {"source_id": 1, "source_key": "https://example.gov.uk/holiday"}
    again = services.document_upload(collection=hr, filename="holiday.md", data=HOLIDAY, user=None, via=via)
    assert again.duplicate and not again.restored and again.kept_retired
    assert not Document.objects.get(pk=retired.pk).is_active

    travel = upload_and_ingest(hr, "travel.md", TRAVEL, curator)
    services.document_retire(document=travel.document, user=None)  # as a source retires a page gone
    back = services.document_upload(collection=hr, filename="travel.md", data=TRAVEL, user=None, via=via)
    assert back.duplicate and back.restored and not back.kept_retired
    assert Document.objects.get(pk=travel.document_id).is_active
    assert Chunk.objects.filter(version=travel, searchable=True).exists()


def test_the_retire_page_names_the_file_version_date_and_uploader(client, hr, curator, make_user):
    """Two documents titled "Holiday entitlement": each retire page says which file, which version,
    uploaded when and by whom."""
    colleague = make_user("cole@example.gov.uk", roles=[Role.CURATOR])
    hr.curators.add(colleague)
    england = upload_and_ingest(hr, "holiday-england.md", HOLIDAY, curator)
    upload_and_ingest(hr, "holiday-england.md", HOLIDAY_V2, colleague)
    scotland = upload_and_ingest(hr, "holiday-scotland.md", HOLIDAY.replace(b"25", b"26"), curator)
    signed_in(client, curator)

    page = " ".join(
        client.get(reverse("documents:document_retire", args=[england.document_id])).content.decode().split()
    )
    v2 = england.document.versions.get(number=2)
    when = timezone.localtime(v2.uploaded_at)
    assert "Retire “Holiday entitlement”?" in page
    assert "holiday-england.md" in page and "holiday-scotland.md" not in page
    assert f"Version 2, uploaded {when:%-d %B %Y %H:%M} by {colleague.email}" in page

    other = " ".join(
        client.get(reverse("documents:document_retire", args=[scotland.document_id])).content.decode().split()
    )
    assert "holiday-scotland.md" in other and "Version 1, uploaded" in other and f"by {curator.email}" in other

    client.post(reverse("documents:document_retire", args=[england.document_id]))  # retiring works as before
    assert not Document.objects.get(pk=england.document_id).is_active
    assert Document.objects.get(pk=scotland.document_id).is_active
