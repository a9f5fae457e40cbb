"""Email: ``.eml`` (the standard library's parser, ``policy.default``) and Outlook ``.msg``
(extract-msg). The message's subject is its heading; its sender, recipients, date and subject are its
first lines; its body is the plain text, or the HTML read as a web page (``markup.parse_html``:
scripts, styles and other active content dropped); then its attachments are listed.

Each attachment of a type we accept is returned (``ParsedDocument.attachments``) to be ingested as a
document of its own, named after the message ("message.eml › rates.xlsx": ``attachment_name``), a
second of the same name as "message.eml › rates (2).xlsx" (``distinct_names``); one we do not
accept is only listed in the message's text, and emptied in the stored message before it is kept
(``strip_unread``). Attachments are capped (``ParseLimits``) and never opened here. Nothing in a
message is run: not its HTML's scripts, not an attachment.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import quopri
import re
from collections.abc import Callable
from pathlib import PurePath

from ..types import Attachment, Section
from .base import Builder, ParseError, ParseLimits, squash
from .markup import parse_html

#: Between a message's file name and its attachment's, in the attachment document's name.
LINK = " › "
#: The longest name a document is stored under (``Document.source_name``).
MAX_NAME = 255


def attachment_name(message_name: str, name: str) -> str:
    """The name an attachment is ingested under: it says which message it came from. A long message
    name is shortened, never the attachment's: two attachments cut to one name would become versions
    of one document."""
    room = MAX_NAME - len(LINK) - len(name)
    if len(message_name) > room:
        message_name = message_name[: max(room - 1, 0)] + "…"
    return f"{message_name}{LINK}{name}"


def distinct_names(names: list[str]) -> list[str]:
    """``names`` with each repeat renamed as a file manager would ("form.pdf", "form (2).pdf"), never
    to a name another attachment has. Each name becomes a document's, so a repeat would otherwise
    replace the first as its new version; the same message always gives the same names, so ingesting
    it again finds the same documents."""
    taken, given = set(names), set()
    distinct = []
    for name in names:
        if name in given:
            stem, suffix = PurePath(name).stem, PurePath(name).suffix
            number = 2
            while f"{stem} ({number}){suffix}" in taken:
                number += 1
            name = f"{stem} ({number}){suffix}"
            taken.add(name)
        given.add(name)
        distinct.append(name)
    return distinct


def _safe_name(name: str, fallback: str) -> str:
    name = PurePath(str(name or "").replace("\\", "/")).name
    name = squash(re.sub(r"[\x00-\x1f\x7f]", "", name))
    return name[:150] or fallback


_HEADER = re.compile(rb"^[!-9;-~]+:")
_EMAIL_KEYS = {b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"received", b"return-path"}


def looks_like_email(head: bytes) -> bool:
    """Whether text starts as an Internet message does: header lines (with folded continuations) up to
    a blank line, among them From and at least one more of the usual ones."""
    names: set[bytes] = set()
    for line in head.lstrip(b"\xef\xbb\xbf").splitlines():
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and names:
            continue
        if not _HEADER.match(line):
            return False
        names.add(line.split(b":", 1)[0].strip().lower())
    return b"from" in names and len(names & _EMAIL_KEYS) >= 2


class _Message:
    """What a message says, however it was stored; written out by ``_build``."""

    def __init__(self) -> None:
        self.subject = ""
        self.headers: list[tuple[str, str]] = []
        self.sent: dt.datetime | None = None
        self.plain = ""
        self.html = ""
        self.attachments: list[tuple[str, bytes | None, str]] = []  # (name, data or None, why not)


def _build(
    message: _Message, filename: str, limits: ParseLimits, accepted: Callable[[str], str]
) -> tuple[str, str, list[Section], list[Attachment], dict]:
    subject = squash(message.subject) or "(no subject)"
    builder = Builder()
    builder.heading(1, subject)
    builder.paragraph("\n".join(f"{name}: {value}" for name, value in message.headers if value))
    if message.plain.strip():
        for paragraph in re.split(r"\n\s*\n", message.plain.replace("\r\n", "\n")):
            builder.paragraph(paragraph)
    elif message.html.strip():
        _, _, sections = parse_html(message.html)
        for section in sections:
            builder.set_path([(1, subject)] + [(i + 2, h) for i, h in enumerate(section.heading_path)])
            builder.paragraph(section.text)
    found: list[Attachment] = []
    lines: list[str] = []
    names = distinct_names([name for name, _, _ in message.attachments])
    for index, ((name, data, why_not), distinct) in enumerate(zip(message.attachments, names, strict=True)):
        if not why_not and data is not None:
            why_not = (
                accepted(name)  # first: an attachment of a type never read is stored emptied (``strip_unread``)
                or (f"more than {limits.max_attachments} attachments" if len(found) >= limits.max_attachments else "")
                or ("it is empty" if not data else "")
            )
        if why_not:
            lines.append(f"- {name} (not ingested: {why_not})")
        else:
            found.append(Attachment(filename=attachment_name(filename, distinct), data=data))
            lines.append(f"- {name} (ingested as its own document, {attachment_name(filename, distinct)})")
        if index > 10 * limits.max_attachments:
            lines.append("- (more attachments, not listed)")
            break
    if lines:
        builder.heading(2, "Attachments")
        builder.paragraph("\n".join(lines))
    metadata = {"sent": message.sent.isoformat()} if message.sent else {}
    return subject, builder.text(), builder.sections, found, metadata


# --- .eml --------------------------------------------------------------------------------------


def _part_leaves(part, depth: int = 0):
    """The parts that are not containers, in order (a forwarded message is one leaf, not opened)."""
    if depth > 20:
        return
    if part.get_content_maintype() == "multipart":
        for inner in part.iter_parts():
            yield from _part_leaves(inner, depth + 1)
    else:
        yield part


def _transfer_encoding(part) -> str:
    return str(part.get("Content-Transfer-Encoding", "")).strip().lower()


def _encoded(part) -> bool:
    """Whether a forwarded message was sent encoded, as some clients do (the parser then reads the
    encoded text as a message of its own, with no headers)."""
    return _transfer_encoding(part) in ("base64", "quoted-printable")


def _forwarded_bytes(part) -> bytes:
    """A forwarded message's own bytes, decoded if it was sent encoded."""
    from email import policy

    inner = part.get_payload()
    if isinstance(inner, list) and inner and not _encoded(part):
        return inner[0].as_bytes(policy=policy.default)
    text = inner[0].get_payload() if isinstance(inner, list) and inner else inner
    if not isinstance(text, str):
        return b""
    if _transfer_encoding(part) == "base64":
        return base64.b64decode(text.encode("ascii", "ignore"))  # characters outside base64 skipped
    return quopri.decodestring(text.encode("ascii", "ignore"))


