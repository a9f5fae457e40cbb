"""The formats added for issue 23: PowerPoint, Excel, CSV, OpenDocument text, RTF and email (.eml, .msg).

Each is made for real in the test (python-pptx, openpyxl, the email package, extract-msg's OLE writer),
parsed with its anchors, ingested, and found by retrieval for a fact only it holds; each bad input is
refused with a reason a curator can act on, and leaves the collection as it was.
"""

# Over 500 lines by design: one file for the formats, each one's parsing, ingestion, retrieval
# and bad inputs side by side so a format's whole behaviour reads in one place; shared file makers
# live in tests/documents/files.py.

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest

from documents.ingest.chunk import CHUNK_SIZE, chunk_document
from documents.ingest.formats.table import ROW_MAX_CHARS
from documents.ingest.parse import ParseError, ParseLimits, parse
from documents.models import Chunk, DocumentVersion, VersionStatus
from tests.documents.files import (
    make_docx,
    make_eml,
    make_msg,
    make_odt,
    make_pdf,
    make_pptx,
    make_xlsx,
    rezip,
    upload_and_ingest,
    upload_refused,
)

DECK = [
    {"title": "Travel policy 2025"},
    {"title": "Mileage", "bullets": ["Cars: 45p a mile", "Bicycles: 20p a mile"], "notes": "Mention the quokka rule."},
    {"title": "Rates", "table": [["Item", "Rate"], ["Mileage rate", "45p"], ["Hotel outside London", "£95"]]},
]
ODT_BODY = (
    '<text:h text:outline-level="1">Leave policy</text:h><text:p>Staff get 25 days of annual leave.</text:p>'
    '<text:h text:outline-level="2">Carrying leave over</text:h>'
    "<text:p>Up to<text:s/>5 days may be carried into the wombat year."
    "<text:note><text:note-body><text:p>A footnote never read.</text:p></text:note-body></text:note></text:p>"
    "<text:list><text:list-item><text:p>Ask your manager</text:p></text:list-item>"
    "<text:list-item><text:p>Record it in the system</text:p></text:list-item></text:list>"
    "<table:table><table:table-row><table:table-cell><text:p>Grade</text:p></table:table-cell>"
    "<table:table-cell><text:p>Days</text:p></table:table-cell></table:table-row>"
    "<table:table-row><table:table-cell><text:p>SEO</text:p></table:table-cell>"
    "<table:table-cell><text:p>27</text:p></table:table-cell></table:table-row></table:table>"
)
RTF = (
    rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}{\*\generator Writer}\f0 1 Overtime\par\par "
    rb"Overtime is paid at time and a half, claimed on the axolotl form.\par "
    rb"{\object\objemb{\*\objclass Package}{\*\objdata 01050000020000000b000000DEADBEEF}}\par "
    rb"{\pict\pngblip 89504e470d0a1a0a}\par 2 Caf\'e9 rules\par\par Bring your own mug.\par}"
)


def sheet_text(data: bytes, name: str = "rates.xlsx", **limits):
    return parse(data, name, limits=ParseLimits(**limits) if limits else None)


# --- PowerPoint ----------------------------------------------------------------------------------


def test_a_deck_is_read_slide_by_slide_with_titles_tables_and_notes():
    parsed = parse(make_pptx(DECK, title="Travel deck"), "travel.pptx")
    assert parsed.title == "Travel deck"
    assert parsed.metadata["slides"] == 3 and parsed.page_count is None
    assert parsed.content_type.endswith("presentationml.presentation")
    by_place = {s.place: s for s in parsed.sections}
    assert set(by_place) == {"slide 2", "slide 3"}  # slide 1 is a title alone: a heading, no text
    assert by_place["slide 2"].heading_path == ("Mileage",)
    assert "- Cars: 45p a mile\n- Bicycles: 20p a mile" in by_place["slide 2"].text
    assert "Speaker notes: Mention the quokka rule." in by_place["slide 2"].text
    assert "- Item: Mileage rate | Rate: 45p" in by_place["slide 3"].text
    chunks = chunk_document(parsed)
    assert [c.anchor for c in chunks] == ["slide 2, Mileage", "slide 3, Rates"]  # tiny slides never merged
    assert all(c.page is None for c in chunks)
    assert "Travel policy 2025" in parsed.text  # a title slide's title is still the document's text


# --- Excel and CSV -------------------------------------------------------------------------------


