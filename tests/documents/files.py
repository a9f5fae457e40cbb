"""Small documents made on the fly for the ingestion tests (PDF via fpdf2, DOCX via python-docx)."""

from __future__ import annotations

import io
import zipfile


def make_pdf(
    pages: list[str], *, title: str = "", bookmarks: dict[int, str] | None = None, password: str = ""
) -> bytes:
    """A PDF with one page per string; ``bookmarks`` maps a 1-based page to an outline entry."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    if title:
        pdf.set_title(title)
    for number, text in enumerate(pages, start=1):
        pdf.add_page()
        if bookmarks and number in bookmarks:
            pdf.start_section(bookmarks[number])
        pdf.multi_cell(0, 6, text)
    data = bytes(pdf.output())
    if password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
    return data


def make_sized_pdf(lines: list[tuple[int, str]], *, title: str = "") -> bytes:
    """A PDF with no bookmarks whose lines are set in the given point sizes (as a browser or a word
    processor prints one: its headings are only larger text)."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.add_page()
    for size, text in lines:
        pdf.set_font("helvetica", size=size)
        pdf.multi_cell(0, size * 0.6, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def make_docx(blocks: list[tuple[str, str]], *, title: str = "") -> bytes:
    """A Word document from (style, text) pairs: style "Title", "Heading 1".."Heading 3", "" or "table"."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for style, text in blocks:
        if style == "table":
            rows = [row.split("|") for row in text.split("\n")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value.strip()
        elif style:
            document.add_paragraph(text, style=style)
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb_docx(uncompressed_mb: int = 20) -> bytes:
    """A .docx-shaped zip whose document part inflates from a few KB to ``uncompressed_mb`` MB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (uncompressed_mb * 1024 * 1024))
    return out.getvalue()


def upload_and_ingest(collection, filename: str, data: bytes, user):
    """Upload then run the ingestion task inline; returns the refreshed version."""
    from documents.services import document_upload, version_ingest

    version = document_upload(collection=collection, filename=filename, data=data, user=user, enqueue=False)
    duplicate = version.duplicate
    if not duplicate and version.status == "queued":
        version_ingest(version.pk)
    version.refresh_from_db()
    version.duplicate = duplicate
    return version


#: A PDF that says it is one but cannot be read: let in at upload (nothing there tells), refused when read.
BROKEN_PDF = b"%PDF-1.4\n1 0 obj garbage"


def upload_refused(collection, filename: str, data: bytes, user):
    """Upload a file that must be refused outright; returns the ``ValidationError``, having checked
    that nothing was stored (no document made, no version added) and that the refusal was audited."""
    from django.core.exceptions import ValidationError

    from audit.models import AuditEvent
    from documents.models import Document, DocumentVersion
    from documents.services import document_upload

    documents, versions = Document.objects.count(), DocumentVersion.objects.count()
    events = AuditEvent.objects.filter(action="curation.document_upload", outcome="refused").count()
    try:
        document_upload(collection=collection, filename=filename, data=data, user=user, enqueue=False)
    except ValidationError as exc:
        assert (Document.objects.count(), DocumentVersion.objects.count()) == (documents, versions)
        event = AuditEvent.objects.filter(action="curation.document_upload", outcome="refused").latest("pk")
        assert AuditEvent.objects.filter(action="curation.document_upload", outcome="refused").count() == events + 1
        assert event.data["refused"] == exc.code and event.data["collection_id"] == collection.pk
        return exc
    raise AssertionError(f"{filename} was not refused")


# --- More formats (tests/documents/test_formats.py) ----------------------------------------------


def make_pptx(slides: list[dict], *, title: str = "") -> bytes:
    """A deck, one slide per dict: ``title``, ``bullets`` (list), ``table`` (rows, the first the
    header) and ``notes`` (speaker notes)."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    if title:
        deck.core_properties.title = title
    for spec in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1 if spec.get("bullets") else 5])
        if spec.get("title"):
            slide.shapes.title.text = spec["title"]
        if spec.get("bullets"):
            body = slide.placeholders[1].text_frame
            body.text = spec["bullets"][0]
            for bullet in spec["bullets"][1:]:
                body.add_paragraph().text = bullet
        if spec.get("table"):
            rows = spec["table"]
            shape = slide.shapes.add_table(len(rows), len(rows[0]), Inches(0.5), Inches(2), Inches(8), Inches(2))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = value
        if spec.get("notes"):
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx(sheets: dict[str, list[list]], *, hidden: tuple[str, ...] = ()) -> bytes:
    """A workbook: sheet name -> rows of values (a string starting "=" is a formula)."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def rezip(data: bytes, *, add: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None) -> bytes:
    """The same zip with parts added or replaced (a VBA project slipped into an .xlsx, say)."""
    add, replace = add or {}, replace or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
        for name, content in add.items():
            target.writestr(name, content)
    return out.getvalue()


_ODT_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
)


