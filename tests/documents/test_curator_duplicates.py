"""Copies and new versions under other names (what a curator found). Before: "passwords copy (2).docx",
the same bytes as "passwords.docx", became a second "Passwords" and readers were quoted the same
sentence twice; "Holiday entitlement v2.docx" became a second "Holiday entitlement" (28 days beside
30) with no warning, and no file could be uploaded as a chosen document's new version. Now a copy of
another active document's file is refused at the file and audited; a document's page uploads any
file as its next version; a new document of an existing document's title is pointed out, never
merged by guesswork. And a failure's library error is kept for the operator, out of curators' sight."""

from __future__ import annotations

import html
import logging
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from documents import services
from documents.models import Chunk, Document, DocumentVersion, VersionStatus
from documents.retrieval import passages_for_user
from documents.services.documents import document_title_set
from tests.conftest import signed_in
from tests.documents.conftest import notices
from tests.documents.files import BROKEN_PDF, make_docx, upload_and_ingest

pytestmark = pytest.mark.django_db

PASSWORDS_RULE = "Passwords must be at least 14 characters long and never written down."
PASSWORDS = make_docx([("", PASSWORDS_RULE)])
HOLIDAY = make_docx([("", "Full-time staff get 28 days of holiday entitlement a year, including bank holidays.")])
HOLIDAY_V2 = make_docx([("", "Full-time staff get 30 days of holiday entitlement a year, including bank holidays.")])
HOLIDAY_V2_TITLED = make_docx(
    [("", "Full-time staff get 30 days of holiday entitlement a year, including bank holidays.")],
    title="Holiday entitlement",
)
SAME_FILE = (
    "passwords copy (2).docx is the same file as Passwords (passwords.docx), already in this collection: not added."
)


def batch_upload(client, collection, files: dict[str, bytes], **kwargs):
    chosen = [SimpleUploadedFile(name, data) for name, data in files.items()]
    return client.post(reverse("documents:collection_upload", args=[collection.slug]), {"files": chosen}, **kwargs)


def version_upload(client, document, name: str, data: bytes, **kwargs):
    url = reverse("documents:document_version_upload", args=[document.pk])
    return client.post(url, {"file": SimpleUploadedFile(name, data)}, **kwargs)