def test_a_workbook_is_read_sheet_by_sheet_each_row_with_its_header():
    data = make_xlsx(
        {
            "Rates": [
                ["Travel rates 2025"],
                [],
                ["Item", "Rate", "Applies to"],
                ["Mileage rate", "45p", "the first 10,000 miles"],
                ["Hotel", 100, None],
                ["Double", "=B5*2", None],
                ["From", dt.date(2025, 4, 1), None],
            ],
            "Contacts": [["Team", "Email"], ["Travel desk", "travel@example.gov.uk"]],
            "Workings": [["Secret", "Value"], ["narwhal", 1]],
        },
        hidden=("Workings",),
    )
    parsed = parse(data, "rates.xlsx")
    rates, contacts = parsed.sections
    assert (rates.place, rates.heading_path) == ("sheet Rates", ("Rates",))
    assert rates.text.split("\n") == [
        "Travel rates 2025",
        "Item | Rate | Applies to",
        "- Item: Mileage rate | Rate: 45p | Applies to: the first 10,000 miles",
        "- Item: Hotel | Rate: 100",
        "- Item: Double",  # a formula is never evaluated: only a value Excel saved would be shown
        "- Item: From | Rate: 2025-04-01",
    ]
    assert contacts.place == "sheet Contacts" and "- Team: Travel desk | Email: travel@example.gov.uk" in contacts.text
    assert "narwhal" not in parsed.text and "B5" not in parsed.text  # hidden sheets and formulas: never
    assert [c.anchor for c in chunk_document(parsed)] == ["sheet Rates", "sheet Contacts"]


def test_a_chunk_boundary_never_falls_inside_a_row():
    """Hundreds of rows of varied length, one far longer than a chunk: every chunk starts and ends on
    a row's line, every line is a whole row with its header, and the long row goes on under its key."""
    rows = [["Grade", "Allowance", "Notes"]]
    for n in range(400):
        rows.append([f"Grade {n}", f"£{n * 7}", "words " * (n % 37)])
    rows.append(["Grade long", "£1", "a very long note " * 200])
    parsed = parse(make_xlsx({"Allowances": rows}), "allowances.xlsx")
    text = parsed.text
    lines = set(text.split("\n"))
    chunks = chunk_document(parsed)
    assert len(chunks) > 10
    for chunk in chunks:
        assert chunk.char_start == 0 or text[chunk.char_start - 1] == "\n", chunk.text[:40]
        assert chunk.char_end == len(text) or text[chunk.char_end] == "\n", chunk.text[-40:]
        for line in chunk.text.split("\n"):
            assert line in lines
            assert len(line) <= ROW_MAX_CHARS < CHUNK_SIZE
            assert line == "Grade | Allowance | Notes" or line.startswith("- Grade: Grade ")
    long_lines = [line for line in text.split("\n") if "Grade long" in line]
    assert len(long_lines) > 3
    assert all(line.startswith("- Grade: Grade long (continued) | ") for line in long_lines[1:])
    assert "Allowance: £1" in long_lines[0]


def test_csv_dialects_are_sniffed_and_rows_keep_their_header():
    semicolons = parse(b'Item;Rate\nMileage rate;45p\nHotel;"100; capped"\n', "rates.csv")
    assert semicolons.content_type == "text/csv"
    assert semicolons.text.split("\n") == [
        "Item | Rate",
        "- Item: Mileage rate | Rate: 45p",
        "- Item: Hotel | Rate: 100; capped",
    ]
    tabs = parse(b"\xef\xbb\xbfCity\tCap\nLondon\t150\n", "caps.csv")
    assert "- City: London | Cap: 150" in tabs.text
    latin = parse("Name,Place\nZoë,Café\n".encode("cp1252"), "names.csv")
    assert "- Name: Zoë | Place: Café" in latin.text


# --- OpenDocument and RTF --------------------------------------------------------------------------


def test_an_odt_keeps_its_headings_lists_and_tables_and_drops_notes():
    parsed = parse(make_odt(ODT_BODY, title="Leave"), "leave.odt")
    assert parsed.title == "Leave" and parsed.content_type == "application/vnd.oasis.opendocument.text"
    paths = [s.heading_path for s in parsed.sections]
    assert paths == [("Leave policy",), ("Leave policy", "Carrying leave over")]
    carried = parsed.sections[1].text
    assert "Up to 5 days may be carried into the wombat year." in carried
    assert "- Ask your manager\n- Record it in the system" in carried
    assert "- Grade: SEO | Days: 27" in carried
    assert "footnote" not in parsed.text
    assert chunk_document(parsed)[0].anchor == "Leave policy"


