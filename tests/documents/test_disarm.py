"""What could run is never kept (``documents.ingest.formats.disarm``): an Office or OpenDocument file
carrying macros is refused before anything is stored, and its embedded objects are emptied in the
stored copy while its text is still read; an email's attachments of types never read are emptied
in the stored message (``formats.mail.strip_unread``). Real files made in the test, through the real
upload service, the worker's ingestion and the curator's version page."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from audit.actions import Action
from audit.models import AuditEvent
from documents.ingest.formats.disarm import OLE_MAGIC
from documents.ingest.parse import ParseError, parse, stored_copy
from documents.models import VersionStatus
from tests.conftest import PASSWORD
from tests.documents.files import (
    make_docx,
    make_eml,
    make_msg,
    make_odt,
    make_pdf,
    make_pptx,
    make_xlsx,
    make_zip_bomb_docx,
    rezip,
    upload_and_ingest,
    upload_refused,
)

DECK = [{"title": "Travel"}, {"title": "Mileage", "bullets": ["Pangolin trips: 45p a mile"]}]
ODT_BODY = "<text:h text:outline-level='1'>Leave</text:h><text:p>Staff get 25 days of okapi leave.</text:p>"
OLE_OBJECT = OLE_MAGIC + b"\x00" * 40 + b"Package: run-me.exe"


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _docx() -> bytes:
    return make_docx([("", "Words.")])


def _xlsx() -> bytes:
    return make_xlsx({"S": [["A"], ["1"]]})


MACROS = [
    pytest.param(lambda: rezip(_docx(), add={"word/vbaProject.bin": OLE_OBJECT}), "a.docx", ".docx", id="docx-vba"),
    pytest.param(
        lambda: rezip(make_odt(ODT_BODY), add={"Basic/Standard/Module1.xml": b"<m/>"}), "a.odt", ".odt", id="odt-basic"
    ),
    pytest.param(
        lambda: rezip(make_odt(ODT_BODY), add={"Scripts/python/tidy.py": b"import os"}),
        "b.odt",
        ".odt",
        id="odt-script",
    ),
    pytest.param(lambda: rezip(_xlsx(), add={"xl/vbaProject.bin": OLE_OBJECT}), "c.xlsx", ".xlsx", id="xlsx-vba"),
]


@pytest.mark.parametrize(("make", "name", "clean"), MACROS)
def test_macros_in_any_office_or_opendocument_file_are_refused(make, name, clean):
    """By content, whatever the name: in the worker's parse and before an upload is stored."""
    data = make()
    for refuse in (lambda: parse(data, name), lambda: stored_copy(data)):
        with pytest.raises(ParseError) as caught:
            refuse()
        assert caught.value.code == "macros"
        assert f"Save a copy as {clean}" in caught.value.message


def test_an_empty_basic_library_is_not_a_macro():
    """LibreOffice writes Basic's index files without any module: such a file is read as before."""
    data = rezip(make_odt(ODT_BODY), add={"Basic/script-lc.xml": b"<lc/>", "Basic/Standard/script-lb.xml": b"<lb/>"})
    assert stored_copy(data) == (data, ())
    assert "okapi leave" in parse(data, "leave.odt").text


def test_a_file_with_macros_is_refused_at_upload_and_its_bytes_are_never_stored(make_collection, curator):
    data = rezip(_docx(), add={"word/vbaProject.bin": OLE_OBJECT})
    refusal = upload_refused(make_collection(), "policy.docx", data, curator)  # nothing stored: no document
    assert "contains macros, which we never run or keep" in refusal.messages[0]
    event = AuditEvent.objects.filter(action=Action.DOCUMENT_UPLOAD).latest("pk")
    assert event.outcome == "refused" and event.data["refused"] == "macros"


def test_a_zip_bomb_is_refused_at_upload_and_not_stored(make_collection, curator):
    refusal = upload_refused(make_collection(), "big.docx", make_zip_bomb_docx(20), curator)
    assert "expand" in refusal.messages[0], refusal.messages


