"""What a curator met uploading: a file's placeholder title (a browser's "about:blank", Office's
"Document1") named the document, and a curator could not rename it; uploading a retired document's
file brought it back without saying so (now it never does: test_curator_lifecycle_restore.py); an
empty file was taken and failed later; and a failure that trying again cannot fix still offered
"Retry ingestion"."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from documents import services
from documents.ingest.parse import LASTING_CODES, lasting_refusal, parse, title_or_filename
from documents.models import Chunk, Document, DocumentVersion, VersionStatus
from tests.conftest import signed_in
from tests.documents.files import make_docx, make_pdf, make_pptx, upload_and_ingest, upload_refused

BODY = "Members may opt out of the pension scheme by giving three months notice to the pensions team."
LEAVE = b"# Leave\n\n## Carry over\n\nYou may carry over up to 5 days of unused leave into the next leave year.\n"
LEAVE_V2 = LEAVE.replace(b"5 days", b"8 days")


# --- 1. Placeholder titles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "about:blank",
        "http://127.0.0.1:8011/guidance/pensions",
        "https://www.gov.uk/guidance/pensions",
        "file:///home/cara/pension.html",
        "C:\\Users\\cara\\Documents\\pension.docx",
        "\\\\fileserver\\hr\\pension.docx",
        "/home/cara/pension.pdf",
        "www.gov.uk/guidance",
        "Untitled",
        "Untitled document",
        "untitled-1",
        "No title",
        "Document1",
        "Presentation1",
        "PowerPoint Presentation",
        "Book1",
        "pension-v3-FINAL.docx",
        "Microsoft Word - Document1",
        "  ",
        "—",
    ],
)
def test_a_placeholder_title_gives_way_to_the_file_name(title):
    assert title_or_filename(title, "pension-guide.pdf") == "Pension guide"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Microsoft Word - scheme_rules.docx", "Scheme rules"),
        ("Microsoft PowerPoint - 2024-pension-briefing.pptx", "Pension briefing"),
        ("Microsoft Word - Scheme rules", "Scheme rules"),
    ],
)
def test_an_office_printed_title_gives_the_name_inside_it(title, expected):
    assert title_or_filename(title, "pension-guide.pdf") == expected


@pytest.mark.parametrize(
    "title",
    [
        "Pension contributions guide",
        "GOV.UK style guide",
        "Version 2.1 of the rules",
        "Section 3.4 of the MPM",
        "24/7 support",
        "Document management policy",
        "Titles and honours",
        "Form P11D",
    ],
)
def test_a_real_title_is_kept(title):
    assert title_or_filename(title, "pension-guide.pdf") == title


@pytest.mark.parametrize(
    ("make", "filename"),
    [
        (lambda title: make_pdf([BODY], title=title), "pension-guide.pdf"),
        (lambda title: make_docx([("", BODY)], title=title), "pension-guide.docx"),
        (lambda title: make_pptx([{"bullets": [BODY]}], title=title), "pension-guide.pptx"),
        (
            lambda title: f"<html><head><title>{title}</title></head><body><p>{BODY}</p></body></html>".encode(),
            "pension-guide.html",
        ),
        (lambda title: f"---\ntitle: {title}\n---\n\n{BODY}\n".encode(), "pension-guide.md"),
    ],
    ids=["pdf", "docx", "pptx", "html", "markdown"],
)
def test_every_format_names_a_document_after_its_file_when_its_title_is_a_placeholder(make, filename):
    """The one place a parsed title is chosen serves every format."""
    assert parse(make("about:blank"), filename).title == "Pension guide"
    assert parse(make("Untitled"), filename).title == "Pension guide"
    assert parse(make("Pension contributions guide"), filename).title == "Pension contributions guide"


@pytest.mark.django_db
def test_a_pdf_printed_from_a_browser_is_named_after_its_file(make_collection, curator):
    collection = make_collection()
    version = upload_and_ingest(collection, "pension-guide.pdf", make_pdf([BODY], title="about:blank"), curator)
    assert version.status == VersionStatus.READY
    assert version.title == "Pension guide" and version.document.title == "Pension guide"


# --- 1. A curator corrects the title -----------------------------------------------------------


def _review_post(client, document, **extra):
    form = {"owner_email": "pensions@example.gov.uk", "review_from": "collection", **extra}
    return client.post(reverse("documents:document_review", args=[document.pk]), form)


@pytest.mark.django_db
def test_a_curator_sets_the_title_and_the_next_version_keeps_it(client, make_collection, curator):
    collection = make_collection()
    v1 = upload_and_ingest(collection, "pension-guide.pdf", make_pdf([BODY], title="Pension scheme"), curator)
    document = v1.document
    signed_in(client, curator)
    page = client.get(reverse("documents:document", args=[document.pk])).content.decode()
    assert "Change the title, owner or review date" in page and 'value="Pension scheme"' in page

    response = _review_post(client, document, title="  Opting out of the   pension scheme ")
    assert response.status_code == 302
    document.refresh_from_db()
    assert (document.title, document.title_set_by_curator) == ("Opting out of the pension scheme", True)
    event = AuditEvent.objects.get(action="curation.document_review", outcome="title_set")
    assert event.actor_id == curator.pk and event.data["document_id"] == document.pk
    assert event.data["changed"] == ["title"]
    assert event.content.body == {"title": "Opting out of the pension scheme", "previous_title": "Pension scheme"}

    v2 = upload_and_ingest(collection, "pension-guide.pdf", make_pdf([BODY + " Updated."], title="Pensions"), curator)
    assert v2.status == VersionStatus.READY and v2.title == "Pensions"
    document.refresh_from_db()
    assert document.current_version_id == v2.pk and document.title == "Opting out of the pension scheme"
    page = client.get(reverse("documents:document", args=[document.pk])).content.decode()
    assert "Set by a curator: new versions keep it." in page
    # The cited passage's page names it as the curator did, not as the file did.
    chunk = v2.chunks.first()
    passage = client.get(reverse("documents:passage", args=[chunk.pk])).content.decode()
    assert '<h1 class="govuk-heading-l">Opting out of the pension scheme</h1>' in passage

    # An empty title hands the name back to the file: its current version's.
    _review_post(client, document, title="")
    document.refresh_from_db()
    assert (document.title, document.title_set_by_curator) == ("Pensions", False)
    assert AuditEvent.objects.filter(action="curation.document_review", outcome="title_from_file").exists()


@pytest.mark.django_db
def test_saving_the_owner_does_not_pin_the_title(client, make_collection, curator):
    """The form shows the current title: sending it back unchanged is no curator's choice."""
    collection = make_collection()
    v1 = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    signed_in(client, curator)
    assert _review_post(client, v1.document, title="Leave").status_code == 302
    document = Document.objects.get(pk=v1.document_id)
    assert document.owner_email == "pensions@example.gov.uk" and not document.title_set_by_curator
    assert not AuditEvent.objects.filter(outcome__startswith="title").exists()
    upload_and_ingest(collection, "leave.md", LEAVE_V2.replace(b"# Leave", b"# Annual leave"), curator)
    document.refresh_from_db()
    assert document.title == "Annual leave"