def test_rtf_text_is_kept_and_embedded_objects_and_pictures_are_not():
    parsed = parse(RTF, "overtime.rtf")
    assert parsed.content_type == "application/rtf"
    assert [s.heading_path for s in parsed.sections] == [("1 Overtime",), ("2 Café rules",)]
    assert "axolotl form" in parsed.sections[0].text
    assert "DEADBEEF" not in parsed.text and "Package" not in parsed.text and "89504e47" not in parsed.text


# --- Email -------------------------------------------------------------------------------------------


def test_an_eml_has_its_sender_date_subject_body_and_attachments():
    pdf = make_pdf(["The capybara allowance is 12 pounds a day."])
    data = make_eml(
        subject="Subsistence update",
        body="",
        html="<h2>Overnight</h2><p>The overnight rate rises to £30.</p><script>alert('x')</script>",
        attachments=[
            ("rates.pdf", pdf, "application/pdf"),
            ("setup.exe", b"MZ\x90\x00", "application/octet-stream"),
            ("budget.xlsm", b"PK\x03\x04", "application/vnd.ms-excel.sheet.macroEnabled.12"),
        ],
    )
    parsed = parse(data, "update.eml")
    assert parsed.title == "Subsistence update" and parsed.content_type == "message/rfc822"
    assert parsed.metadata == {"sent": "2025-03-04T10:15:00+00:00"}
    header = parsed.sections[0]
    assert header.heading_path == ("Subsistence update",)
    assert header.text.split("\n") == [
        "From: Jane Smith <jane.smith@example.gov.uk>",
        "To: Policy Team <policy@example.gov.uk>",
        "Date: Tue, 04 Mar 2025 10:15:00 +0000",
        "Subject: Subsistence update",
    ]
    assert parsed.sections[1].heading_path == ("Subsistence update", "Overnight")
    assert "The overnight rate rises to £30." in parsed.sections[1].text
    assert "alert" not in parsed.text
    assert [(a.filename, a.data) for a in parsed.attachments] == [("update.eml › rates.pdf", pdf)]
    listed = parsed.sections[-1]
    assert listed.heading_path == ("Subsistence update", "Attachments")
    assert "- rates.pdf (ingested as its own document, update.eml › rates.pdf)" in listed.text
    assert "- setup.exe (not ingested: files ending .exe are not accepted)" in listed.text
    assert "- budget.xlsm (not ingested: files ending .xlsm are not accepted)" in listed.text


def test_a_plain_eml_body_and_a_forwarded_message():
    inner = make_eml(subject="Original", body="The first message.")
    data = make_eml(
        subject="Fwd: Original",
        body="See below.\n\nThanks,\nJo",
        attachments=[("original.eml", inner, "message/rfc822")],
    )
    parsed = parse(data, "forward.eml")
    assert "See below." in parsed.text and "The first message." not in parsed.text
    (attached,) = parsed.attachments
    assert attached.filename == "forward.eml › original.eml"
    assert parse(attached.data, attached.filename).title == "Original"


def test_a_forwarded_message_sent_encoded_is_read_as_the_message_it_holds():
    """Some clients send a forwarded message base64-encoded; the parser reads that encoded text as a
    message of its own (no headers, the base64 as its body), which was ingested as text before."""
    inner = make_eml(subject="Original", body="The first message.")
    data = make_eml(
        subject="Fwd: Original", body="See below.", attachments=[("original.eml", inner, "message/rfc822+base64")]
    )
    (attached,) = parse(data, "forward.eml").attachments
    assert attached.filename == "forward.eml › original.eml"
    forwarded = parse(attached.data, attached.filename)
    assert forwarded.title == "Original" and "The first message." in forwarded.text


