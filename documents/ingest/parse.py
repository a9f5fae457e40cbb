"""Turn an uploaded file into text with its structure kept (no Django imports).

``parse(data, filename)`` sniffs what the bytes are (never trusting the name alone), refuses what
it cannot read safely, and returns a ``ParsedDocument`` whose sections carry heading paths and, for
PDFs, page numbers. Every refusal is a ``ParseError(code, message)`` whose message a curator can act
on; the caller records it on that version only.

This module decides what a file is and whether to read it; each family of formats has its reader in
``documents.ingest.formats`` (which says how to add one): PDF (pypdf; pages, and the bookmarks as
headings; scanned pages read by OCR, ``formats.ocr``), DOCX (python-docx; heading styles), HTML
(BeautifulSoup; headings; scripts, styles and other active content dropped: only text is kept),
Markdown (markdown-it-py finds the headings; YAML front matter gives the title and is not indexed),
plain text (numbered or underlined headings; text files in UTF-8, UTF-16 or UTF-32, else in the
encoding charset_normalizer finds), PowerPoint (python-pptx; a slide is a section, "slide
4"), Excel and CSV (openpyxl, csv; a sheet and its rows, each row with its header), OpenDocument text
(its XML; headings), RTF (striprtf), and email (.eml with the standard library, Outlook .msg with
extract-msg; an email's attachments of accepted types come back in ``ParsedDocument.attachments`` to
be ingested as documents of their own).

What is accepted is said once, here: ``EXTENSIONS`` (the upload form's ``accept`` list and the
``ingest`` command's skip reasons) and ``ACCEPTED_FORMATS`` (the words for people). Macro-enabled
Office files (.docm, .xlsm, .pptm) are refused by name, and a .docx, .xlsx, .pptx or .odt that carries
macros anyway is refused by content: macros are never run or kept. ``stored_copy`` is what an upload
keeps: embedded objects emptied, macros and zip bombs refused before anything is stored
(``formats.disarm``), and an email's attachments of types never read emptied (``formats.mail``).

A document is named by the title its file gives, unless that is a placeholder a tool wrote
("about:blank", "Document1": ``title_or_filename``), then after its file name. ``lasting_refusal``
says which refusals the same file would meet on every attempt, so nobody is offered a pointless retry.
"""

# Over 500 lines on purpose: what a file is (sniffing, names, encodings) and what it may not be
# (refusals a curator acts on) are one decision; the readers of each format live in ``formats``.

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import PurePath

from ..text import invisible_removed
from .formats.base import OcrOptions, ParseError, ParseLimits, squash
from .formats.disarm import OLE_MAGIC, disarm, refuse_macros
from .formats.mail import is_outlook_message, looks_like_email, parse_eml, parse_msg, strip_unread, strip_unread_msg
from .formats.markup import parse_html, parse_markdown
from .formats.ocr import Progress
from .formats.opendocument import is_odt, parse_odt
from .formats.pdf import parse_pdf
from .formats.plain import parse_text
from .formats.rtf import parse_rtf
from .formats.sheets import parse_csv, parse_xlsx
from .formats.slides import parse_pptx
from .formats.word import parse_docx
from .types import ParsedDocument

__all__ = [
    "ACCEPTED_FORMATS",
    "CONTENT_TYPES",
    "EXTENSIONS",
    "LASTING_CODES",
    "OcrOptions",
    "ParseError",
    "ParseLimits",
    "accepted_extensions",
    "lasting_refusal",
    "parse",
    "sniff",
    "title_from_filename",
    "title_or_filename",
]