@pytest.mark.django_db
def test_a_title_too_long_is_refused_and_nothing_is_saved(client, make_collection, curator):
    collection = make_collection()
    v1 = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    signed_in(client, curator)
    response = _review_post(client, v1.document, title="x" * 301)
    assert response.status_code == 400
    assert "Title must be 300 characters or fewer" in response.content.decode()
    document = Document.objects.get(pk=v1.document_id)
    assert document.title == "Leave" and document.owner_email != "pensions@example.gov.uk"


# --- 3. Uploading a retired document's file again ----------------------------------------------


@pytest.mark.django_db
def test_the_upload_says_a_retired_documents_file_did_not_restore_it(client, make_collection, curator):
    """Measured before: "1 restored", the document back in search unasked. A retired document's file
    in a batch is reported, and left retired (tests/documents/test_curator_lifecycle_restore.py)."""
    collection = make_collection()
    flexible = upload_and_ingest(
        collection, "flexible.md", b"# Flexible working guidance\n\nAsk your manager.\n", curator
    )
    travel = upload_and_ingest(collection, "travel.md", b"# Travel\n\nRail is standard class.\n", curator)
    services.document_retire(document=flexible.document, user=curator)
    signed_in(client, curator)
    files = [
        SimpleUploadedFile("flexible.md", b"# Flexible working guidance\n\nAsk your manager.\n"),
        SimpleUploadedFile("travel.md", b"# Travel\n\nRail is standard class.\n"),
        SimpleUploadedFile("leave.md", LEAVE),
    ]
    response = client.post(f"/curate/c/{collection.slug}/upload/", {"files": files}, follow=True)
    text = response.content.decode()
    assert "1 queued for ingestion, 2 unchanged, 0 refused." in text
    assert "1 file matches a retired document, Flexible working guidance: not restored." in text
    assert not Document.objects.get(pk=flexible.document_id).is_active
    assert not Chunk.objects.filter(version=flexible, searchable=True).exists()
    assert not AuditEvent.objects.filter(action="curation.document_restore").exists()
    assert travel.document.is_active