#: Forwarded messages inside forwarded messages, deepest kept; deeper is refused as a bomb would be.
MAX_FORWARD_DEPTH = 10


#: Pictures (a signature's logo, a pasted screenshot) are not read, but hold nothing to run: kept, so
#: a message with its pictures is not listed as having had attachments taken out.
_PICTURES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


def _picture(name: str, content_type: str | None = None) -> bool:
    """Whether an attachment is a picture by its name and, where the message says it, its type."""
    return name.lower().endswith(_PICTURES) and (content_type is None or content_type.startswith("image/"))


def strip_unread(data: bytes, accepted: Callable[[str], str]) -> tuple[bytes, tuple[str, ...]]:
    """An .eml as it is kept: each attachment of a type never read (``accepted`` gives the reason,
    "" for a type we read), other than a picture, emptied, a forwarded message's too, and any unnamed
    part that is neither text, an image nor a message. An emptied attachment keeps its name and type,
    so the message still lists it. Returns the bytes (the upload's own when nothing was emptied) and
    the names emptied. Raises ``ParseError`` for a message that cannot be written back: refused
    rather than kept whole."""
    from email import policy
    from email.parser import BytesParser

    try:
        email = BytesParser(policy=policy.default).parsebytes(data)
        emptied = _strip_parts(email, accepted)
        if not emptied:
            return data, ()
        return email.as_bytes(policy=policy.default), tuple(emptied)
    except ParseError:
        raise
    except Exception:  # the parser is lenient: what is left cannot be written back safely
        raise ParseError("corrupt", "The email could not be read: it looks damaged.") from None