def text_of(markup: str) -> str:
    """What a person reads: tags taken out, entities decoded, white space as single spaces."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def quoted(reader, query: str, needle: str, slug: str = "hr") -> list[str]:
    """What the reader is quoted of passages holding ``needle``."""
    return [p.text for p in passages_for_user(user=reader, query=query, collections=[slug], k=8) if needle in p.text]


def refusals() -> int:
    return AuditEvent.objects.filter(action="curation.document_upload", outcome="refused").count()


# --- 1. The same file under another name --------------------------------------------------------


def test_a_copy_under_another_name_is_refused_at_the_file_and_audited(client, hr, curator):
    """The walk: "passwords copy (2).docx", the same bytes as "passwords.docx" already here, is not
    added; the upload says so at the Files field, naming the document it copies; the refusal is a
    ``curation.document_upload`` event like any other, saying which document holds the bytes."""
    original = upload_and_ingest(hr, "passwords.docx", PASSWORDS, curator)
    assert original.document.title == "Passwords"
    signed_in(client, curator)
    documents, versions = Document.objects.count(), DocumentVersion.objects.count()
    response = batch_upload(client, hr, {"passwords copy (2).docx": PASSWORDS})
    said = notices(response)
    assert "0 queued for ingestion, 0 unchanged, 1 refused." in said
    assert SAME_FILE in said
    assert (Document.objects.count(), DocumentVersion.objects.count()) == (documents, versions)
    event = AuditEvent.objects.filter(action="curation.document_upload", outcome="refused").latest("seq")
    assert event.data["refused"] == "same_file"
    assert event.data["filename"] == "passwords copy (2).docx"
    assert event.data["same_as_document_id"] == original.document_id
    assert event.data["same_as_version_id"] == original.pk
    assert event.data["sha256"] == original.sha256
    assert event.actor_id == curator.pk


def test_the_refusal_is_said_at_the_files_field(client, hr, curator):
    """Shown where the file was chosen: in the error summary and at the Files field, linked to it."""
    upload_and_ingest(hr, "passwords.docx", PASSWORDS, curator)
    signed_in(client, curator)
    page = batch_upload(client, hr, {"passwords copy (2).docx": PASSWORDS}, follow=True).content.decode()
    error = re.search(r'<p class="govuk-error-message" id="files-error">(.*?)</p>', page, re.S)
    assert error and text_of(error.group(1)) == f"Error: {SAME_FILE}"
    summary = re.findall(r'<a href="#id_files">(.*?)</a>', page, re.S)
    assert [text_of(item) for item in summary] == [SAME_FILE]


def test_a_refused_copy_is_never_quoted_twice(client, hr, curator, reader):
    """From the reader's side: after the copy was offered (alone, and beside the original in one
    batch), the sentence is quoted once, from the one document."""
    upload_and_ingest(hr, "passwords.docx", PASSWORDS, curator)
    with pytest.raises(ValidationError) as refused:
        upload_and_ingest(hr, "passwords copy (2).docx", PASSWORDS, curator)
    assert refused.value.code == "same_file" and refused.value.messages == [SAME_FILE]
    signed_in(client, curator)
    batch_upload(client, hr, {"passwords.docx": PASSWORDS, "passwords copy (3).docx": PASSWORDS})
    found = passages_for_user(user=reader, query="passwords characters written down", collections=["hr"], k=8)
    assert [p.text for p in found if "14 characters" in p.text] == [PASSWORDS_RULE]
    assert Document.objects.filter(collection=hr).count() == 1


def test_a_copy_of_a_file_still_being_read_is_refused_too(client, hr, curator, reader):
    """Both copies chosen in one batch: the first is queued, the second is the same file as it (its
    newest upload, current once read) and is refused; once read, it alone is quoted."""
    signed_in(client, curator)
    said = notices(batch_upload(client, hr, {"passwords.docx": PASSWORDS, "passwords copy (2).docx": PASSWORDS}))
    assert "1 queued for ingestion, 0 unchanged, 1 refused." in said
    assert SAME_FILE in said
    (version,) = DocumentVersion.objects.filter(document__collection=hr)
    services.version_ingest(version.pk)
    assert quoted(reader, "passwords characters", "14 characters") == [PASSWORDS_RULE]


def test_the_same_file_in_another_collection_or_a_retired_document_is_taken(make_collection, hr, curator, reader):
    """Only another active document of the same collection counts: another collection's readers are
    not quoted it twice, and a retired document is not quoted at all."""
    upload_and_ingest(hr, "passwords.docx", PASSWORDS, curator)
    it = make_collection("it")
    elsewhere = upload_and_ingest(it, "passwords copy (2).docx", PASSWORDS, curator)
    assert elsewhere.status == VersionStatus.READY and elsewhere.document.collection_id == it.pk
    assert quoted(reader, "passwords characters", "14 characters", slug="it") == [PASSWORDS_RULE]

    services.document_retire(document=Document.objects.get(collection=hr), user=curator)
    again = upload_and_ingest(hr, "passwords copy (2).docx", PASSWORDS, curator)
    assert again.status == VersionStatus.READY
    assert quoted(reader, "passwords characters", "14 characters") == [PASSWORDS_RULE]


def test_the_same_name_and_bytes_is_still_unchanged_not_refused(hr, curator):
    """An identical re-upload of a document's own file stays "unchanged" (its version returned)."""
    original = upload_and_ingest(hr, "passwords.docx", PASSWORDS, curator)
    before = refusals()
    again = upload_and_ingest(hr, "passwords.docx", PASSWORDS, curator)
    assert again.duplicate and again.pk == original.pk
    assert refusals() == before


# --- 2a. A document's page uploads a new version whatever its name -------------------------------