@pytest.mark.django_db
def test_a_new_version_of_a_retired_document_is_read_but_not_restored(client, make_collection, curator):
    """A changed file does not bring the document back either: it is read as its next version, not
    searched, until a curator restores the document from its page."""
    collection = make_collection()
    v1 = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    services.document_retire(document=v1.document, user=curator)
    signed_in(client, curator)
    response = client.post(
        f"/curate/c/{collection.slug}/upload/", {"files": [SimpleUploadedFile("leave.md", LEAVE_V2)]}, follow=True
    )
    text = response.content.decode()
    assert "1 queued for ingestion, 0 unchanged, 0 refused." in text
    assert "1 file matches a retired document, Leave: not restored." in text
    v2 = DocumentVersion.objects.get(document=v1.document, number=2)
    services.version_ingest(v2.pk)
    assert not Chunk.objects.filter(version__document=v1.document, searchable=True).exists()
    assert not AuditEvent.objects.filter(action="curation.document_restore").exists()
    services.document_restore(document=v1.document, user=curator)
    assert Chunk.objects.filter(version=v2, searchable=True).exists()
    (event,) = AuditEvent.objects.filter(action="curation.document_restore")
    assert event.data["version_id"] == v2.pk


@pytest.mark.django_db
def test_a_refused_upload_leaves_a_retired_document_retired(make_collection, curator, settings):
    collection = make_collection()
    v1 = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    services.document_retire(document=v1.document, user=curator)
    settings.HUMPHREY_MAX_UPLOAD_MB = 0  # every file is too large
    refusal = upload_refused(collection, "leave.md", LEAVE_V2, curator)
    assert refusal.code == "too_large"
    assert not Document.objects.get(pk=v1.document_id).is_active
    assert v1.document.versions.count() == 1, "no version added to the document of that name"
    event = AuditEvent.objects.get(action="curation.document_upload", outcome="refused")
    assert event.subject == f"document:{v1.document_id}" and event.data["document_id"] == v1.document_id
    assert not AuditEvent.objects.filter(action="curation.document_restore").exists()


# --- 6. Empty files and failures that trying again cannot fix ---------------------------------


@pytest.mark.django_db
def test_an_empty_file_is_refused_at_upload(client, make_collection, curator):
    collection = make_collection()
    signed_in(client, curator)
    files = [SimpleUploadedFile("empty.md", b""), SimpleUploadedFile("leave.md", LEAVE)]
    response = client.post(f"/curate/c/{collection.slug}/upload/", {"files": files}, follow=True)
    text = response.content.decode()
    assert "1 queued for ingestion, 0 unchanged, 1 refused." in text
    assert "empty.md: The file is empty." in text
    assert list(collection.documents.values_list("source_name", flat=True)) == ["leave.md"]


def _locked_pdf() -> bytes:
    return make_pdf([BODY], password="secret")


LASTING = [
    ("empty.md", b"", "The file is empty."),
    (
        "fake.pdf",
        b"This is not really a PDF, just text pretending.\n",
        "The file is named .pdf but its content is text",
    ),
    ("renamed-zip.docx", None, "is not a PDF, Word"),
    ("locked.pdf", None, "password-protected"),
]


