"""What curators missed: refused uploads left a document each holding nothing (and a file that failed
when read could only be retired, one by one, staying in the list); a title, name or reason could hold
characters nobody sees (a direction override making a title read as another); and some forms answered
a mistake with a redirect and a banner, losing what was typed."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from documents import services
from documents.models import Chunk, Collection, Document, DocumentVersion, Marking, MarkingChange, Source, SourceKind
from documents.services.marking_changes import marking_change_request
from documents.services.sources import source_add
from documents.sources.sync import source_sync
from documents.text import INVISIBLE
from tests.conftest import signed_in
from tests.documents.files import BROKEN_PDF, make_pdf, upload_and_ingest

pytestmark = pytest.mark.django_db

LEAVE = b"# Leave\n\n## Carry over\n\nYou may carry over up to 5 days of unused leave into the next leave year.\n"
TRAVEL = b"# Travel\n\nRail travel is standard class unless the journey is over two hours long.\n"
RLO, ZWSP, LRI, PDI = "\u202e", "\u200b", "\u2066", "\u2069"


def summary(html: str) -> str:
    found = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S)
    return found.group(0) if found else ""


def summary_links(html: str) -> dict[str, str]:
    return {
        " ".join(text.split()): href
        for href, text in re.findall(r'<li><a href="([^"]*)">(.*?)</a></li>', summary(html), re.S)
    }


def field_group(html: str, field_id: str) -> str:
    """The form group holding the element with ``field_id``, from its opening tag to that element."""
    at = html.index(f'id="{field_id}"')
    start = html.rindex('<div class="govuk-form-group', 0, at)
    return html[start : html.index(">", at) + 1]


def _zip_named_docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "hello\n")
    return out.getvalue()


# --- 1. Refused uploads leave nothing behind --------------------------------------------------------


def test_a_batch_keeps_what_was_taken_and_leaves_no_document_for_what_was_refused(
    client, curator, make_collection, settings
):
    """Measured before: each refused file left a document holding only a failed version (an empty,
    a too-large, a mislabelled, an unsupported, a password-protected one: five rows that never held
    anything). Now only the good file becomes a document; each refusal is said once at the Files
    field (and in the error summary), and audited with its reason."""
    collection = make_collection()
    settings.HUMPHREY_MAX_UPLOAD_MB = 1
    signed_in(client, curator)
    files = [
        SimpleUploadedFile("leave.md", LEAVE),
        SimpleUploadedFile("empty.md", b""),
        SimpleUploadedFile("huge.txt", b"x " * (600 * 1024)),
        SimpleUploadedFile("fake.pdf", b"This is not really a PDF, just text pretending.\n"),
        SimpleUploadedFile("renamed.docx", _zip_named_docx()),
        SimpleUploadedFile("tool.exe", b"MZ\x90\x00 not for us"),
        SimpleUploadedFile("locked.pdf", make_pdf(["Secret pension guidance."], password="secret")),
    ]
    page = client.post(f"/curate/c/{collection.slug}/upload/", {"files": files}, follow=True)
    html = page.content.decode()
    assert "1 queued for ingestion, 0 unchanged, 6 refused." in html
    assert list(collection.documents.values_list("source_name", flat=True)) == ["leave.md"]
    assert DocumentVersion.objects.count() == 1
    refusals = {
        "empty.md": "The file is empty.",
        "huge.txt": "the most we accept is 1 MB",
        "fake.pdf": "The file is named .pdf but its content is text",
        "renamed.docx": "is not a PDF, Word",
        "tool.exe": "Files ending .exe are not accepted",
        "locked.pdf": "password-protected",
    }
    files_field = html[html.index('<label class="govuk-label govuk-label--s" for="id_files">') :]
    for name, reason in refusals.items():
        line = next(text for text in summary_links(html) if text.startswith(f"{name}: "))
        assert reason in line and summary_links(html)[line] == "#id_files"
        assert html.count(line) == 2, "once in the summary, once at the field"
        assert line in files_field[: files_field.index('id="id_files"')]
    events = AuditEvent.objects.filter(action="curation.document_upload", outcome="refused")
    assert sorted(e.data["filename"] for e in events) == sorted(refusals)
    codes = {e.data["filename"]: e.data["refused"] for e in events}
    assert codes == {
        "empty.md": "empty",
        "huge.txt": "too_large",
        "fake.pdf": "type_mismatch",
        "renamed.docx": "unsupported_type",
        "tool.exe": "unsupported_type",
        "locked.pdf": "encrypted",
    }
    assert all(e.actor_id == curator.pk and e.subject == f"collection:{collection.pk}" for e in events)
    # The page afterwards: the refusals were said once, and no row stands for them.
    again = client.get(f"/curate/c/{collection.slug}/").content.decode()
    assert "tool.exe" not in again and "govuk-error-summary" not in again


def test_a_refused_new_file_for_a_document_adds_no_version_to_it(make_collection, curator):
    """A refused file of a document's name leaves the document as it was, and the refusal is audited
    against that document."""
    collection = make_collection()
    v1 = upload_and_ingest(collection, "leave.pdf", make_pdf(["Carry over five days."]), curator)
    with pytest.raises(ValidationError, match=r"named \.pdf but its content is text"):
        services.document_upload(collection=collection, filename="leave.pdf", data=LEAVE, user=curator)
    assert list(v1.document.versions.values_list("pk", flat=True)) == [v1.pk]
    event = AuditEvent.objects.get(action="curation.document_upload", outcome="refused")
    assert event.subject == f"document:{v1.document_id}" and event.data["refused"] == "type_mismatch"


def test_documents_whose_every_upload_failed_when_read_are_removed_together(
    client, curator, make_collection, django_capture_on_commit_callbacks
):
    """A file refused only when read (damaged, no text in it) still leaves a document holding nothing:
    the collection page says how many, and one confirmation removes them all, their failed versions
    and kept files with them, audited; the audit trail keeps their uploads. What holds content stays."""
    collection = make_collection()
    good = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    broken = upload_and_ingest(collection, "broken.pdf", BROKEN_PDF, curator)
    blank = upload_and_ingest(collection, "blank.md", b" \n\n  \n", curator)
    assert broken.status == blank.status == "failed"
    stored = [broken.file.name, blank.file.name]
    assert all(default_storage.exists(name) for name in stored)
    signed_in(client, curator)

    page = client.get(f"/curate/c/{collection.slug}/").content.decode()
    notice = page[page.index('id="never-read-notice"') :][:900]
    assert "2 documents could not be read" in notice
    clear_url = reverse("documents:collection_never_read", args=[collection.slug])
    assert f'href="{clear_url}"' in notice
    assert f'data-remove-document="{broken.document_id}"' in page
    assert f'data-remove-document="{good.document_id}"' not in page

    confirm = client.get(clear_url).content.decode()
    assert "Remove 2 documents that could not be read?" in confirm
    assert "The PDF could not be read: it looks damaged" in confirm and "No text could be found" in confirm
    assert "leave.md" not in confirm
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(clear_url, {"document": [broken.document_id, blank.document_id]}, follow=True)
    html = response.content.decode()
    assert "Removed 2 documents that could not be read: blank.md, broken.pdf." in html
    assert list(collection.documents.values_list("pk", flat=True)) == [good.document_id]
    assert not DocumentVersion.objects.filter(pk__in=[broken.pk, blank.pk]).exists()
    assert not Chunk.objects.filter(version_id__in=[broken.pk, blank.pk]).exists()
    assert not any(default_storage.exists(name) for name in stored), "their kept files are deleted"
    assert 'id="never-read-notice"' not in html
    removed = AuditEvent.objects.filter(action="curation.document_remove")
    assert not AuditEvent.objects.filter(action="curation.document_retire").exists(), "removed, not retired"
    assert sorted(e.subject for e in removed) == sorted(
        [f"document:{broken.document_id}", f"document:{blank.document_id}"]
    )
    event = removed.get(subject=f"document:{broken.document_id}")
    assert event.actor_id == curator.pk and event.data["filename"] == "broken.pdf"
    assert event.data["versions"] == [
        {"version_id": broken.pk, "version": 1, "sha256": broken.sha256, "error_code": "corrupt"}
    ]
    assert AuditEvent.objects.filter(action="curation.document_upload", data__version_id=broken.pk).exists()


def test_one_document_that_could_not_be_read_is_removed_from_its_page(client, curator, make_collection):
    collection = make_collection()
    broken = upload_and_ingest(collection, "broken.pdf", BROKEN_PDF, curator)
    other = upload_and_ingest(collection, "blank.md", b" \n", curator)
    signed_in(client, curator)
    page = client.get(reverse("documents:document", args=[broken.document_id])).content.decode()
    one = f"{reverse('documents:collection_never_read', args=[collection.slug])}?document={broken.document_id}"
    assert f'href="{one}"' in page and "Remove document" in page and "Retire document" not in page
    confirm = client.get(one).content.decode()
    assert "Remove a document that could not be read?" in confirm and "blank.md" not in confirm
    client.post(one, {"document": [broken.document_id]})
    assert list(collection.documents.values_list("pk", flat=True)) == [other.document_id]


def test_what_held_content_or_is_being_read_again_is_never_removed(client, curator, make_collection):
    """Only documents that never held content go: one whose newest upload failed but whose earlier one
    is searched stays, and so does one taken up again (retried) between the page and the confirmation."""
    collection = make_collection()
    served = upload_and_ingest(collection, "leave.pdf", make_pdf(["Carry over five days."]), curator)
    upload_and_ingest(collection, "leave.pdf", BROKEN_PDF, curator)  # its newest version fails
    broken = upload_and_ingest(collection, "broken.pdf", BROKEN_PDF, curator)
    assert list(Document.objects.never_read()) == [broken.document]
    DocumentVersion.objects.filter(pk=broken.pk).update(status="queued", error="", error_code="")  # a retry
    signed_in(client, curator)
    clear_url = reverse("documents:collection_never_read", args=[collection.slug])
    html = client.post(clear_url, {"document": [served.document_id, broken.document_id]}, follow=True)
    assert "2 could not be removed: being read again, or read by now." in html.content.decode()
    assert collection.documents.count() == 2
    assert not AuditEvent.objects.filter(action="curation.document_remove").exists()


def test_a_source_file_refused_outright_is_reported_by_the_run_and_leaves_no_document(
    make_collection, curator, settings, tmp_path
):
    share = tmp_path / "share"
    share.mkdir()
    settings.HUMPHREY_SOURCE_ALLOWED_ROOTS = [str(share)]
    (share / "notes.md").write_text("# Notes\n\nThe gecko desk code is G-12.\n")
    (share / "fake.pdf").write_text("Not a PDF at all, only text.\n")
    collection = make_collection()
    source = source_add(collection=collection, kind=SourceKind.FOLDER, location=str(share), user=curator)
    run = source_sync(source).run
    assert (run.added, run.failed) == (1, 1)
    errors = {c["key"]: c["detail"] for c in run.changes if c["what"] == "error"}
    assert "named .pdf but its content is text" in errors["fake.pdf"]
    assert list(collection.documents.values_list("source_name", flat=True)) == ["notes.md"]
    event = AuditEvent.objects.get(action="curation.document_upload", outcome="refused")
    assert event.data["source_id"] == source.pk and event.actor_id is None


# --- 2. Characters nobody can see -------------------------------------------------------------------


def test_the_invisible_characters_include_direction_controls_and_zero_width_ones():
    for char in ("\x00", "\x1b", "\x85", RLO, "\u202a", LRI, PDI, ZWSP, "\u200f", "\ufeff", "\u2060"):
        assert INVISIBLE.search(f"Pay{char}slip"), repr(char)
    for text in ("Pay slip", "Café – naïve “quotes”", "Line one\nline two\ttab", "ℹ️ info"):
        assert not INVISIBLE.search(text), text


@pytest.fixture
def document(make_collection, curator):
    return upload_and_ingest(make_collection(), "leave.md", LEAVE, curator).document


CASES = {
    "new collection name": ("/curate/new/", {"name": f"HR {RLO}secnarf", "slug": "", "marking": "OFFICIAL"}, "name"),
    "new collection description": (
        "/curate/new/",
        {"name": "HR", "slug": "", "description": f"Pay{ZWSP}slips", "marking": "OFFICIAL"},
        "description",
    ),
    "collection name": ("edit", {"name": f"Guidance{LRI}x{PDI}", "marking": "OFFICIAL"}, "name"),
    "document title": ("title", {"title": f"Leave{RLO}fdp.exe", "review_from": "collection"}, "title"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_name_or_title_with_an_invisible_character_is_refused_at_its_field(client, curator, document, case):
    """Measured before: "Leave\u202efdp.exe" was saved as the document's title and shown to readers as
    "Leaveexe.pdf". Now it is a field error naming the character, linked from the error summary, the
    text kept for correcting, and nothing saved."""
    url, data, field = CASES[case]
    collection = document.collection
    if url == "edit":
        url = reverse("documents:collection_edit", args=[collection.slug])
    elif url == "title":
        url = reverse("documents:document_review", args=[document.pk])
        data = {**data, "owner_email": "hr@example.gov.uk"}
    signed_in(client, curator)
    before = (Collection.objects.count(), AuditEvent.objects.count())
    response = client.post(url, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "<title>Error:" in html
    (message,) = [text for text, href in summary_links(html).items() if href == f"#id_{field}"]
    assert "must not include characters that cannot be seen" in message and "(it has U+" in message
    group = field_group(html, f"id_{field}")
    assert "govuk-form-group--error" in group and f"{field}-error" in group
    assert data[field] in html, "what was typed is kept"
    assert (Collection.objects.count(), AuditEvent.objects.count()) == before
    document.refresh_from_db()
    collection.refresh_from_db()
    assert not INVISIBLE.search(document.title) and not INVISIBLE.search(collection.name)


def test_titles_from_file_names_and_metadata_lose_invisible_characters(make_collection, curator):
    """A file name or a title inside a file are not typed by the curator: the characters are taken out,
    not refused, and the document is named by what is left."""
    collection = make_collection()
    named = upload_and_ingest(collection, f"pay{RLO}fdp.exe.md", b"Some guidance about pay.\n", curator)
    assert named.status == "ready"
    named.document.refresh_from_db()
    assert named.document.source_name == "payfdp.exe.md" and named.original_filename == "payfdp.exe.md"
    assert not INVISIBLE.search(named.document.title)
    front = f"---\ntitle: Pay{ZWSP}slips {LRI}explained{PDI}\n---\n\nHow pay slips work.\n".encode()
    version = upload_and_ingest(collection, "slips.md", front, curator)
    version.document.refresh_from_db()
    assert version.title == version.document.title == "Payslips explained"
    pdf = upload_and_ingest(collection, "rules.pdf", make_pdf(["Pension rules."], title=f"Pension{RLO} rules"), curator)
    assert pdf.title == "Pension rules"


def test_glossary_lines_and_stop_reasons_refuse_direction_controls_too(client, curator, document):
    signed_in(client, curator)
    slug = document.collection.slug
    response = client.post(reverse("documents:collection_glossary", args=[slug]), {"terms": f"wfh = home{RLO} working"})
    assert "Remove the invisible characters from this line" in response.content.decode()
    chunk = Chunk.objects.filter(version__document=document).first()
    response = client.post(
        reverse("documents:chunk_exclusion", args=[chunk.pk]), {"action": "exclude", "reason": f"Out{ZWSP} of date"}
    )
    assert "Remove the invisible characters from the reason" in response.content.decode()
    chunk.refresh_from_db()
    assert chunk.excluded_at is None


# --- 3. Mistakes shown on the form, what was typed kept ---------------------------------------------


@pytest.fixture
def pending(make_collection, curator, make_user, settings):
    """A request by ``curator`` to lower a collection to OFFICIAL, and a second curator to decide it."""
    settings.HUMPHREY_MARKING_DOWNGRADE_APPROVAL = True
    collection = make_collection("hr", name="HR policies")
    collection.marking = Marking.OFFICIAL_SENSITIVE
    collection.save(update_fields=["marking"])
    second = make_user("sam@example.gov.uk", roles=[Role.CURATOR])
    collection.curators.add(curator, second)
    change = marking_change_request(collection=collection, user=curator, marking=Marking.OFFICIAL, reason="Public")
    return collection, change, second


def _decide(client, collection, change, **data):
    return client.post(reverse("documents:marking_change", args=[collection.slug, change.pk]), data)


def test_rejecting_without_a_note_is_an_error_at_the_note_not_a_banner(client, pending):
    """Measured before: a redirect to the collection page with a banner, the note box empty again. Now
    the page comes back with the error summary linked to the note and the note's own error."""
    collection, change, second = pending
    signed_in(client, second)
    response = _decide(client, collection, change, action="reject", note="   ")
    assert response.status_code == 400
    html = response.content.decode()
    assert summary_links(html) == {"Say why the request is rejected": "#marking-change-note"}
    group = field_group(html, "marking-change-note")
    assert "govuk-form-group--error" in group and 'aria-describedby="marking-change-note-error"' in group
    assert "Say why the request is rejected" in html[html.index('id="marking-change-note-error"') :][:200]
    assert 'govuk-notification-banner__title" id="notice-title' not in html
    change.refresh_from_db()
    assert change.state == "pending"