def test_embedded_objects_are_emptied_in_the_stored_file_and_its_text_is_still_read(make_collection, curator, client):
    """An OLE object and an embedded workbook in a deck are emptied in the stored copy (their parts
    kept, so the file still opens); the slides are read; the version page and the audit say what was
    emptied. The same bytes uploaded again are recognised as the same file."""
    deck = rezip(
        make_pptx(DECK),
        add={
            "ppt/embeddings/oleObject1.bin": OLE_OBJECT,
            "ppt/embeddings/Microsoft_Excel_Worksheet1.xlsx": _xlsx(),
        },
    )
    collection = make_collection()
    version = upload_and_ingest(collection, "travel.pptx", deck, curator)
    assert version.status == VersionStatus.READY, version.error
    assert any("Pangolin trips: 45p a mile" in c.text for c in version.chunks.all())
    emptied = ["ppt/embeddings/Microsoft_Excel_Worksheet1.xlsx", "ppt/embeddings/oleObject1.bin"]
    assert version.emptied_parts == emptied
    with version.file.open("rb") as handle:
        stored = _parts(handle.read())
    assert stored["ppt/embeddings/oleObject1.bin"] == b""
    assert stored["ppt/embeddings/Microsoft_Excel_Worksheet1.xlsx"] == b""
    original = _parts(deck)
    assert {n: b for n, b in stored.items() if n not in emptied} == {
        n: b for n, b in original.items() if n not in emptied
    }
    event = AuditEvent.objects.filter(action=Action.DOCUMENT_UPLOAD).latest("pk")
    assert event.data["emptied_parts"] == emptied and event.data["sha256"] == version.sha256

    assert client.login(username=curator.username, password=PASSWORD)
    html = client.get(reverse("documents:version", args=[version.pk])).content.decode()
    assert "2 emptied before the file was stored, never read or kept" in html
    assert "ppt/embeddings/oleObject1.bin" in html

    again = upload_and_ingest(collection, "travel.pptx", deck, curator)
    assert again.duplicate and again.pk == version.pk


def test_an_opendocument_ole_object_is_emptied_and_its_own_sub_documents_kept():
    """In an .odt, an OLE object ("Object 1", binary) is emptied; an embedded OpenDocument object
    ("Object 2/content.xml", a chart's XML) is not a program and is kept; the mimetype stays first."""
    data = rezip(make_odt(ODT_BODY), add={"Object 1": OLE_OBJECT, "Object 2/content.xml": b"<chart/>"})
    stored, emptied = stored_copy(data)
    assert emptied == ("Object 1",)
    parts = _parts(stored)
    assert parts["Object 1"] == b"" and parts["Object 2/content.xml"] == b"<chart/>"
    assert next(iter(parts)) == "mimetype"
    assert "okapi leave" in parse(stored, "leave.odt").text


def test_files_that_are_not_office_zips_are_stored_as_they_are():
    for data in (b"# Notes\n\nPlain text.", b"%PDF-1.4 not really", b"PK\x03\x04 damaged zip"):
        assert stored_copy(data) == (data, ())


def test_a_damaged_part_beside_an_embedded_object_is_refused_plainly_and_nothing_stored(make_collection, curator):
    """Emptying the embedded object means reading every other part: a part whose bytes do not match
    their checksum fails the upload with a reason, not an error page, and nothing is kept."""
    deck = rezip(make_pptx(DECK), add={"ppt/embeddings/oleObject1.bin": OLE_OBJECT})
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(deck)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
        target.writestr("ppt/notes.xml", b"<notes>NOTES-TO-DAMAGE</notes>")
    damaged = out.getvalue().replace(b"NOTES-TO-DAMAGE", b"NOTES-DAMAGED!!")
    with pytest.raises(ParseError) as caught:
        stored_copy(damaged)
    assert caught.value.code == "corrupt" and "damaged" in caught.value.message
    refusal = upload_refused(make_collection(), "deck.pptx", damaged, curator)
    assert refusal.code == "corrupt" and "damaged" in refusal.messages[0]


# --- Email: attachments of types never read -------------------------------------------------------

EXE = b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x07" * 40


def _payloads(data: bytes) -> list[bytes]:
    """Every part's decoded bytes, a forwarded message's parts included."""
    from email import message_from_bytes, policy

    return [
        part.get_payload(decode=True) or b""
        for part in message_from_bytes(data, policy=policy.default).walk()
        if not part.is_multipart()
    ]