def make_odt(body_xml: str, *, title: str = "", encrypted: bool = False) -> bytes:
    """An OpenDocument text file whose body is ``body_xml`` (``text:h``, ``text:p``, ``table:table``...),
    written as LibreOffice writes one: ``mimetype`` first and stored, then the XML parts."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODT_NS} office:version="1.3">'
        f"<office:body><office:text>{body_xml}</office:text></office:body></office:document-content>"
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {_ODT_NS} office:version="1.3">'
        f"<office:meta><dc:title>{title}</dc:title></office:meta></office:document-meta>"
    )
    entry = '<manifest:encryption-data manifest:checksum-type="SHA1/1K"/>' if encrypted else ""
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{entry}'
        "</manifest:file-entry></manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("meta.xml", meta, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def make_eml(
    *,
    subject: str,
    body: str,
    html: str = "",
    sender: str = "Jane Smith <jane.smith@example.gov.uk>",
    to: str = "Policy Team <policy@example.gov.uk>",
    date: str = "Tue, 04 Mar 2025 10:15:00 +0000",
    attachments: list[tuple[str, bytes, str]] = (),
) -> bytes:
    """An email (the standard library's ``EmailMessage``) with a plain body, optionally an HTML
    alternative (or only HTML when ``body`` is empty), and attachments as (filename, data, MIME type);
    a forwarded message's type is ``message/rfc822``, or ``message/rfc822+base64`` to send it encoded."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Date"] = date
    message["Subject"] = subject
    message["Message-ID"] = "<test-1@example.gov.uk>"
    if body:
        message.set_content(body)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    for filename, data, mime in attachments:
        if mime == "message/rfc822":  # a forwarded message is attached as a message, not encoded
            from email import message_from_bytes, policy

            message.add_attachment(message_from_bytes(data, policy=policy.default), filename=filename)
            continue
        if mime == "message/rfc822+base64":  # as some clients send a forwarded message: encoded
            import base64

            part = EmailMessage()
            part["Content-Type"] = "message/rfc822"
            part["Content-Transfer-Encoding"] = "base64"
            part["Content-Disposition"] = f'attachment; filename="{filename}"'
            part.set_payload(base64.encodebytes(data).decode("ascii"))
            message.make_mixed()
            message.attach(part)
            continue
        maintype, subtype = mime.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def make_msg(
    *,
    subject: str,
    body: str,
    sender: str = "Jane Smith <jane.smith@example.gov.uk>",
    to: str = "policy@example.gov.uk",
    date: str = "Tue, 04 Mar 2025 10:15:00 +0000",
    attachments: list[tuple[str, bytes]] = (),
    messages: list[tuple[str, bytes]] = (),
    objects: list[tuple[str, bytes]] = (),
) -> bytes:
    """An Outlook .msg, written as the [MS-OXMSG] layout of an OLE compound file (extract-msg's own
    ``OleWriter``): the message class, subject, body and transport headers as Unicode string streams,
    each attachment a storage with its file name and data (attached by value), and each of
    ``messages`` (name, a .msg made here) attached as an Outlook message (embedded), and each of
    ``objects`` (name, bytes) as an embedded OLE object (its ``Ole10Native`` stream)."""
    import struct

    import olefile
    from extract_msg.ole_writer import OleWriter

    def text(value: str) -> bytes:
        return value.encode("utf-16-le")

    def long_property(prop_id: int, value: int) -> bytes:  # one fixed-length property entry
        return struct.pack("<IIQ", (prop_id << 16) | 0x0003, 0x6, value)

    headers = f"From: {sender}\r\nTo: {to}\r\nDate: {date}\r\nSubject: {subject}\r\n\r\n"
    writer = OleWriter()
    writer.addEntry("__nameid_version1.0", storage=True)
    for stream in ("__substg1.0_00020102", "__substg1.0_00030102", "__substg1.0_00040102"):
        writer.addEntry(f"__nameid_version1.0/{stream}", b"")
    count = len(attachments) + len(messages) + len(objects)
    header = struct.pack("<8sIIII8s", b"\0" * 8, 1, count, 1, count, b"\0" * 8)
    from email.utils import parsedate_to_datetime

    sent = parsedate_to_datetime(date).timestamp()
    filetime = round((sent + 11_644_473_600) * 10_000_000)  # 100 ns ticks since 1601
    submit_time = struct.pack("<IIQ", (0x0039 << 16) | 0x0040, 0x6, filetime)  # PR_CLIENT_SUBMIT_TIME
    writer.addEntry("__properties_version1.0", header + submit_time)
    writer.addEntry("__substg1.0_001A001F", text("IPM.Note"))
    writer.addEntry("__substg1.0_0037001F", text(subject))
    writer.addEntry("__substg1.0_1000001F", text(body))
    writer.addEntry("__substg1.0_007D001F", text(headers))
    writer.addEntry("__substg1.0_0C1A001F", text(sender.split("<")[0].strip()))
    writer.addEntry("__substg1.0_0E04001F", text(to))
    recipient = "__recip_version1.0_#00000000"
    writer.addEntry(recipient, storage=True)
    writer.addEntry(f"{recipient}/__properties_version1.0", b"\0" * 8 + long_property(0x0C15, 1))
    writer.addEntry(f"{recipient}/__substg1.0_3001001F", text(to))
    writer.addEntry(f"{recipient}/__substg1.0_39FE001F", text(to))
    for index, (filename, data) in enumerate(attachments):
        storage = f"__attach_version1.0_#{index:08X}"
        writer.addEntry(storage, storage=True)
        writer.addEntry(f"{storage}/__properties_version1.0", b"\0" * 8 + long_property(0x3705, 1))
        writer.addEntry(f"{storage}/__substg1.0_3707001F", text(filename))
        writer.addEntry(f"{storage}/__substg1.0_3704001F", text(filename[:12]))
        writer.addEntry(f"{storage}/__substg1.0_37010102", data)
    for index, (name, inner) in enumerate(messages, start=len(attachments)):
        storage = f"__attach_version1.0_#{index:08X}"
        writer.addEntry(storage, storage=True)
        writer.addEntry(f"{storage}/__properties_version1.0", b"\0" * 8 + long_property(0x3705, 5))  # embedded
        writer.addEntry(f"{storage}/__substg1.0_3001001F", text(name))
        writer.addEntry(f"{storage}/__substg1.0_3701000D", storage=True)
        ole = olefile.OleFileIO(inner)
        for path in ole.listdir(streams=True, storages=True):
            if path[0] == "__nameid_version1.0":
                continue  # an embedded message uses its parent's named properties
            entry = "/".join([storage, "__substg1.0_3701000D", *path])
            if ole.get_type("/".join(path)) == olefile.STGTY_STORAGE:
                writer.addEntry(entry, storage=True)
                continue
            raw = ole.openstream("/".join(path)).read()
            if path == ["__properties_version1.0"]:
                raw = raw[:24] + raw[32:]  # an embedded message's header is 24 bytes, not 32
            writer.addEntry(entry, raw)
        ole.close()
    for index, (name, data) in enumerate(objects, start=len(attachments) + len(messages)):
        storage = f"__attach_version1.0_#{index:08X}"
        writer.addEntry(storage, storage=True)
        writer.addEntry(f"{storage}/__properties_version1.0", b"\0" * 8 + long_property(0x3705, 6))  # OLE
        writer.addEntry(f"{storage}/__substg1.0_3001001F", text(name))
        writer.addEntry(f"{storage}/__substg1.0_3701000D", storage=True)
        writer.addEntry(f"{storage}/__substg1.0_3701000D/\x01Ole10Native", data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- Scanned pages (tests/documents/test_ocr.py, bench/ocr.py) -----------------------------------------

A4_MM = (210, 297)


def text_font(size: int):
    """A TrueType font from the machine's fonts (Debian's DejaVu or Liberation), else Pillow's own."""
    from pathlib import Path

    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "DejaVuSerif.ttf"):
        for path in sorted(Path("/usr/share/fonts").rglob(name)):
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def scanned_page(text: str, *, dpi: int = 200, point_size: int = 11):
    """An A4 page as a scanner would see it: ``text`` typed in black on white (paragraphs split on blank
    lines, wrapped to 2.5 cm margins), as a greyscale picture with no text layer. Text that would run
    off the page is a ``ValueError``, so what is on the picture is exactly ``text``."""
    from PIL import Image, ImageDraw

    width, height = (round(mm / 25.4 * dpi) for mm in A4_MM)
    margin = round(25 / 25.4 * dpi)
    font = text_font(round(point_size / 72 * dpi))
    line_height = round(point_size * 1.5 / 72 * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        line = ""
        for word in paragraph.split():
            trial = f"{line} {word}".strip()
            if line and draw.textlength(trial, font=font) > width - 2 * margin:
                lines.append(line)
                line = word
            else:
                line = trial
        lines += [line, ""] if line else []
    y = margin
    for line in lines:
        if y + line_height > height - margin:
            raise ValueError("the text does not fit on one page")
        if line:
            draw.text((margin, y), line, font=font, fill=0)
        y += line_height if line else line_height // 2
    return image


def make_scanned_pdf(
    pages: list[str], *, typed: tuple[int, ...] = (), dpi: int = 200, header: str = "", logo: bool = False
) -> bytes:
    """A PDF with one A4 page per string, each a picture of its text with no text layer (a scan),
    except the 1-based page numbers in ``typed``, which are typeset with a real text layer. ``header``
    is typed (a text layer) at the top of every page, as a scanner's stamp; ``logo`` puts a small
    picture in the corner of the typed pages."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_font("helvetica", size=11)
    pdf.set_auto_page_break(False)
    for number, text in enumerate(pages, start=1):
        pdf.add_page()
        if number in typed:
            pdf.set_xy(25, 25)
            pdf.multi_cell(160, 6, text)
            if logo:
                pdf.image(scanned_page("Logo", dpi=20), x=170, y=5, w=21, h=30)
        else:
            pdf.image(scanned_page(text, dpi=dpi), x=0, y=0, w=A4_MM[0], h=A4_MM[1])
        if header:
            pdf.set_xy(25, 8)
            pdf.cell(160, 5, header)
    return bytes(pdf.output())