def test_the_document_page_uploads_a_file_as_that_documents_next_version(client, hr, curator, reader):
    """End to end through the page: "Holiday entitlement v2.docx" chosen on "Holiday entitlement"'s
    page becomes its version 2 (recording the new file's name), audited as an upload of a new version;
    once read, readers are quoted 30 days and never 28, and the document keeps its name."""
    v1 = upload_and_ingest(hr, "Holiday entitlement.docx", HOLIDAY, curator)
    document = v1.document
    signed_in(client, curator)
    page = client.get(reverse("documents:document", args=[document.pk])).content.decode()
    action = reverse("documents:document_version_upload", args=[document.pk])
    assert "Upload a new version" in page
    assert f'action="{action}" enctype="multipart/form-data"' in page
    assert 'id="id_file" name="file" type="file"' in page

    response = version_upload(client, document, "Holiday entitlement v2.docx", HOLIDAY_V2)
    assert response.status_code == 302 and response.url == reverse("documents:document", args=[document.pk])
    assert "Holiday entitlement v2.docx is queued for ingestion as version 2 of “Holiday entitlement”." in notices(
        response
    )
    assert Document.objects.filter(collection=hr).count() == 1
    v2 = document.versions.get(number=2)
    assert v2.original_filename == "Holiday entitlement v2.docx"
    event = AuditEvent.objects.filter(action="curation.document_upload", outcome="queued").latest("seq")
    assert event.data["version_id"] == v2.pk and event.data["version"] == 2
    assert event.data["new_document"] is False and event.data["chosen_document"] is True
    assert event.data["filename"] == "Holiday entitlement v2.docx"
    assert event.data["document_filename"] == "Holiday entitlement.docx"
    assert event.actor_id == curator.pk

    services.version_ingest(v2.pk)
    document.refresh_from_db()
    assert document.current_version_id == v2.pk
    assert document.title == "Holiday entitlement" and document.source_name == "Holiday entitlement.docx"
    said = quoted(reader, "holiday entitlement days a year", "days of holiday")
    assert len(said) == 1 and "30 days" in said[0]
    # A file of the document's own name still goes to it.
    v3 = upload_and_ingest(hr, "Holiday entitlement.docx", HOLIDAY, curator)
    assert v3.document_id == document.pk and v3.number == 3


def test_the_document_page_upload_refuses_as_any_upload_does(client, hr, curator):
    """The same checks: an empty file and a copy of another document's file are refused at the field
    (the page sent back, 400), nothing stored, each refusal audited about the chosen document. The
    same bytes as its own newest version change nothing."""
    document = upload_and_ingest(hr, "Holiday entitlement.docx", HOLIDAY, curator).document
    upload_and_ingest(hr, "passwords.docx", PASSWORDS, curator)
    signed_in(client, curator)
    versions = DocumentVersion.objects.count()

    empty = version_upload(client, document, "Holiday entitlement v2.docx", b"")
    assert empty.status_code == 400
    assert "Holiday entitlement v2.docx: The file is empty." in text_of(empty.content.decode())
    assert 'href="#id_file"' in empty.content.decode()
    event = AuditEvent.objects.filter(action="curation.document_upload", outcome="refused").latest("seq")
    assert event.subject == f"document:{document.pk}" and event.data["refused"] == "empty"
    assert event.data["chosen_document"] is True

    copy = version_upload(client, document, "passwords copy (2).docx", PASSWORDS)
    assert copy.status_code == 400
    assert SAME_FILE in text_of(copy.content.decode())
    event = AuditEvent.objects.filter(action="curation.document_upload", outcome="refused").latest("seq")
    assert event.data["refused"] == "same_file" and event.subject == f"document:{document.pk}"

    nothing = version_upload(client, document, "holiday again.docx", HOLIDAY, follow=True)
    assert "holiday again.docx is the same file as version 1: nothing was changed." in text_of(nothing.content.decode())

    chosen_nothing = client.post(reverse("documents:document_version_upload", args=[document.pk]), {})
    assert chosen_nothing.status_code == 400 and "Select a file to upload" in chosen_nothing.content.decode()
    assert DocumentVersion.objects.count() == versions