def _message_with_unread_attachments() -> tuple[bytes, bytes]:
    """A message carrying a PDF (read), an .exe and a .vbs (never read), and a forwarded message
    carrying another .exe. Returns the message and its PDF."""
    pdf = make_pdf(["The quokka allowance is 9 pounds a day."])
    inner = make_eml(
        subject="Tools", body="Run the installer.", attachments=[("installer.exe", EXE, "application/octet-stream")]
    )
    data = make_eml(
        subject="Allowances",
        body="The new rates are attached.",
        attachments=[
            ("rates.pdf", pdf, "application/pdf"),
            ("setup.exe", EXE, "application/x-msdownload"),
            ("macro.vbs", b'CreateObject("WScript.Shell").Run "calc"', "text/vbscript"),
            ("image001.png", PNG, "image/png"),  # a signature's logo: kept
            ("holiday.png", EXE, "application/x-msdownload"),  # named as a picture, sent as a program
            ("tools.eml", inner, "message/rfc822"),
        ],
    )
    return data, pdf


def test_an_emails_attachments_of_types_never_read_are_emptied_in_the_stored_message():
    """The .exe, the .vbs and the forwarded message's .exe are emptied, keeping their names and types
    so the message still lists them; the body and the PDF are kept byte for byte."""
    data, pdf = _message_with_unread_attachments()
    stored, emptied = stored_copy(data)
    assert emptied == ("setup.exe", "macro.vbs", "holiday.png", "installer.exe")
    assert PNG in _payloads(stored)
    assert EXE in _payloads(data) and EXE not in _payloads(stored) and b"TVqQ" not in stored  # "MZ..." in base64
    assert not any(b"WScript" in payload for payload in _payloads(stored))
    parsed = parse(stored, "allowances.eml")
    assert "The new rates are attached." in parsed.text
    assert [(a.filename, a.data) for a in parsed.attachments] == [
        ("allowances.eml › rates.pdf", pdf),
        ("allowances.eml › tools.eml", parsed.attachments[1].data),
    ]
    assert "- setup.exe (not ingested: files ending .exe are not accepted)" in parsed.text
    assert "- macro.vbs (not ingested: files ending .vbs are not accepted)" in parsed.text
    forwarded = parse(parsed.attachments[1].data, "tools.eml")
    assert "Run the installer." in forwarded.text
    assert "- installer.exe (not ingested: files ending .exe are not accepted)" in forwarded.text


def test_a_forwarded_message_sent_encoded_has_its_unread_attachments_emptied_too():
    inner = make_eml(
        subject="Tools", body="Run the installer.", attachments=[("installer.exe", EXE, "application/x-msdownload")]
    )
    data = make_eml(
        subject="Fwd: Tools", body="See below.", attachments=[("tools.eml", inner, "message/rfc822+base64")]
    )
    stored, emptied = stored_copy(data)
    assert emptied == ("installer.exe",)
    (forwarded,) = parse(stored, "fwd.eml").attachments
    assert EXE in _payloads(inner) and EXE not in _payloads(forwarded.data)
    assert "Run the installer." in parse(forwarded.data, "tools.eml").text


def test_forwarded_messages_nested_too_deep_are_refused_before_anything_is_stored():
    from documents.ingest.formats.mail import MAX_FORWARD_DEPTH

    data = make_eml(subject="Innermost", body="Hello.")
    for depth in range(MAX_FORWARD_DEPTH + 1):
        data = make_eml(subject=f"Fwd {depth}", body="See below.", attachments=[("fwd.eml", data, "message/rfc822")])
    with pytest.raises(ParseError) as refused:
        stored_copy(data)
    assert refused.value.code == "bomb" and f"more than {MAX_FORWARD_DEPTH} deep" in refused.value.message


def test_an_email_with_nothing_to_empty_is_stored_as_it_came():
    data = make_eml(
        subject="Rates", body="See attached.", attachments=[("rates.pdf", make_pdf(["Rates."]), "application/pdf")]
    )
    assert stored_copy(data) == (data, ())