PDF, DOCX, HTML, MARKDOWN, TEXT = "pdf", "docx", "html", "markdown", "text"
PPTX, XLSX, CSV, ODT, RTF, EMAIL, MSG = "pptx", "xlsx", "csv", "odt", "rtf", "email", "msg"
CONTENT_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    HTML: "text/html",
    MARKDOWN: "text/markdown",
    TEXT: "text/plain",
    PPTX: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    CSV: "text/csv",
    ODT: "application/vnd.oasis.opendocument.text",
    RTF: "application/rtf",
    EMAIL: "message/rfc822",
    MSG: "application/vnd.ms-outlook",
}
#: What each accepted extension may contain. Markdown and plain text are both text.
EXTENSIONS = {
    ".pdf": {PDF},
    ".docx": {DOCX},
    ".html": {HTML},
    ".htm": {HTML},
    ".md": {MARKDOWN, TEXT},
    ".markdown": {MARKDOWN, TEXT},
    ".txt": {TEXT, MARKDOWN},
    ".text": {TEXT, MARKDOWN},
    ".pptx": {PPTX},
    ".xlsx": {XLSX},
    ".csv": {CSV},
    ".odt": {ODT},
    ".rtf": {RTF},
    ".eml": {EMAIL},
    ".msg": {MSG},
}
#: The accepted types in words, for the upload form, the ``ingest`` command and refusals.
ACCEPTED_FORMATS = (
    "PDF, Word (.docx), OpenDocument text (.odt), RTF, PowerPoint (.pptx), Excel (.xlsx), CSV, "
    "web pages (.html), Markdown (.md), text (.txt) or email (.eml, Outlook .msg)"
)
FORMAT_NAMES = {
    PDF: "a PDF",
    DOCX: "a Word document",
    HTML: "a web page",
    MARKDOWN: "text",
    TEXT: "text",
    PPTX: "a PowerPoint presentation",
    XLSX: "an Excel workbook",
    CSV: "text",
    ODT: "an OpenDocument text file",
    RTF: "an RTF document",
    EMAIL: "an email",
    MSG: "an Outlook message",
}
#: Office files that carry macros: refused by name (and by content when renamed: ``_refuse_macros``).
MACRO_EXTENSIONS = {
    ".docm": ".docx",
    ".dotm": ".docx",
    ".xlsm": ".xlsx",
    ".xltm": ".xlsx",
    ".xlsb": ".xlsx",
    ".pptm": ".pptx",
    ".potm": ".pptx",
    ".ppsm": ".pptx",
}
#: For each zip-based kind: how its refusals name it, and what to save a copy as without macros.
_ZIP_NAMES = {
    DOCX: ("The Word document", ".docx"),
    PPTX: ("The presentation", ".pptx"),
    XLSX: ("The workbook", ".xlsx"),
    ODT: ("The OpenDocument file", ".odt"),
}


def accepted_extensions() -> str:
    """The accepted extensions as an ``accept`` attribute: ".csv,.docx,..."."""
    return ",".join(sorted(EXTENSIONS))


def _unaccepted(name: str) -> str:
    """Why an attachment of this name is not ingested ("" if it would be)."""
    extension = PurePath(name).suffix.lower()
    if extension in EXTENSIONS:
        return ""
    return f"files ending {extension} are not accepted" if extension else "it has no file extension"


# --- Sniffing ----------------------------------------------------------------------------------

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|title)\b", re.I | re.S)


#: Byte order marks of text saved two or four bytes a character (Notepad's "Unicode", PowerShell 5's
#: ``Out-File``, Excel's "Unicode Text"), longest first: UTF-32 LE's mark begins with UTF-16 LE's.
_WIDE_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: Characters no text file holds, other than by accident: control characters that are not whitespace.
_CONTROL = re.compile(r"[\x01-\x08\x0e-\x1f\x7f-\x9f]")