def test_a_note_that_cannot_be_saved_is_kept_for_correcting(client, pending):
    collection, change, second = pending
    signed_in(client, second)
    note = f"Still sensitive: see the{RLO} annex"
    response = _decide(client, collection, change, action="reject", note=note)
    assert response.status_code == 400
    html = response.content.decode()
    (message,) = summary_links(html)
    assert message.startswith("The note must not include characters that cannot be seen")
    assert f">{note}</textarea>" in html
    change.refresh_from_db()
    assert change.state == "pending"
    assert not AuditEvent.objects.filter(action="curation.marking_change_decided").exists()


def test_a_decision_that_is_no_longer_possible_is_said_on_the_page(client, pending, curator):
    """The request was withdrawn meanwhile: the page says so in its error summary (status 400)."""
    collection, change, second = pending
    signed_in(client, curator)
    assert _decide(client, collection, change, action="withdraw").status_code == 302
    signed_in(client, second)
    response = _decide(client, collection, change, action="approve", note="Fine by me")
    assert response.status_code == 400
    assert "This request has already been withdrawn." in summary(response.content.decode())
    assert MarkingChange.objects.get().state == "withdrawn"
    collection.refresh_from_db()
    assert collection.marking == Marking.OFFICIAL_SENSITIVE


def test_a_decision_made_goes_back_to_the_page(client, pending):
    collection, change, second = pending
    signed_in(client, second)
    response = _decide(client, collection, change, action="reject", note="Still sensitive")
    assert response.status_code == 302 and response["Location"] == f"/curate/c/{collection.slug}/"


def test_a_source_the_service_refuses_is_an_error_at_the_field_it_is_about(client, curator, make_collection):
    """Measured before: the service's refusal ("already has that source") was an error about the form
    as a whole, linked to the kind radios, with no error at the addresses box. Now it is at the box."""
    collection = make_collection()
    location = "https://www.example.gov.uk/guidance/leave"
    source_add(collection=collection, kind=SourceKind.PAGES, location=location, user=curator)
    signed_in(client, curator)
    data = {"kind": "pages", "location": location, "every_hours": "12"}
    response = client.post(reverse("documents:source_add", args=[collection.slug]), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert summary_links(html) == {"This collection already has that source.": "#id_location"}
    group = field_group(html, "id_location")
    assert "govuk-form-group--error" in group and "location-error" in group
    assert location in html and 'value="12"' in html and 'value="pages" checked' in html
    assert Source.objects.count() == 1