def _strip_parts(message, accepted: Callable[[str], str], depth: int = 0) -> list[str]:
    """``strip_unread``'s work on a parsed message, in place; the names emptied."""
    from email import policy
    from email.parser import BytesParser

    if depth > MAX_FORWARD_DEPTH:
        raise ParseError("bomb", f"The email holds forwarded messages more than {MAX_FORWARD_DEPTH} deep.")
    emptied: list[str] = []
    for part in _part_leaves(message):
        name = part.get_filename()
        if part.get_content_type() == "message/rfc822":
            if not _encoded(part):
                inner = part.get_payload()
                emptied += _strip_parts(inner[0], accepted, depth + 1) if isinstance(inner, list) and inner else []
                continue
            inner = BytesParser(policy=policy.default).parsebytes(_forwarded_bytes(part))
            found = _strip_parts(inner, accepted, depth + 1)
            if found:  # written back encoded, as it came
                del part["Content-Transfer-Encoding"]
                part["Content-Transfer-Encoding"] = "base64"
                part.set_payload(base64.encodebytes(inner.as_bytes(policy=policy.default)).decode("ascii"))
                emptied += found
            continue
        if name:
            name = _safe_name(name, "attachment")
            keep = not accepted(name) or _picture(name, part.get_content_type())
        else:
            keep = part.get_content_maintype() in ("text", "image")
        if keep or not part.get_payload():
            continue
        del part["Content-Transfer-Encoding"]
        part.set_payload("")
        emptied.append(name or f"unnamed {part.get_content_type()} part")
    return emptied


def _text_of(part) -> str:
    try:
        return str(part.get_content())
    except (LookupError, ValueError, AssertionError, UnicodeError):  # unknown charset, damaged encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def parse_eml(
    data: bytes, filename: str, limits: ParseLimits, accepted: Callable[[str], str]
) -> tuple[str, str, list[Section], list[Attachment], dict]:
    from email import policy
    from email.parser import BytesParser

    try:
        email = BytesParser(policy=policy.default).parsebytes(data)
        result = _Message()
        result.subject = str(email.get("subject", "") or "")
        for name in ("From", "To", "Cc", "Date", "Subject"):
            value = email.get(name)
            result.headers.append((name, squash(str(value)) if value is not None else ""))
            if name == "Date" and value is not None:
                result.sent = getattr(value, "datetime", None)
        body = email.get_body(preferencelist=("plain", "html"))
        if body is not None:
            if body.get_content_subtype() == "html":
                result.html = _text_of(body)
            else:
                result.plain = _text_of(body)
        for number, part in enumerate(_part_leaves(email), start=1):
            if part is body:
                continue
            is_message = part.get_content_type() == "message/rfc822"
            if not (part.get_filename() or part.get_content_disposition() == "attachment" or is_message):
                continue  # the body's other alternative, an unnamed inline image
            if is_message:
                name = _safe_name(part.get_filename() or "", f"attached-message-{number}.eml")
                content = _forwarded_bytes(part)
            else:
                name = _safe_name(part.get_filename() or "", f"attachment-{number}")
                content = part.get_payload(decode=True) or b""
            if is_message and not name.lower().endswith(".eml"):
                name += ".eml"
            result.attachments.append((name, content, ""))
    except ParseError:
        raise
    except Exception:  # the parser is lenient; what is left is a message too damaged to read
        raise ParseError("corrupt", "The email could not be read: it looks damaged.") from None
    return _build(result, filename, limits, accepted)


