"""What a curator reads on the document and passage pages is in plain words: a damaged file is "damaged",
not the reading library's error name; "Try a question" says how each passage was found in words, its
scores kept under "How this was found"; a passage's page gives its length in words, its tokens and
character offsets under a details summary; a quoted reason that ends its own sentence is not given a
second full stop."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group

from documents.ingest.parse import ParseError, parse
from documents.models import VersionStatus
from documents.views.passages import reason_stop
from tests import factories
from tests.conftest import signed_in
from tests.documents.files import BROKEN_PDF, make_docx, make_pptx, make_xlsx, rezip, upload_and_ingest

pytestmark = pytest.mark.django_db

#: A library's exception name in brackets, as "(PdfStreamError)" or "(BadZipFile)" was.
EXCEPTION_NAME = re.compile(r"\((?:[A-Z][a-z]+){2,}\)|\w+(?:Error|Exception)\b")
LEAVE = b"# Leave\n\n## Carry over\n\nYou may carry over up to 5 days of unused leave into the next leave year.\n"


DAMAGED = [
    pytest.param(BROKEN_PDF, "broken.pdf", "The PDF could not be read: it looks damaged.", id="pdf"),
    pytest.param(
        rezip(make_docx([("Normal", "Leave")]), replace={"word/document.xml": b"<w:document"}),
        "leave.docx",
        "The Word document could not be read: it looks damaged.",
        id="docx",
    ),
    pytest.param(
        rezip(make_pptx([{"title": "Leave", "body": ["Carry over"]}]), replace={"ppt/presentation.xml": b"<p:pres"}),
        "leave.pptx",
        "The presentation could not be read: it looks damaged.",
        id="pptx",
    ),
    pytest.param(
        rezip(make_xlsx({"Rates": [["Item", "Rate"], ["Rail", 1]]}), replace={"xl/workbook.xml": b"<workbook"}),
        "rates.xlsx",
        "The workbook could not be read: it looks damaged.",
        id="xlsx",
    ),
    pytest.param(
        b"{\\rtf1 {{{ \\u99999999999 unbalanced",
        "leave.rtf",
        "The RTF file could not be read: it looks damaged.",
        id="rtf",
    ),
]


@pytest.mark.parametrize(("data", "name", "message"), DAMAGED)
def test_a_damaged_file_is_said_to_be_damaged_without_the_librarys_error_name(data, name, message):
    """The reason is the plain sentence alone; the refusal's code says "corrupt" for the program."""
    with pytest.raises(ParseError) as caught:
        parse(data, name)
    assert (caught.value.code, caught.value.message) == ("corrupt", message)
    assert not EXCEPTION_NAME.search(caught.value.message)


def test_a_damaged_pdf_shows_its_curator_a_plain_reason(client, make_collection, curator):
    """Uploaded and read, the damaged PDF's version fails with the plain reason, on its page too; what
    kind of failure it was stays in ``error_code``."""
    collection = make_collection()
    version = upload_and_ingest(collection, "broken.pdf", BROKEN_PDF, curator)
    assert (version.status, version.error_code) == (VersionStatus.FAILED, "corrupt")
    assert version.error == "The PDF could not be read: it looks damaged."
    signed_in(client, curator)
    page = client.get(f"/curate/versions/{version.pk}/").content.decode()
    assert "The PDF could not be read: it looks damaged." in page
    assert "PdfStreamError" not in page and "PdfReadError" not in page


def _details(page: str, summary: str) -> str:
    """The text of the ``<details>`` whose summary is ``summary`` (and only of that one)."""
    start = page.rindex("<details", 0, page.index(summary))
    return page[start : page.index("</details>", start)]


def test_try_a_question_says_how_each_passage_was_found_in_words(client, make_collection, curator):
    """Each passage says in words why it was found; its combined, vector and keyword scores are only
    inside its "How this was found" details, never in the passage's own lines."""
    collection = make_collection("hr", groups=["HR"])
    upload_and_ingest(collection, "leave.md", LEAVE, curator)
    curator.groups.add(Group.objects.get(name="HR"))
    signed_in(client, curator)

    page = client.get(f"/curate/c/{collection.slug}/try/", {"q": "carry over unused leave"}).content.decode()

    passages = page[page.index("passage returned") :]
    assert "Among the closest in meaning to the question, and uses its words" in passages
    found = _details(passages, "How this was found")
    assert "1 of 1, by the combined score 0." in found
    assert "vector similarity" in found and "keyword rank" in found
    outside = passages.replace(found, "")
    assert "Score " not in outside and "· vector" not in outside and "· keyword" not in outside
    assert not re.search(r"\b0\.\d{3}", outside)  # no bare numbers left beside the passage


def test_a_passages_page_gives_its_length_in_words_and_keeps_tokens_in_details(client, make_collection, curator):
    """A token count means nothing to a curator: the page says how many words; the tokens and the
    character offsets are under "How this passage was cut"."""
    collection = make_collection()
    text = "Mileage is paid at 40p a mile for the first 10,000 miles."
    chunk = factories.add_document(collection, [text]).current_version.chunks.get()
    signed_in(client, curator)

    page = client.get(f"/curate/chunks/{chunk.pk}/").content.decode()

    intro = page[page.index("<h1") : page.index("How this passage was cut")]
    assert f"{len(text.split())} words · searched" in intro and "tokens" not in intro
    cut = _details(page, "How this passage was cut")
    assert f"{chunk.token_count} tokens" in cut and f"characters {chunk.char_start} to {chunk.char_end}" in cut


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        ("Example still says 28 days; v2 raised leave to 30 days.", "v2 raised leave to 30 days.” It is not searched"),
        ("Is 28 days still right?", "still right?” It is not searched"),
        ("Wrong since April!", "since April!” It is not searched"),
        ("Replaced by the 2026 policy", "2026 policy”. It is not searched"),
    ],
)
def test_a_switched_off_reason_gets_one_full_stop(client, make_collection, curator, reason, shown):
    """The reason is quoted as the curator wrote it: one ending its own sentence (".", "?", "!") is not
    followed by another full stop; one that does not end it is."""
    collection = make_collection()
    chunk = factories.add_document(collection, ["Staff get 28 days of annual leave."]).current_version.chunks.get()
    signed_in(client, curator)
    client.post(f"/curate/chunks/{chunk.pk}/exclusion/", {"action": "exclude", "reason": reason})

    page = client.get(f"/curate/chunks/{chunk.pk}/").content.decode()

    assert shown in page
    assert not re.search(r"[.?!…]”\.", page)


@pytest.mark.parametrize(
    ("reason", "stop"),
    [
        ("It is out of date.", ""),
        ("Out of date (see v2).", ""),
        ('He said "no."', ""),
        ("…and so on…", ""),
        ("Old", "."),
    ],
)
def test_reason_stop(reason, stop):
    assert reason_stop(reason) == stop
