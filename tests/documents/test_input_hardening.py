"""Hostile and clumsy input (the input review's findings 3, 8 and 9): nothing a curator sends is lost
without a word or answered with a server error.

- Two attachments of one name in one message are two documents, under names that stay the same when
  the message is ingested again.
- Text saved as UTF-16 or UTF-32 (Windows' "Unicode") is read; binary files are still refused, and a
  text file that cannot be read says to save it as UTF-8.
- A NUL or another invisible character in a glossary entry or a passage's exclusion reason is refused
  with a message on the page, and a reason too long is refused rather than cut.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from documents.ingest.parse import ParseError, lasting_refusal, parse
from documents.models import Chunk, DocumentVersion, GlossaryTerm, VersionStatus
from documents.services.glossary import glossary_parse, glossary_replace
from tests import factories
from tests.conftest import signed_in
from tests.documents.files import make_docx, make_eml, make_msg, make_pdf, upload_and_ingest

MAX_NAME = 255  # Document.source_name
MAX_REASON = 2000
INVISIBLE = "Remove the invisible characters from this line: type it again rather than pasting it"
TRAVEL = "Travel claim form: submit within 30 days of the journey."
OVERTIME = "Overtime claim form: approved by your line manager first."


# --- Finding 3: attachments of one name ----------------------------------------------------------


def _two_forms(extension: str) -> bytes:
    forms = [("form.pdf", make_pdf([TRAVEL])), ("form.pdf", make_pdf([OVERTIME]))]
    if extension == ".msg":
        return make_msg(subject="Two forms", body="Both forms are attached.", attachments=forms)
    return make_eml(
        subject="Two forms",
        body="Both forms are attached.",
        attachments=[(name, data, "application/pdf") for name, data in forms],
    )


@pytest.mark.parametrize("extension", [".eml", ".msg"])
def test_two_attachments_of_one_name_get_distinct_names_that_stay_the_same(extension):
    name = f"twoforms{extension}"
    data = _two_forms(extension)
    parsed = parse(data, name)
    assert [a.filename for a in parsed.attachments] == [f"{name} › form.pdf", f"{name} › form (2).pdf"]
    assert [TRAVEL[:20] in parse(a.data, a.filename).text for a in parsed.attachments] == [True, False]
    assert "- form.pdf (ingested as its own document, " + f"{name} › form (2).pdf)" in parsed.text
    assert [a.filename for a in parse(data, name).attachments] == [a.filename for a in parsed.attachments]


def test_a_renamed_repeat_never_takes_another_attachments_own_name():
    names = ["form.txt", "form.txt", "form (2).txt", "form.txt", "FORM.txt"]
    data = make_eml(
        subject="Forms",
        body="Attached.",
        attachments=[(name, f"Form {n}.".encode(), "text/plain") for n, name in enumerate(names)],
    )
    assert [a.filename.removeprefix("forms.eml › ") for a in parse(data, "forms.eml").attachments] == [
        "form.txt",
        "form (3).txt",
        "form (2).txt",
        "form (4).txt",
        "FORM.txt",  # another name to the documents (their names are compared exactly)
    ]


def test_a_long_message_name_is_shortened_so_its_attachments_stay_apart():
    """Document names are cut to 255 characters: a long message name used to cut both attachments'
    names to the same one."""
    name = "m" * 245 + ".eml"
    data = make_eml(
        subject="Forms",
        body="Attached.",
        attachments=[("a.pdf", make_pdf(["A."]), "application/pdf"), ("b.pdf", make_pdf(["B."]), "application/pdf")],
    )
    names = [a.filename for a in parse(data, name).attachments]
    assert all(len(n) <= MAX_NAME for n in names)
    assert [n.rsplit(" › ", 1)[1] for n in names] == ["a.pdf", "b.pdf"]


@pytest.mark.parametrize("extension", [".eml", ".msg"])
def test_both_attachments_of_one_name_are_searched_and_ingesting_again_adds_nothing(
    make_collection, curator, settings, django_capture_on_commit_callbacks, extension
):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default", "ingest"]}
    }
    collection = make_collection()
    name = f"twoforms{extension}"
    data = _two_forms(extension)
    with django_capture_on_commit_callbacks(execute=True):
        message = upload_and_ingest(collection, name, data, curator)
    assert message.status == VersionStatus.READY, message.error
    forms = collection.documents.exclude(pk=message.document_id).order_by("source_name")
    assert [(d.source_name, d.current_version.number) for d in forms] == [
        (f"{name} › form (2).pdf", 1),
        (f"{name} › form.pdf", 1),
    ]
    searched = " ".join(Chunk.objects.filter(collection=collection, searchable=True).values_list("text", flat=True))
    assert "Travel claim form" in searched and "Overtime claim form" in searched
    with django_capture_on_commit_callbacks(execute=True):
        upload_and_ingest(collection, name, data, curator)  # the same message again
    assert collection.documents.count() == 3
    assert DocumentVersion.objects.filter(document__collection=collection).count() == 3


# --- Finding 9: text saved as UTF-16 or UTF-32 -------------------------------------------------------

NOTE = "Annual leave\n============\n\nYou may carry over 5 days — up to £300 of “bought” leave.\n"
TABLE = "Item\tRate\nMileage\t45p\nHotel in London\t£150\n"
ENCODINGS = [
    pytest.param(lambda text: text.encode("utf-16"), id="utf-16-with-bom"),  # Notepad's "Unicode"
    pytest.param(lambda text: b"\xfe\xff" + text.encode("utf-16-be"), id="utf-16-be-with-bom"),
    pytest.param(lambda text: text.encode("utf-16-le"), id="utf-16-le-no-bom"),
    pytest.param(lambda text: text.encode("utf-16-be"), id="utf-16-be-no-bom"),
    pytest.param(lambda text: text.encode("utf-32"), id="utf-32-with-bom"),
    pytest.param(lambda text: b"\x00\x00\xfe\xff" + text.encode("utf-32-be"), id="utf-32-be-with-bom"),
]


@pytest.mark.parametrize("encode", ENCODINGS)
def test_text_saved_as_utf16_or_utf32_is_read(encode):
    note = parse(encode(NOTE), "leave.txt")
    assert note.content_type == "text/plain" and note.text == NOTE and note.title == "Annual leave"
    assert parse(encode(NOTE), "leave.md").content_type == "text/markdown"
    table = parse(encode(TABLE), "rates.csv")  # Excel's "Unicode Text": tab-separated
    assert table.content_type == "text/csv"
    assert "- Item: Hotel in London | Rate: £150" in table.text.split("\n")
    page = "<!doctype html><html><head><title>Rates</title></head><body><h1>Mileage</h1><p>45p.</p></body></html>"
    assert parse(encode(page), "rates.html").title == "Rates"
    assert lasting_refusal(encode(NOTE), "leave.txt") is None


def test_a_utf16_csv_is_ingested(make_collection, curator):
    version = upload_and_ingest(make_collection(), "utf16.csv", TABLE.encode("utf-16"), curator)
    assert version.status == VersionStatus.READY, version.error
    assert version.content_type == "text/csv"
    assert "Rate: £150" in " ".join(version.chunks.values_list("text", flat=True))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_nul_characters_in_text_are_dropped_rather_than_failing_the_upload(make_collection, curator, encoding):
    """A NUL after the first 2 KB (where ``sniff`` looks) reached the database, which refused it."""
    data = ("Padding words. " * 200 + "\n\nThe rate is 45p.\x00\x00\n").encode(encoding)
    assert "\x00" not in parse(data, "padded.txt").text
    version = upload_and_ingest(make_collection(), "padded.txt", data, curator)
    assert version.status == VersionStatus.READY, version.error


BINARY = [
    pytest.param(make_pdf(["Text."]), "notes.txt", "type_mismatch", "content is a PDF", id="pdf-as-txt"),
    pytest.param(make_docx([("", "Words.")]), "notes.txt", "type_mismatch", "Word document", id="docx-as-txt"),
    pytest.param(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 60, "notes.txt", "unsupported_type", "UTF-8", id="exe-as-txt"),
    pytest.param(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" * 60, "rates.csv", "type_mismatch", "not text", id="exe-as-csv"),
    pytest.param(
        b"\xff\xfe" + b"\x00\x00\x01\x00" * 300, "notes.txt", "unsupported_type", "UTF-8", id="bom-then-binary"
    ),
    pytest.param(  # 16-bit numbers each below 256: NUL-interleaved, but not text
        b"".join(n.to_bytes(2, "little") for n in range(1, 200)) * 5,
        "notes.txt",
        "unsupported_type",
        "UTF-8",
        id="small-numbers",
    ),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "notes.md", "unsupported_type", "UTF-8", id="png-as-md"),
]


@pytest.mark.parametrize(("data", "name", "code", "words"), BINARY)
def test_binary_files_are_still_refused(data, name, code, words):
    with pytest.raises(ParseError) as caught:
        parse(data, name)
    assert caught.value.code == code and words in caught.value.message, caught.value.message
    assert lasting_refusal(data, name).code == code


def test_utf16_that_is_cut_short_says_to_save_it_as_utf8():
    with pytest.raises(ParseError) as caught:
        parse(NOTE.encode("utf-16") + b"\x00", "leave.txt")
    assert caught.value.code == "corrupt"
    assert "UTF-16" in caught.value.message and "Save it as UTF-8" in caught.value.message


# --- Finding 8: invisible characters and long text in curators' fields ----------------------------


def test_a_glossary_line_holding_an_invisible_character_is_refused_on_the_page(client, curator, make_collection):
    collection = make_collection("hr", groups=["HR"])
    url = reverse("documents:collection_glossary", args=[collection.slug])
    signed_in(client, curator)
    response = client.post(url, {"terms": "holiday = annual leave\nmemory\x00stick = removable media"})
    assert response.status_code == 400
    assert f"Line 2: {INVISIBLE}" in response.content.decode()
    assert not GlossaryTerm.objects.filter(collection=collection).exists()
    for line in ("a\x01b = c", "phrase = mean\x7fing", "phrase = \ud800"):
        assert glossary_parse(line).errors == [(1, INVISIBLE)]
    assert glossary_parse("sick\tnote = fit note").errors == []  # a tab is only a space


def test_glossary_entries_given_straight_to_the_service_are_checked_too(curator, make_collection):
    collection = make_collection("hr", groups=["HR"])
    with pytest.raises(ValidationError, match="invisible characters"):
        glossary_replace(collection=collection, user=curator, entries=[("memory\x00stick", "removable media")])
    assert not GlossaryTerm.objects.filter(collection=collection).exists()


@pytest.fixture
def passage(make_collection):
    collection = make_collection("travel", groups=["All staff"])
    document = factories.add_document(collection, ["Mileage is paid at 40p a mile."], title="Travel policy")
    return document.current_version.chunks.get()


def _exclude(client, chunk, reason: str):
    return client.post(f"/curate/chunks/{chunk.pk}/exclusion/", {"action": "exclude", "reason": reason}, follow=True)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("Out of\x00date.", "Remove the invisible characters from the reason"),
        ("x" * (MAX_REASON + 1), f"Keep the reason to {MAX_REASON:,} characters or fewer: it has {MAX_REASON + 1:,}"),
    ],
    ids=["nul", "too-long"],
)
def test_an_exclusion_reason_that_cannot_be_kept_whole_is_refused_on_the_page(client, curator, passage, reason, words):
    response = _exclude(signed_in(client, curator), passage, reason)
    assert response.status_code == 400
    page = response.content.decode()
    assert words in page
    assert 'href="#exclusion-reason"' in page, "the summary leads to the reason box"
    passage.refresh_from_db()
    assert passage.excluded_at is None and passage.searchable


def test_an_exclusion_reason_of_the_longest_length_is_kept_whole(client, curator, passage):
    reason = "Out of date.\r\n" + "x" * (MAX_REASON - len("Out of date.\n"))  # a browser's line break counts once
    _exclude(signed_in(client, curator), passage, reason)
    passage.refresh_from_db()
    assert passage.excluded_reason == reason.replace("\r\n", "\n") and not passage.searchable


def test_two_files_of_one_name_in_one_upload_do_not_replace_each_other(client, curator, make_collection):
    """HR/policy.md and Finance/policy.md chosen together arrive as two "policy.md": the second would
    silently become the first's next version. It is refused, saying why; the first is taken."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from documents.models import Document

    collection = make_collection()
    files = [
        SimpleUploadedFile("policy.md", b"# HR policy\n\nLeave is 25 days.\n"),
        SimpleUploadedFile("policy.md", b"# Finance policy\n\nClaims within 30 days.\n"),
    ]
    response = signed_in(client, curator).post(f"/curate/c/{collection.slug}/upload/", {"files": files}, follow=True)
    page = response.content.decode()
    assert "1 queued for ingestion, 0 unchanged, 1 refused." in page
    assert "another file of the same name was chosen in this upload" in page
    (document,) = Document.objects.filter(collection=collection)
    assert document.versions.count() == 1


@pytest.mark.parametrize("revoke", ["abc", "", "-1"])
def test_a_tampered_revoke_on_the_readers_form_is_not_found_not_an_error(client, curator, make_collection, revoke):
    collection = make_collection()
    response = signed_in(client, curator).post(f"/curate/c/{collection.slug}/readers/", {"revoke": revoke})
    assert response.status_code == 404
    assert collection.reader_groups.count() == 1


def test_a_control_character_in_a_history_search_finds_nothing_rather_than_failing(client, make_user):
    casey = make_user("casey@example.gov.uk")
    response = signed_in(client, casey).get("/chat/history/", {"q": "leave\x00"})
    assert response.status_code == 200