def _wide_text(data: bytes) -> tuple[str, int, str] | None:
    """Text saved as UTF-16 or UTF-32: its codec, the length of its byte order mark and its first
    characters; None for anything else. Known by its mark or, for UTF-16 without one, by nine in ten
    of its first characters being U+0001 to U+00FF (a zero byte beside each). Either way its start
    must read as text: no NUL and hardly any control characters, so a binary file that starts with a
    mark, or with 16-bit numbers below 256, stays binary."""
    for mark, codec in _WIDE_MARKS:
        if data.startswith(mark):
            return _text_start(data, codec, len(mark))
    head = data[:2048]
    if len(data) % 2 or len(head) < 4:
        return None
    for codec, high, low in (("utf-16-le", head[1::2], head[0::2]), ("utf-16-be", head[0::2], head[1::2])):
        narrow = sum(1 for h, lo in zip(high, low, strict=True) if not h and lo)
        if narrow * 10 >= len(head) // 2 * 9:
            return _text_start(data, codec, 0)
    return None


def _text_start(data: bytes, codec: str, mark: int) -> tuple[str, int, str] | None:
    try:  # incremental: a character cut in two at the end of the head is not an error
        start = codecs.getincrementaldecoder(codec)().decode(data[mark : mark + 2048], final=False)
    except UnicodeDecodeError:
        return None
    if "\x00" in start or len(_CONTROL.findall(start)) * 100 > len(start):
        return None
    return codec, mark, start


def _encoding_name(codec: str) -> str:
    return codec[:6].upper()  # "utf-16-le" -> "UTF-16"


def sniff(data: bytes) -> str | None:
    """What the bytes are: pdf, docx, pptx, xlsx, odt, msg, html, rtf, email, text, or None for anything
    else (binary, other zips, other OLE files such as .doc or .xls).

    An .xlsx or .pptx is a zip with the OOXML content types part and its main part; an .odt a zip
    whose ``mimetype`` says so; a .msg an OLE compound file with Outlook's property streams. CSV is
    text (its extension says it is a table). Text saved as UTF-16 or UTF-32 (``_wide_text``) is text
    or a web page."""
    head = data[:2048]
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                if "word/document.xml" in names:
                    return DOCX
                if "[Content_Types].xml" in names and "ppt/presentation.xml" in names:
                    return PPTX
                if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
                    return XLSX
                return ODT if is_odt(archive) else None
        except (zipfile.BadZipFile, OSError, ValueError):
            return DOCX  # a damaged zip: the DOCX reader says so plainly
    if head.startswith(OLE_MAGIC):
        return MSG if is_outlook_message(data) else None
    wide = _wide_text(data)
    if wide:  # never RTF or an email: their readers take the bytes, which only ASCII-based files suit
        return HTML if _HTML_START.match(wide[2].encode("utf-8")) else TEXT
    if b"\x00" in head:
        return None
    if _HTML_START.match(head.lstrip(b"\xef\xbb\xbf")):
        return HTML
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{\\rtf"):
        return RTF
    if looks_like_email(head):
        return EMAIL
    return TEXT


def _zip_damaged(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)):
            return False
    except (zipfile.BadZipFile, OSError, ValueError):
        return True


def stored_copy(data: bytes, limits: ParseLimits | None = None) -> tuple[bytes, tuple[str, ...]]:
    """What to store of an upload: an Office or OpenDocument file with its embedded objects emptied
    (``formats.disarm``), an .eml with its attachments of types never read emptied
    (``formats.mail.strip_unread``), and the names of what was emptied; anything else as it is.
    Raises ``ParseError`` for macros or a zip bomb, so such a file is refused before it is stored."""
    kind = sniff(data)
    if kind == EMAIL:
        return strip_unread(data, _unaccepted)
    if kind == MSG:
        return strip_unread_msg(data, _unaccepted)
    if kind not in _ZIP_NAMES:
        return data, ()
    what, clean = _ZIP_NAMES[kind]
    return disarm(data, clean_extension=clean, what=what, limits=limits or ParseLimits())


def _decode(data: bytes) -> str:
    """The text of a file ``sniff`` found to be text, without NUL characters (they mean nothing in
    text, and the database cannot store them)."""
    return _decoded(data).replace("\x00", "")