def test_an_outlook_msg_has_its_sender_date_subject_body_and_attachments():
    docx = make_docx([("Heading 1", "Lunch"), ("", "The dugong lunch allowance is 8 pounds.")])
    data = make_msg(
        subject="Lunch allowance",
        body="The allowance changes next month.\r\n\r\nJane",
        attachments=[("lunch.docx", docx), ("script.vbs", b"MsgBox 1")],
    )
    parsed = parse(data, "lunch.msg")
    assert parsed.title == "Lunch allowance" and parsed.content_type == "application/vnd.ms-outlook"
    assert parsed.metadata == {"sent": "2025-03-04T10:15:00+00:00"}
    lines = parsed.sections[0].text.split("\n")
    assert lines[0] == "From: Jane Smith <jane.smith@example.gov.uk>"
    assert lines[2].startswith("Date: Tue, 04 Mar 2025 10:15:00") and lines[3] == "Subject: Lunch allowance"
    assert "The allowance changes next month." in parsed.text
    assert [(a.filename, a.data) for a in parsed.attachments] == [("lunch.msg › lunch.docx", docx)]
    assert "- script.vbs (not ingested: files ending .vbs are not accepted)" in parsed.text


def test_attachments_are_capped():
    attachments = [(f"note-{n}.txt", f"Note {n}.".encode(), "text/plain") for n in range(5)]
    parsed = parse(
        make_eml(subject="Many", body="Five notes.", attachments=attachments),
        "many.eml",
        limits=ParseLimits(max_attachments=2),
    )
    assert len(parsed.attachments) == 2
    assert "- note-4.txt (not ingested: more than 2 attachments)" in parsed.text


# --- Bad input -------------------------------------------------------------------------------------


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def _bomb(main_part: str, megabytes: int = 30) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(main_part, b"<a>" + b" " * (megabytes * 1024 * 1024) + b"</a>")
    return out.getvalue()


def _xlsx() -> bytes:
    return make_xlsx({"Rates": [["Item", "Rate"], ["Mileage", "45p"]]})


def _pptx() -> bytes:
    return make_pptx(DECK[:2])