def test_an_uploaded_email_keeps_no_program_and_says_so(make_collection, curator, client):
    """Through the upload service and the worker: the message is read, its PDF ingested as a document
    of its own, the emptied attachments listed on the version page and in the upload's audit event;
    the same message uploaded again is recognised (its SHA-256 is the upload's)."""
    data, _pdf = _message_with_unread_attachments()
    collection = make_collection()
    version = upload_and_ingest(collection, "allowances.eml", data, curator)
    assert version.status == VersionStatus.READY, version.error
    assert version.emptied_parts == ["setup.exe", "macro.vbs", "holiday.png", "installer.exe"]
    with version.file.open("rb") as handle:
        assert EXE not in _payloads(handle.read())
    assert collection.documents.filter(source_name="allowances.eml › rates.pdf").exists()
    event = AuditEvent.objects.filter(action=Action.DOCUMENT_UPLOAD, data__sha256=version.sha256).latest("pk")
    assert event.data["emptied_parts"] == ["setup.exe", "macro.vbs", "holiday.png", "installer.exe"]

    assert client.login(username=curator.username, password=PASSWORD)
    html = client.get(reverse("documents:version", args=[version.pk])).content.decode()
    assert "Attachments not kept" in html and "Embedded objects" not in html
    assert "4 of a type Humphrey does not read emptied before the message was stored" in html

    again = upload_and_ingest(collection, "allowances.eml", data, curator)
    assert again.duplicate and again.pk == version.pk


def test_an_outlook_messages_attachments_of_types_never_read_are_zeroed_in_the_stored_file():
    """A .msg cannot be rewritten as an .eml is, so an .exe (in the file's large sectors), a .vbs
    (in its mini stream), an attached Outlook message's .exe and an embedded OLE object have their
    bytes overwritten with zeros in place; the PDF and the attached message's text are kept and still ingested, and the
    messages still list what they carried."""
    pdf = make_pdf(["The quokka allowance is 9 pounds a day."])
    big_exe = EXE + b"\x01" * 6000
    inner = make_msg(subject="Tools", body="Run the installer.", attachments=[("installer.exe", EXE + b"\x02" * 50)])
    data = make_msg(
        subject="Allowances",
        body="The new rates are attached.",
        attachments=[
            ("rates.pdf", pdf),
            ("setup.exe", big_exe),
            ("macro.vbs", b'CreateObject("WScript.Shell")'),
            ("image001.png", PNG),
        ],
        messages=[("Tools", inner)],
        objects=[("Package", OLE_OBJECT)],
    )
    assert EXE + b"\x02" * 50 in data and OLE_OBJECT in data
    stored, emptied = stored_copy(data)
    assert emptied == ("setup.exe", "macro.vbs", "installer.exe", "Package")
    assert OLE_OBJECT not in stored
    assert len(stored) == len(data) and big_exe not in stored and b"WScript" not in stored and EXE not in stored
    assert PNG in stored
    parsed = parse(stored, "allowances.msg")
    assert "The new rates are attached." in parsed.text
    assert [a.filename for a in parsed.attachments] == ["allowances.msg › rates.pdf", "allowances.msg › Tools.msg"]
    assert parsed.attachments[0].data == pdf
    assert "- setup.exe (not ingested: files ending .exe are not accepted)" in parsed.text
    assert "- macro.vbs (not ingested: files ending .vbs are not accepted)" in parsed.text
    # Before, extract-msg's refusal of the OLE object failed the whole message as "damaged".
    assert "- Package (not ingested: a link or embedded object, not a file)" in parsed.text
    forwarded = parse(parsed.attachments[1].data, "Tools.msg")
    assert "Run the installer." in forwarded.text
    assert "- installer.exe (not ingested: files ending .exe are not accepted)" in forwarded.text
    nameless = make_msg(subject="Tool", body="Attached.", attachments=[("", EXE)])
    stored, emptied = stored_copy(nameless)
    assert emptied == ("attachment-1",) and EXE not in stored
    # Listed under the same name each time it is read (extract-msg makes up a random one).
    assert "- attachment-1 (not ingested: it has no file extension)" in parse(stored, "tool.msg").text
    assert parse(stored, "tool.msg").text == parse(nameless, "tool.msg").text
    clean = make_msg(subject="Rates", body="See attached.", attachments=[("rates.pdf", pdf)])
    assert stored_copy(clean) == (clean, ())