def _decoded(data: bytes) -> str:
    wide = _wide_text(data)
    if wide:
        codec, mark, _ = wide
        try:
            return data[mark:].decode(codec)
        except UnicodeDecodeError:
            name = _encoding_name(codec)
            raise ParseError(
                "corrupt",
                f"The file is saved as {name}, but part of it is not {name}: it may be damaged or cut short. "
                "Save it as UTF-8 and upload it again.",
            ) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ParseError(
            "corrupt",
            "The file is not readable text (its character encoding is not recognised). "
            "Save it as UTF-8 and upload it again.",
        )
    return str(best)


def _kind(data: bytes, name: str, *, max_bytes: int | None) -> str:
    """What ``parse`` will read the file as, from its bytes and its name's extension; raises
    ``ParseError`` for an empty file, one larger than ``max_bytes`` (None: not checked), a name not
    accepted, or content that is of no accepted type or not what the name says."""
    if not data:
        raise ParseError("empty", "The file is empty.")
    if max_bytes is not None and len(data) > max_bytes:
        raise ParseError(
            "too_large",
            f"The file is {len(data) / (1024 * 1024):.1f} MB; the most we accept is {max_bytes // (1024 * 1024)} MB.",
        )
    extension = PurePath(name).suffix.lower()
    if extension in MACRO_EXTENSIONS:
        raise ParseError(
            "macros",
            f"Files ending {extension} carry macros, which we never run or keep. Save a copy as "
            f"{MACRO_EXTENSIONS[extension]} (without macros) and upload that.",
        )
    if extension not in EXTENSIONS:
        raise ParseError(
            "unsupported_type",
            f"Files ending {extension or '(no extension)'} are not accepted. Upload {ACCEPTED_FORMATS} files.",
        )
    expected = EXTENSIONS[extension]
    kind = sniff(data)
    if kind == DOCX and expected & _ZIP_NAMES.keys() and DOCX not in expected and _zip_damaged(data):
        kind = next(iter(expected & _ZIP_NAMES.keys()))  # a damaged zip: its own reader says so plainly
    if kind is None:
        if data.startswith(OLE_MAGIC):
            raise ParseError(
                "unsupported_type",
                "The file is an older Office file (.doc, .xls, .ppt) or a password-protected one. "
                "Save a copy as .docx, .xlsx or .pptx without a password and upload that.",
            )
        if expected == {CSV}:
            raise ParseError(
                "type_mismatch",
                "The file is named .csv but its content is not text. If it is a table, save it from your "
                "spreadsheet as “CSV UTF-8” and upload it again.",
            )
        # A text file in an encoding not recognised looks like any other binary file.
        hint = " If it is text, save it as UTF-8 and upload it again." if expected & {TEXT, HTML} else ""
        raise ParseError(
            "unsupported_type",
            "The file's content is not a PDF, Word, OpenDocument, RTF, PowerPoint, Excel, email, web page, "
            f"Markdown or text file.{hint}",
        )
    if kind in (RTF, EMAIL) and TEXT in expected:
        kind = TEXT  # a text file that happens to look like one: read as text, as it always was
    if kind == TEXT and MARKDOWN in expected:
        kind = MARKDOWN if extension in (".md", ".markdown") else TEXT
    if kind in (TEXT, EMAIL) and CSV in expected:
        kind = CSV
    if kind not in expected:
        raise ParseError(
            "type_mismatch",
            f"The file is named {extension} but its content is {FORMAT_NAMES[kind]}. "
            "Check it is the file you meant and rename it to match.",
        )
    return kind


# --- Entry point -------------------------------------------------------------------------------


