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