def _lasting_data(filename: str, data: bytes | None) -> bytes:
    if filename == "locked.pdf":
        return _locked_pdf()
    if filename == "renamed-zip.docx":
        import io
        import zipfile

        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("a.txt", "hello\n")
        return out.getvalue()
    return data


@pytest.mark.parametrize(("filename", "data", "reason"), LASTING, ids=[f for f, _, _ in LASTING])
def test_lasting_refusals_are_those_parse_makes(filename, data, reason):
    """The judgement comes from the parser's own codes, so it cannot drift from what ingestion refuses."""
    data = _lasting_data(filename, data)
    refusal = lasting_refusal(data, filename)
    assert refusal is not None and reason in refusal.message
    with pytest.raises(Exception) as raised:
        parse(data, filename)
    assert getattr(raised.value, "code", None) == refusal.code


@pytest.mark.django_db
@pytest.mark.parametrize(("filename", "data", "reason"), LASTING, ids=[f for f, _, _ in LASTING])
def test_a_failure_retrying_cannot_fix_is_refused_at_upload(make_collection, curator, filename, data, reason):
    """What would fail on every attempt is refused before anything is stored: no document is left
    behind holding nothing, and the refusal is audited."""
    refusal = upload_refused(make_collection(), filename, _lasting_data(filename, data), curator)
    assert reason in refusal.messages[0] and refusal.code in LASTING_CODES


def _failed_before(collection, filename: str, data: bytes, user) -> DocumentVersion:
    """A version that failed for a lasting reason when such files were still stored (before they were
    refused at upload): stored as a good file would be, then failed as ingestion failed it."""
    refusal = lasting_refusal(data, filename)
    good = services.document_upload(collection=collection, filename="good.md", data=LEAVE, user=user, enqueue=False)
    good.file.storage.save(good.file.name, ContentFile(data))
    Document.objects.filter(pk=good.document_id).update(source_name=filename)
    DocumentVersion.objects.filter(pk=good.pk).update(
        status=VersionStatus.FAILED, error=refusal.message, error_code=refusal.code, original_filename=filename
    )
    return DocumentVersion.objects.get(pk=good.pk)


#: An empty file was never stored (no version to retry); the others were, before they were refused.
STORED = [case for case in LASTING if case[1] != b""]


@pytest.mark.django_db
@pytest.mark.parametrize(("filename", "data", "reason"), STORED, ids=[f for f, _, _ in STORED])
def test_no_retry_for_a_failure_retrying_cannot_fix(client, make_collection, curator, filename, data, reason):
    collection = make_collection()
    version = _failed_before(collection, filename, _lasting_data(filename, data), curator)
    assert version.status == VersionStatus.FAILED and reason in version.error
    assert version.error_code in LASTING_CODES, "the failure's code is recorded"
    # Judged from that code: the page does not read the kept file again (up to the upload limit).
    if version.file:
        version.file.storage.delete(version.file.name)
    signed_in(client, curator)
    page = client.get(version.get_absolute_url()).content.decode()
    assert "Retry ingestion" not in page
    assert "Trying again will not fix this. Correct the file and upload it again." in page
    response = client.post(reverse("documents:version_retry", args=[version.pk]), follow=True)
    assert "Trying again will not fix this." in response.content.decode()
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED
    assert not AuditEvent.objects.filter(action="curation.version_retry").exists()
    with pytest.raises(ValidationError):
        services.version_retry(version=version, user=curator, enqueue=False)


@pytest.mark.django_db
def test_retry_is_still_offered_when_the_embedder_was_down(client, make_collection, curator, embedder_down):
    collection = make_collection()
    version = services.document_upload(
        collection=collection, filename="leave.md", data=LEAVE, user=curator, enqueue=False
    )
    services.version_ingest(version.pk)
    version.refresh_from_db()
    assert (version.status, version.error_code) == (VersionStatus.FAILED, "internal")
    signed_in(client, curator)
    page = client.get(version.get_absolute_url()).content.decode()
    assert "Retry ingestion" in page and "Trying again will not fix this" not in page
    client.post(reverse("documents:version_retry", args=[version.pk]))
    version.refresh_from_db()
    assert version.status == VersionStatus.QUEUED