def test_only_the_collections_curators_may_upload_a_new_version(client, hr, curator, make_user, reader, media):
    """Another collection's curator is told the document does not exist (404), a reader without the
    curator role is refused (403): nothing is stored, no file written, nothing audited as uploaded."""
    document = upload_and_ingest(hr, "Holiday entitlement.docx", HOLIDAY, curator).document
    stranger = make_user("sam@example.gov.uk", roles=[Role.CURATOR])
    files = sorted(p for p in media.rglob("*") if p.is_file())
    versions, uploads = DocumentVersion.objects.count(), AuditEvent.objects.filter(action="curation.document_upload")
    uploaded = uploads.count()
    for who, status in ((stranger, 404), (reader, 403)):
        client.logout()
        signed_in(client, who)
        assert version_upload(client, document, "Holiday entitlement v2.docx", HOLIDAY_V2).status_code == status
        assert client.get(reverse("documents:document", args=[document.pk])).status_code == status
    assert DocumentVersion.objects.count() == versions
    assert uploads.count() == uploaded
    assert sorted(p for p in media.rglob("*") if p.is_file()) == files


# --- 2b. A new document of an existing document's title is pointed out ---------------------------


def clash_warnings(page: str) -> list[tuple[str, list[str]]]:
    """Each title warning on a collection page: its words, and the addresses it links to."""
    found = re.findall(
        r'<div class="govuk-warning-text" data-title-clash="\d+">.*?<strong[^>]*>(.*?)</strong>', page, re.S
    )
    return [(text_of(block), re.findall(r'href="([^"]+)"', block)) for block in found]


def test_a_new_document_of_an_existing_title_is_pointed_out_with_links_to_both(client, hr, curator):
    """The file's own title ("Holiday entitlement", in its properties) is an existing document's: once
    it is read, the collection page says so, linking both. Nothing is merged: two documents remain."""
    existing = upload_and_ingest(hr, "Holiday entitlement.docx", HOLIDAY, curator).document
    signed_in(client, curator)
    page = batch_upload(client, hr, {"Holiday entitlement v2.docx": HOLIDAY_V2_TITLED}, follow=True)
    assert clash_warnings(page.content.decode()) == []  # named "Holiday entitlement v2" until it is read
    added = Document.objects.get(collection=hr, source_name="Holiday entitlement v2.docx")
    services.version_ingest(added.versions.get().pk)
    added.refresh_from_db()
    assert added.title == "Holiday entitlement"

    page = client.get(reverse("documents:collection", args=[hr.slug])).content.decode()
    ((said, links),) = clash_warnings(page)
    assert said == (
        "Warning Holiday entitlement v2.docx was added as a new document, but “Holiday entitlement” already "
        "exists in this collection. If it is a new version, upload it from that document's page and retire "
        "the one added."
    )
    assert links == [
        reverse("documents:document", args=[added.pk]),
        reverse("documents:document", args=[existing.pk]),
    ]
    assert Document.objects.filter(collection=hr, is_active=True).count() == 2
    assert existing.versions.count() == 1 and added.versions.count() == 1


def test_a_title_from_the_file_name_is_pointed_out_in_the_uploads_result(client, hr, curator):
    """A title the site takes from the file's name is known at once: the page the upload returns to
    says it."""
    existing = upload_and_ingest(hr, "Holiday entitlement.docx", HOLIDAY, curator).document
    signed_in(client, curator)
    response = batch_upload(client, hr, {"holiday_entitlement.docx": HOLIDAY_V2}, follow=True)
    ((said, links),) = clash_warnings(response.content.decode())
    assert said.startswith("Warning holiday_entitlement.docx was added as a new document, but “Holiday entitlement”")
    added = Document.objects.get(collection=hr, source_name="holiday_entitlement.docx")
    assert links == [reverse("documents:document", args=[d.pk]) for d in (added, existing)]