# --- .msg --------------------------------------------------------------------------------------


def is_outlook_message(data: bytes) -> bool:
    """Whether an OLE compound file is an Outlook message (it has the message property streams)."""
    import olefile

    try:
        ole = olefile.OleFileIO(data)
    except Exception:
        return False
    try:
        return ole.exists("__properties_version1.0") and any(
            entry[0].startswith("__substg1.0_") for entry in ole.listdir(streams=True, storages=False)
        )
    except Exception:
        return False
    finally:
        ole.close()


def parse_msg(
    data: bytes, filename: str, limits: ParseLimits, accepted: Callable[[str], str]
) -> tuple[str, str, list[Section], list[Attachment], dict]:
    import extract_msg

    try:
        # An attachment extract-msg cannot read (an embedded OLE object, as Outlook makes of a picture
        # in a rich-text message) is listed as not a file, instead of failing the whole message.
        behaviour = extract_msg.enums.ErrorBehavior.ATTACH_SUPPRESS_ALL
        message = extract_msg.openMsg(data, strict=False, delayAttachments=False, errorBehavior=behaviour)
    except Exception:
        raise ParseError("corrupt", "The Outlook message could not be read: it looks damaged.") from None
    try:
        result = _Message()
        result.subject = str(getattr(message, "subject", "") or "")
        sent = getattr(message, "date", None)  # when it was sent (a property), else its Date header
        if not isinstance(sent, dt.datetime):
            sent = _header_date(getattr(message, "header", None))
        result.sent = sent
        result.headers = [
            ("From", squash(str(getattr(message, "sender", "") or ""))),
            ("To", squash(str(getattr(message, "to", "") or ""))),
            ("Cc", squash(str(getattr(message, "cc", "") or ""))),
            ("Date", result.sent.strftime("%a, %d %b %Y %H:%M:%S %z").strip() if result.sent else ""),
            ("Subject", squash(result.subject)),
        ]
        result.plain = str(getattr(message, "body", "") or "")
        if not result.plain.strip():
            html = getattr(message, "htmlBody", None) or b""
            result.html = html.decode("utf-8", errors="replace") if isinstance(html, bytes) else str(html)
        for number, attachment in enumerate(getattr(message, "attachments", []) or [], start=1):
            result.attachments.append(_msg_attachment(attachment, number))
    except ParseError:
        raise
    except Exception:
        raise ParseError("corrupt", "The Outlook message could not be read: it looks damaged.") from None
    finally:
        message.close()
    if not result.subject and not result.plain and not result.html and not result.attachments:
        raise ParseError("unsupported_type", "The Outlook file is not an email message (it has no subject or body).")
    return _build(result, filename, limits, accepted)


_ATTACHMENT = "__attach_version1.0_#"
_ATTACHED_DATA = "__substg1.0_37010102"  # PR_ATTACH_DATA_BIN: an attachment's bytes
_ATTACHED_STORAGE = "__substg1.0_3701000D"  # PR_ATTACH_DATA_OBJ: an attached message or OLE object
#: Where an attachment's name is, best first: its long file name, short file name, display name
#: (Unicode, then 8-bit).
_NAME_STREAMS = tuple(f"__substg1.0_{tag}{kind}" for tag in ("3707", "3704", "3001") for kind in ("001F", "001E"))


def _msg_name(ole, storage: tuple[str, ...]) -> str:
    for stream in _NAME_STREAMS:
        if ole.exists("/".join([*storage, stream])):
            raw = ole.openstream("/".join([*storage, stream])).read(1024)
            text = raw.decode("utf-16-le" if stream.endswith("1F") else "cp1252", errors="replace")
            if text.strip("\x00 "):
                return text.strip("\x00 ")
    return ""