def parse(
    data: bytes, filename: str, *, limits: ParseLimits | None = None, progress: Progress | None = None
) -> ParsedDocument:
    """Parse ``data`` (the whole file) named ``filename``; raise ``ParseError`` if we will not.

    The kind is taken from the bytes. The name's extension must be one we accept and must agree
    with the bytes: a ``.pdf`` that is really a web page is refused rather than guessed at.
    ``progress(done, total)`` hears of each scanned page read by OCR (a PDF's; nothing else calls it).
    """
    limits = limits or ParseLimits()
    name = PurePath(filename or "").name
    kind = _kind(data, name, max_bytes=limits.max_bytes)
    page_count = None
    metadata: dict = {}
    attachments: list = []
    if kind in _ZIP_NAMES:  # uploads are refused for macros before they are stored; older files here
        refuse_macros(data, _ZIP_NAMES[kind][1])
    if kind == PDF:
        title, text, sections, page_count, metadata = parse_pdf(data, limits, progress)
    elif kind == DOCX:
        title, text, sections = parse_docx(data, limits)
    elif kind == PPTX:
        title, text, sections, slides = parse_pptx(data, limits)
        metadata = {"slides": slides}
    elif kind == XLSX:
        title, text, sections = parse_xlsx(data, limits)
    elif kind == ODT:
        title, text, sections = parse_odt(data, limits)
    elif kind == RTF:
        title, text, sections = parse_rtf(data, limits)
    elif kind == EMAIL:
        title, text, sections, attachments, metadata = parse_eml(data, name, limits, _unaccepted)
    elif kind == MSG:
        title, text, sections, attachments, metadata = parse_msg(data, name, limits, _unaccepted)
    else:
        decoded = _decode(data)
        if len(decoded) > limits.max_text_chars:
            raise ParseError("too_large", "The file holds more text than we accept in one document.")
        if kind == CSV:
            title, text, sections = parse_csv(decoded, limits)
        elif kind == HTML:
            title, text, sections = parse_html(decoded)
        elif kind == MARKDOWN:
            title, text, sections, metadata = parse_markdown(decoded)
        else:
            title, text, sections = parse_text(decoded)
    if len(text) > limits.max_text_chars:
        raise ParseError("too_large", "The file holds more text than we accept in one document.")
    if not text.strip():
        hint = " It may be a scanned image: upload a version with real text." if kind == PDF else ""
        if metadata.get("ocr_pages"):
            hint = " Its scanned pages were read by OCR and no text was recognised: upload a clearer scan."
        raise ParseError("no_text", f"No text could be found in the file.{hint}")
    heading = metadata.pop("title_heading", "")
    if kind in (DOCX, ODT):  # its Title style, or else its first heading, when the file's title is a placeholder
        heading = next((s.heading_path[0] for s in sections if s.heading_path), "")
    title = title_or_filename(title, name, heading=heading)
    return ParsedDocument(
        title=title[:300],
        text=text,
        sections=sections,
        content_type=CONTENT_TYPES[kind],
        page_count=page_count,
        metadata=metadata,
        attachments=attachments,
    )


def title_from_filename(name: str) -> str:
    return _title_from_stem(PurePath(invisible_removed(name)).stem)


def _title_from_stem(stem: str) -> str:
    stem = re.sub(r"^\d+[-_ ]+", "", invisible_removed(stem))
    return squash(re.sub(r"[-_]+", " ", stem)).capitalize() or "Untitled"


# --- Titles ------------------------------------------------------------------------------------