BAD = [
    pytest.param(
        lambda: _zip({"xl/workbook.xml": b"<workbook/>"}),
        "rates.xlsx",
        "unsupported_type",
        "content",
        id="xlsx-no-content-types",
    ),
    pytest.param(
        lambda: b"Item,Rate\nMileage,45p\n", "rates.xlsx", "type_mismatch", "content is text", id="xlsx-is-text"
    ),
    pytest.param(
        lambda: b"PK\x03\x04 damaged zip", "rates.xlsx", "corrupt", "workbook could not be opened", id="xlsx-damaged"
    ),
    pytest.param(_pptx, "deck.xlsx", "type_mismatch", "PowerPoint presentation", id="xlsx-is-a-deck"),
    pytest.param(_xlsx, "rates.xlsm", "macros", "never run or keep", id="xlsm-by-name"),
    pytest.param(_pptx, "deck.pptm", "macros", "never run or keep", id="pptm-by-name"),
    pytest.param(
        lambda: rezip(_xlsx(), add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0VBA"}),
        "rates.xlsx",
        "macros",
        "Save a copy as .xlsx",
        id="xlsx-with-vba",
    ),
    pytest.param(
        lambda: rezip(_pptx(), add={"ppt/vbaProject.bin": b"\xd0\xcf\x11\xe0VBA"}),
        "deck.pptx",
        "macros",
        "Save a copy as .pptx",
        id="pptx-with-vba",
    ),
    pytest.param(lambda: _bomb("ppt/presentation.xml"), "deck.pptx", "bomb", "presentation", id="pptx-bomb"),
    pytest.param(lambda: _bomb("xl/workbook.xml"), "rates.xlsx", "bomb", "workbook", id="xlsx-bomb"),
    pytest.param(lambda: b"\x00\x01\x02binary\x00" * 50, "rates.csv", "type_mismatch", "not text", id="csv-binary"),
    pytest.param(_xlsx, "rates.csv", "type_mismatch", "Excel workbook", id="csv-is-a-workbook"),
    pytest.param(lambda: make_odt(ODT_BODY, encrypted=True), "leave.odt", "encrypted", "password", id="odt-encrypted"),
    pytest.param(lambda: make_docx([("", "Words.")]), "leave.odt", "type_mismatch", "Word document", id="odt-is-docx"),
    pytest.param(lambda: RTF, "overtime.eml", "type_mismatch", "RTF document", id="eml-is-rtf"),
    pytest.param(lambda: b"Just some notes.\n", "note.eml", "type_mismatch", "content is text", id="eml-is-text"),
    pytest.param(
        lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
        "old.msg",
        "unsupported_type",
        "older Office file",
        id="msg-not-outlook",
    ),
    pytest.param(lambda: make_eml(subject="x", body="y"), "mail.msg", "type_mismatch", "an email", id="msg-is-eml"),
]


@pytest.mark.parametrize(("make", "name", "code", "words"), BAD)
def test_bad_input_is_refused_with_a_reason(make, name, code, words):
    with pytest.raises(ParseError) as caught:
        parse(make(), name)
    assert caught.value.code == code, caught.value.message
    assert words in caught.value.message


def test_tables_decks_and_sheets_are_capped():
    rows = [["Item", "Rate"]] + [[f"Item {n}", n] for n in range(30)]
    with pytest.raises(ParseError, match="more than 10 rows") as caught:
        parse(make_xlsx({"Rates": rows}), "rates.xlsx", limits=ParseLimits(max_rows=10))
    assert caught.value.code == "too_large"
    with pytest.raises(ParseError, match="more than 20 filled cells"):
        parse(make_xlsx({"Rates": rows}), "rates.xlsx", limits=ParseLimits(max_cells=20))
    with pytest.raises(ParseError, match="3 sheets; the most we accept is 2"):
        parse(make_xlsx({"A": [["a"]], "B": [["b"]], "C": [["c"]]}), "rates.xlsx", limits=ParseLimits(max_sheets=2))
    with pytest.raises(ParseError, match="3 slides; the most we accept is 2"):
        parse(make_pptx(DECK), "deck.pptx", limits=ParseLimits(max_slides=2))
    with pytest.raises(ParseError, match="more than 10 rows"):
        parse(b"a,b\n" + b"1,2\n" * 30, "rates.csv", limits=ParseLimits(max_rows=10))
    with pytest.raises(ParseError, match="6 columns; the most we accept is 5"):
        parse(b"a,b,c,d,e,f\n", "wide.csv", limits=ParseLimits(max_columns=5))


def test_a_text_file_that_looks_like_rtf_or_an_email_is_still_text():
    """Formats sniffed from text do not change what a .txt or .md file was read as."""
    assert parse(RTF, "notes.txt").content_type == "text/plain"
    email = make_eml(subject="Hello", body="Body.")
    assert parse(email, "notes.md").content_type == "text/markdown"


# --- Ingested and found -------------------------------------------------------------------------------


@pytest.fixture
def reader(make_user):
    return make_user("rita@example.gov.uk", groups=["All staff"])


def _found(reader, query: str, word: str):
    from documents.retrieval import passages_for_user

    return [p for p in passages_for_user(user=reader, query=query, collections=["guidance"]) if word in p.text]


FOUND = [
    pytest.param("travel.pptx", lambda: make_pptx(DECK), "quokka rule", "quokka", "slide 2, Mileage", id="pptx"),
    pytest.param(
        "rates.xlsx",
        lambda: make_xlsx({"Rates": [["Item", "Rate"], ["Pangolin allowance", "£7"]]}),
        "pangolin allowance",
        "Pangolin",
        "sheet Rates",
        id="xlsx",
    ),
    pytest.param(
        "rates.csv", lambda: b'Item,Rate\nOcelot allowance,"1,000"\n', "ocelot allowance", "Ocelot", "", id="csv"
    ),
    pytest.param("leave.odt", lambda: make_odt(ODT_BODY), "wombat year", "wombat", "Leave policy", id="odt"),
    pytest.param("overtime.rtf", lambda: RTF, "axolotl form", "axolotl", "Section 1 Overtime", id="rtf"),
    pytest.param(
        "update.eml",
        lambda: make_eml(subject="Meerkat rota", body="The meerkat rota starts in May."),
        "meerkat rota",
        "meerkat",
        "Meerkat rota",
        id="eml",
    ),
    pytest.param(
        "lunch.msg",
        lambda: make_msg(subject="Lunch", body="The dugong lunch allowance is 8 pounds."),
        "dugong lunch",
        "dugong",
        "Lunch",
        id="msg",
    ),
]


@pytest.mark.parametrize(("name", "make", "query", "word", "anchor"), FOUND)
def test_each_format_is_ingested_and_its_fact_retrieved(
    make_collection, curator, reader, name, make, query, word, anchor
):
    collection = make_collection()
    version = upload_and_ingest(collection, name, make(), curator)
    assert version.status == VersionStatus.READY, version.error
    (passage,) = _found(reader, query, word)[:1]
    assert passage.anchor == anchor


_XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _mail_with(extension: str, workbook: bytes) -> bytes:
    subject, body = "New rates", "The new rates are attached."
    if extension == ".msg":
        return make_msg(subject=subject, body=body, attachments=[("rates.xlsx", workbook)])
    return make_eml(subject=subject, body=body, attachments=[("rates.xlsx", workbook, _XLSX_TYPE)])


@pytest.mark.parametrize("extension", [".eml", ".msg"])
def test_an_attachment_ingested_as_its_own_document_is_found_under_the_message(
    make_collection, curator, reader, settings, django_capture_on_commit_callbacks, extension
):
    """Ingesting the message (an email or an Outlook message) uploads each attachment it carries as a
    document of its own, named after the message, and ingests it: retrieval finds the attachment's
    fact. Ingesting the message again adds nothing."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default", "ingest"]}
    }
    workbook = make_xlsx({"Rates": [["Item", "Rate"], ["Tapir mileage rate", "52p"]]})
    data = _mail_with(extension, workbook)
    name = f"rates-mail{extension}"
    collection = make_collection()
    with django_capture_on_commit_callbacks(execute=True):
        message = upload_and_ingest(collection, name, data, curator)
    assert message.status == VersionStatus.READY
    (passage,) = _found(reader, "tapir mileage rate", "Tapir")[:1]
    assert passage.document_title == f"Rates mail{extension} › rates"
    assert "- Item: Tapir mileage rate | Rate: 52p" in passage.text
    assert sorted(collection.documents.values_list("source_name", flat=True)) == [name, f"{name} › rates.xlsx"]
    attachment = collection.documents.get(source_name=f"{name} › rates.xlsx")
    assert attachment.attached_to == message.document
    with django_capture_on_commit_callbacks(execute=True):
        upload_and_ingest(collection, name, data, curator)  # the same bytes again
    assert collection.documents.count() == 2
    assert DocumentVersion.objects.filter(document__collection=collection).count() == 2


BAD_UPLOADS = [
    ("rates.xlsx", lambda: b"Item,Rate\n"),
    ("rates.xlsm", _xlsx),
    ("deck.pptx", lambda: rezip(_pptx(), add={"ppt/vbaProject.bin": b"VBA"})),
    ("rates.csv", lambda: b"\x00\x01binary\x00" * 20),
    ("leave.odt", lambda: make_odt(ODT_BODY, encrypted=True)),
]


@pytest.mark.parametrize(("name", "make"), BAD_UPLOADS, ids=[n for n, _ in BAD_UPLOADS])
def test_a_bad_file_fails_its_version_and_changes_nothing(make_collection, curator, name, make):
    """Refused at upload when its bytes and name already say so (nothing stored), else its version
    fails when it is read; either way nothing searched changes."""
    collection = make_collection()
    good = upload_and_ingest(collection, "rates.xlsx", _xlsx(), curator)
    before = sorted(Chunk.objects.filter(collection=collection, searchable=True).values_list("pk", flat=True))
    if name == "leave.odt":  # an encrypted ODT is only found out by reading it
        version = upload_and_ingest(collection, name, make(), curator)
        assert version.status == VersionStatus.FAILED and version.error
        assert not version.chunks.exists()
    else:
        assert upload_refused(collection, name, make(), curator).messages
    after = sorted(Chunk.objects.filter(collection=collection, searchable=True).values_list("pk", flat=True))
    assert after == before
    good.document.refresh_from_db()
    assert good.document.current_version_id == good.pk


# --- Where the accepted types are said ------------------------------------------------------------------


def test_the_upload_form_and_the_ingest_command_take_the_list_from_the_parser(client, curator, make_collection):
    from documents.ingest.parse import EXTENSIONS
    from documents.management.commands.ingest import Command, unsupported
    from tests.conftest import PASSWORD

    make_collection()
    assert client.login(username=curator.username, password=PASSWORD)
    page = client.get("/curate/c/guidance/").content.decode()
    assert f'accept="{",".join(sorted(EXTENSIONS))}"' in page
    assert "PowerPoint (.pptx), Excel (.xlsx), CSV" in page
    assert "PowerPoint (.pptx)" in Command.help
    from pathlib import Path

    assert ".pptx, .rtf" in unsupported(Path("old.key"))