def test_following_the_warning_leaves_one_document_quoted(client, hr, curator, reader):
    """The curator does what the warning says: the file, uploaded on the existing document's page, is
    the same file as the one added, so it is refused until that is retired (the page says so); then
    it becomes the existing document's version 2, and readers are quoted 30 days, once."""
    existing = upload_and_ingest(hr, "Holiday entitlement.docx", HOLIDAY, curator).document
    added = upload_and_ingest(hr, "Holiday entitlement v2.docx", HOLIDAY_V2_TITLED, curator).document
    assert len(quoted(reader, "holiday entitlement days a year", "days of holiday")) == 2  # the defect
    signed_in(client, curator)

    first = version_upload(client, existing, "Holiday entitlement v2.docx", HOLIDAY_V2_TITLED)
    assert first.status_code == 400
    assert (
        "Holiday entitlement v2.docx is the same file as Holiday entitlement (Holiday entitlement v2.docx), "
        "already in this collection: not added. To make it this document's new version, retire that one "
        "first, then upload the file here." in text_of(first.content.decode())
    )
    client.post(reverse("documents:document_retire", args=[added.pk]))
    assert version_upload(client, existing, "Holiday entitlement v2.docx", HOLIDAY_V2_TITLED).status_code == 302
    services.version_ingest(existing.versions.get(number=2).pk)
    said = quoted(reader, "holiday entitlement days a year", "days of holiday")
    assert len(said) == 1 and "30 days" in said[0]
    page = client.get(reverse("documents:collection", args=[hr.slug])).content.decode()
    assert clash_warnings(page) == []


def test_the_warning_lasts_until_a_curator_renames_one(client, hr, curator):
    """Renaming the added document clears the warning; a curator who then names it like the other
    meant it, and is not warned again."""
    upload_and_ingest(hr, "Holiday entitlement.docx", HOLIDAY, curator)
    added = upload_and_ingest(hr, "holiday_entitlement.docx", HOLIDAY_V2, curator).document
    signed_in(client, curator)
    url = reverse("documents:collection", args=[hr.slug])
    assert len(clash_warnings(client.get(url).content.decode())) == 1
    document_title_set(document=added, user=curator, title="Holiday entitlement for part-time staff")
    assert clash_warnings(client.get(url).content.decode()) == []
    document_title_set(document=added, user=curator, title="Holiday entitlement")
    assert clash_warnings(client.get(url).content.decode()) == []


# --- 3. What an operator keeps and a curator does not see ---------------------------------------


def test_a_damaged_files_library_error_is_logged_not_shown(hr, curator, caplog):
    """The curator reads plain words; the log keeps the version and the library's error class
    (PdfStreamError) and never the file's contents."""
    caplog.set_level(logging.INFO, logger="documents.ingest.pipeline")
    version = upload_and_ingest(hr, "policy.pdf", BROKEN_PDF, curator)
    assert version.status == VersionStatus.FAILED and version.error_code == "corrupt"
    assert "Pdf" not in version.error and "Error" not in version.error
    (record,) = [r for r in caplog.records if r.name == "documents.ingest.pipeline"]
    assert str(version.pk) in record.getMessage() and "PdfStreamError" in record.getMessage()
    assert "garbage" not in caplog.text


def test_a_failure_of_ours_shows_plain_words_and_keeps_the_exception_for_the_operator(
    hr, curator, embedder_down, caplog
):
    """ "Something went wrong while embedding" without "(ConnectionError)": the class is in the log and
    in the version's ``curation.version_ingest`` event, with the ``internal`` code kept for retries."""
    caplog.set_level(logging.INFO, logger="documents.ingest.pipeline")
    version = upload_and_ingest(hr, "passwords.docx", PASSWORDS, curator)
    assert version.status == VersionStatus.FAILED and version.error_code == "internal"
    assert version.error == (
        "Something went wrong while embedding. Try again; if it keeps failing, tell the service team."
    )
    event = AuditEvent.objects.get(action="curation.version_ingest", outcome="failed")
    assert event.subject == f"documentversion:{version.pk}"
    assert event.data == {
        "collection_id": hr.pk,
        "document_id": version.document_id,
        "version_id": version.pk,
        "error_code": "internal",
        "stage": "embedding",
        "exception": "ConnectionError",
    }
    assert any("ConnectionError" in r.getMessage() and str(version.pk) in r.getMessage() for r in caplog.records)
    assert not Chunk.objects.filter(version=version, searchable=True).exists()