def strip_unread_msg(data: bytes, accepted: Callable[[str], str]) -> tuple[bytes, tuple[str, ...]]:
    """An Outlook .msg as it is kept: what ``strip_unread`` does for an .eml. An OLE compound file
    cannot grow or shrink its streams here, so each attachment of a type never read (other than a
    picture) has its bytes overwritten with zeros (olefile writes a stream in place, at its size), an
    attached message's own attachments too, and an embedded OLE object every stream of it; names,
    bodies and attachments we read are untouched. Returns the bytes and the names emptied; raises
    ``ParseError`` for a file that cannot be written back."""
    import olefile

    try:
        buffer = io.BytesIO(bytearray(data))
        ole = olefile.OleFileIO(buffer, write_mode=True)
        try:
            emptied: list[str] = []
            paths = {tuple(path) for path in ole.listdir(streams=True, storages=True)}
            objects: dict[tuple, list[tuple]] = {}  # an attachment's object storage -> the streams under it
            for path in paths:
                for depth, entry in enumerate(path[:-1]):
                    if entry == _ATTACHED_STORAGE:
                        objects.setdefault(path[: depth + 1], []).append(path)
            storages = sorted(path for path in paths if path[-1].startswith(_ATTACHMENT))
            for number, storage in enumerate(storages, start=1):
                held = (*storage, _ATTACHED_STORAGE)
                if (*storage, _ATTACHED_DATA) in paths:
                    name = _safe_name(_msg_name(ole, storage), f"attachment-{number}")
                    if accepted(name) and not _picture(name):
                        emptied += _zeroed(ole, [(*storage, _ATTACHED_DATA)], name)
                elif held in paths and (*held, "__properties_version1.0") not in paths:  # an OLE object
                    name = _safe_name(_msg_name(ole, storage), f"embedded object {number}")
                    emptied += _zeroed(ole, objects.get(held, []), name)
        finally:
            ole.close()
    except Exception:
        raise ParseError("corrupt", "The Outlook message could not be read: it looks damaged.") from None
    return (buffer.getvalue(), tuple(emptied)) if emptied else (data, ())


def _zeroed(ole, paths: list[tuple[str, ...]], name: str) -> list[str]:
    """``name`` once if any of the streams at ``paths`` held anything, after overwriting them with zeros."""
    import olefile

    wrote = False
    for path in paths:
        if ole.get_type("/".join(path)) != olefile.STGTY_STREAM:
            continue
        size = ole.get_size("/".join(path))
        if size and ole.openstream("/".join(path)).read().strip(b"\x00"):
            ole.write_stream("/".join(path), bytes(size))
            wrote = True
    return [name] if wrote else []


def _header_date(header) -> dt.datetime | None:
    from email.utils import parsedate_to_datetime

    try:
        value = header.get("Date") if header is not None else None
        return parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def _msg_attachment(attachment, number: int) -> tuple[str, bytes | None, str]:
    # Its own name (long file name, else short; an attached message's display name), else its display name,
    # else ours. Not extract-msg's ``getFilename``: for a file with no name it makes up a random one,
    # which changed the message's text each time it was read.
    name = ""
    for attribute in ("name", "displayName"):
        try:
            name = getattr(attachment, attribute, "") or ""
        except Exception:
            name = ""
        if name:
            break
    name = _safe_name(str(name), f"attachment-{number}")
    content = getattr(attachment, "data", None)
    if isinstance(content, bytes):
        return name, content, ""
    if content is not None and hasattr(content, "subject"):  # an attached Outlook message
        try:
            from extract_msg.ole_writer import OleWriter

            writer = OleWriter()
            writer.fromMsg(content)
            out = io.BytesIO()
            writer.write(out)
            if not name.lower().endswith(".msg"):
                name += ".msg"
            return name, out.getvalue(), ""
        except Exception:
            return name, None, "an attached Outlook message that could not be copied out"
    return name, None, "a link or embedded object, not a file"