# What tools write as a file's title when nobody gave it one. A document is named after its file
# instead: a browser prints a blank page as "about:blank" and an untitled one as its address, Office
# names new files "Document1", and Word's PDF printer writes "Microsoft Word - report.docx".
_NO_TITLE = re.compile(
    r"(untitled( document)?|no title|title|new document|document|presentation|powerpoint presentation|"
    r"book|workbook|sheet|slide)[\s_-]*\d*",
    re.I,
)
_ADDRESS = re.compile(
    r"(about|data|blob|javascript):.*"  # browsers' own pages
    r"|[a-z][a-z0-9+.-]*://.*"  # http://, https://, file://
    r"|[a-z]:[\\/].*|\\\\.*|/.*|~/.*"  # C:\..., \\server\..., /home/..., ~/...
    r"|www\.\S+"  # an address without its scheme: www.gov.uk, gov.uk/guidance, 127.0.0.1:8000/
    r"|(localhost|(\d{1,3}\.){3}\d{1,3}|([a-z0-9-]+\.)+[a-z]{2,})(:\d+)?/\S*",
    re.I | re.S,
)
_OFFICE_PRINTED = re.compile(
    r"microsoft\s+(office\s+)?(word|powerpoint|excel|publisher|visio|outlook)\s+-\s+(?P<name>.+)", re.I | re.S
)
#: Extensions that make a title just a file name ("report-final.docx").
_FILE_EXTENSIONS = {*EXTENSIONS, *MACRO_EXTENSIONS} | {
    ".doc", ".dot", ".dotx", ".xls", ".ppt", ".pps", ".ppsx", ".odp", ".ods", ".xps", ".ps", ".tex",
    ".pages", ".key", ".numbers", ".indd", ".tmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".gif",
}  # fmt: skip
_FILE_NAME = re.compile(r'[^\\/:*?"<>|]+(?P<extension>\.[a-z0-9]{1,8})', re.I)


def _is_file_name(text: str) -> bool:
    match = _FILE_NAME.fullmatch(text)
    return bool(match) and match["extension"].lower() in _FILE_EXTENSIONS


def _is_placeholder(title: str) -> bool:
    return (
        not re.search(r"\w", title)
        or bool(_NO_TITLE.fullmatch(title) or _ADDRESS.fullmatch(title))
        or _is_file_name(title)
    )


def title_or_filename(title: str, name: str, heading: str = "") -> str:
    """The title a file gives itself, unless it is a placeholder (a browser's "about:blank" or an
    address, a path, "Untitled", Office's "Document1", a bare file name): then the ``heading`` its
    reader found standing as its title, if any, else one made from the file name ``name``.
    "Microsoft Word - report.docx" gives the name inside it, cleaned like a file name. Characters
    nobody can see (``documents.text.INVISIBLE``: a direction override could make it read as another
    title) are taken out of each."""
    title = squash(invisible_removed(title))
    heading = squash(invisible_removed(heading))
    if heading and not _is_placeholder(heading) and (not title or _is_placeholder(title)):
        return heading
    printed = _OFFICE_PRINTED.fullmatch(title)
    if printed:
        inner = printed["name"].strip()
        inner_title = title_from_filename(inner) if _is_file_name(inner) else _title_from_stem(inner)
        if not _is_placeholder(inner_title):
            return inner_title
        title = ""
    if not title or _is_placeholder(title):
        return title_from_filename(name)
    return title


# --- Refusals that trying again cannot change ------------------------------------------------

#: Codes of refusals that come from the bytes and the name alone: the same file fails the same way
#: every time, so only another file can help.
LASTING_CODES = frozenset({"empty", "macros", "unsupported_type", "type_mismatch", "encrypted"})


def lasting_refusal(data: bytes, filename: str) -> ParseError | None:
    """The refusal ``parse`` would make of this file on any attempt (its code in ``LASTING_CODES``): it
    is empty, its name is not accepted, its content is of no accepted type or not what its name says,
    or it is a password-protected PDF. None when reading it again might succeed. Cheap: nothing is
    read beyond what tells what the file is."""
    try:
        kind = _kind(data, PurePath(filename or "").name, max_bytes=None)
        if kind == PDF and _pdf_locked(data):
            raise ParseError("encrypted", "The PDF is password-protected. Upload a copy saved without a password.")
    except ParseError as exc:
        return exc if exc.code in LASTING_CODES else None
    return None


def _pdf_locked(data: bytes) -> bool:
    """Whether the PDF needs a password to open: as ``formats.pdf.parse_pdf`` decides, without reading
    its pages. A damaged PDF is not judged here (False)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if not reader.is_encrypted:
            return False
    except Exception:  # pypdf raises many types for damaged files
        return False
    try:
        return not reader.decrypt("")
    except Exception:  # no key, or a cipher it cannot open: parse_pdf refuses those as password-protected
        return True
