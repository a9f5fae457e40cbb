"""What could run is never kept: an Office or OpenDocument file's macros refused and its embedded
objects emptied before the file is stored.

Such a file is a zip. Only its text is read, but the original is kept for retries, so what it
carries besides text must not be kept either:

- **macros** (a VBA project in a .docx, .xlsx or .pptx renamed from a macro-enabled file; Basic
  modules or scripts in an .odt) make the file refused, as a macro-enabled extension does: the
  person saves a copy without them;
- **embedded objects** (OLE objects, embedded workbooks and packages, ActiveX controls) are emptied
  in the stored copy. Their parts stay, so the file still opens, but they hold nothing. A deck whose
  chart embeds its data workbook is still read, because the chart's figures are in the slide's own XML.

The checks read only the archive's directory and the first bytes of each part, after the same
zip-bomb checks the readers make (``base.check_zip``). A damaged zip is returned unchanged: its reader
says plainly that it cannot be opened.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from .base import ParseError, ParseLimits, check_zip

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Where OOXML keeps embedded objects and ActiveX controls (lowercased).
_EMBEDDED_DIRS = ("/embeddings/", "/activex/")
#: OpenDocument Basic library files that are only indexes (``Basic/<library>/script-lb.xml``).
_BASIC_INDEXES = ("script-lb.xml", "dialog-lb.xml", "script-lc.xml", "dialog-lc.xml")
#: What reading a damaged, truncated or password-protected part can raise.
_UNREADABLE = (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError, EOFError, zlib.error)


def carries_macros(names: list[str], content_types: bytes = b"") -> bool:
    """Whether a zip with these part names (and OOXML ``[Content_Types].xml``) holds macros."""
    if b"macroenabled" in content_types.lower():
        return True
    for name in names:
        lowered = name.lower()
        if lowered.endswith(("vbaproject.bin", "vbadata.xml")):
            return True
        if name.endswith("/"):
            continue
        if name.startswith("Scripts/"):  # OpenDocument scripts (Python, JavaScript, BeanShell)
            return True
        if name.startswith("Basic/") and name.count("/") >= 2 and name.rsplit("/", 1)[1] not in _BASIC_INDEXES:
            return True  # a Basic module: Basic/<library>/<module>.xml
    return False


def refuse_macros(data: bytes, clean_extension: str) -> None:
    """Raise ``ParseError("macros")`` if the zip ``data`` carries macros; a damaged zip passes (its
    reader says so)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            types = b""
            if "[Content_Types].xml" in names:
                info = archive.getinfo("[Content_Types].xml")
                types = archive.read(info) if info.file_size <= 1024 * 1024 else b""
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError):
        return
    if carries_macros(names, types):
        raise ParseError(
            "macros",
            f"The file contains macros, which we never run or keep. Save a copy as {clean_extension} "
            "(without macros) and upload that.",
        )


def _embedded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    if info.is_dir() or not info.file_size:
        return False
    if any(d in "/" + info.filename.lower() for d in _EMBEDDED_DIRS):
        return True
    try:
        with archive.open(info) as part:
            return part.read(len(OLE_MAGIC)) == OLE_MAGIC
    except _UNREADABLE:
        return False  # encrypted or damaged: the reader refuses the file


def disarm(data: bytes, *, clean_extension: str, what: str, limits: ParseLimits) -> tuple[bytes, tuple[str, ...]]:
    """The bytes to keep for the zip-based file ``data`` and the names of the parts emptied in them.

    Raises ``ParseError`` for macros ("macros") or a zip bomb ("bomb", naming the file as ``what``:
    "The workbook"). ``clean_extension`` is what the person is asked to save a copy as."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return data, ()
    with archive:
        infos = check_zip(data, limits, what)
        refuse_macros(data, clean_extension)
        emptied = [info for info in infos if _embedded(archive, info)]
        if not emptied:
            return data, ()
        names = {info.filename for info in emptied}
        out = io.BytesIO()
        try:
            with zipfile.ZipFile(out, "w") as target:
                for info in infos:  # same order, names and compression: "mimetype" stays first and stored
                    target.writestr(info, b"" if info.filename in names else archive.read(info))
        except _UNREADABLE:
            raise ParseError(
                "corrupt", f"{what} could not be read: it looks damaged or protected by a password."
            ) from None
    return out.getvalue(), tuple(sorted(names))
