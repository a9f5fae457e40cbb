"""Reading a source: what it lists now, and each page or file it holds.

One reader per kind (``SourceKind``): ``listing`` says which items the source holds on this run (the
addresses given, a sitemap's ``<loc>``s, the GOV.UK paths and the documents a GOV.UK collection
links, a folder's files), raising ``SourceError`` when it cannot say (the run then changes nothing);
``read`` fetches one item, conditionally where it can (web pages and attachments by their ETag or
Last-Modified, GOV.UK Content API items too, with what they list kept from the run that read them;
folder files by size and time), and says whether it is unchanged, new
content, gone (404 or 410, withdrawn on GOV.UK, deleted from the folder) or failed.

Web addresses go through ``documents.sources.net.Fetcher``: http and https only, never the
deployment's own network, robots.txt and a per-host pace respected, sizes bounded.
"""

# Over 500 lines on purpose: one reader per kind of source, each a listing and a read sharing the
# conditional-fetch and failure vocabulary the sync reads back; split by kind, each file would import
# the others' helpers.

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from ..ingest.parse import (
    CONTENT_TYPES,
    CSV,
    DOCX,
    EMAIL,
    EXTENSIONS,
    HTML,
    MARKDOWN,
    MSG,
    ODT,
    PDF,
    PPTX,
    RTF,
    TEXT,
    XLSX,
)
from .models import Source, SourceItem, SourceKind
from .net import Fetcher, FetchError, url_check

# What a web page source may hold, by the media type the server sends: the formats the parser reads
# (its own content types, each with its usual extension), and the other names servers use for some.
_PREFERRED_EXTENSION = {
    PDF: ".pdf", DOCX: ".docx", HTML: ".html", MARKDOWN: ".md", TEXT: ".txt", PPTX: ".pptx",
    XLSX: ".xlsx", CSV: ".csv", ODT: ".odt", RTF: ".rtf", EMAIL: ".eml", MSG: ".msg",
}  # fmt: skip
_WEB_EXTENSIONS = {
    **{CONTENT_TYPES[kind]: ext for kind, ext in _PREFERRED_EXTENSION.items()},
    "application/xhtml+xml": ".html",
    "text/rtf": ".rtf",
}
_SITEMAP_TYPES = {"application/xml", "text/xml", "application/x-xml"}
_JSON_TYPES = {"application/json"}
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class SourceError(Exception):
    """The source as a whole could not be read: the run changes nothing. ``str()`` says why in plain
    words for the curator; ``cause`` keeps the technical reason, for logs and the audit trail."""

    def __init__(self, message: str, *, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause


def fetch_refusal(exc: FetchError) -> SourceError:
    """A fetch that stopped the whole source, as the run reports it: a site that could not be reached
    is said once, in its own words, since then nothing at all was read."""
    cause = f"{exc.code}: {exc.cause}" if exc.cause else exc.code
    if exc.unreachable and exc.host:
        return SourceError(f"Humphrey could not reach {exc.host}, so nothing was read.", cause=cause)
    return SourceError(exc.message, cause=cause)


def settled(item: SourceItem) -> bool:
    """Whether ``item`` was read and kept last time and still is: only then may a run ask "has it
    changed?" (a conditional request, a folder file's size and time); any other item is read whole."""
    document = item.document if item.document_id else None
    return document is not None and document.is_active and item.missing_since is None and item.retired_at is None


@dataclass
class _GovukItem:
    """One GOV.UK Content API answer on this run: the item's content, or that it has not changed
    since the last run (HTTP 304), or that it has gone (both None and not unchanged)."""

    content: dict | None
    unchanged: bool = False
    etag: str = ""
    last_modified: str = ""

    @property
    def present(self) -> bool:
        return self.content is not None or self.unchanged


@dataclass
class Read:
    """What reading one item found."""

    state: str  # "unchanged", "content", "gone" or "error"
    data: bytes = b""
    filename: str = ""
    origin_url: str = ""
    etag: str = ""
    last_modified: str = ""
    stamp: str = ""
    detail: str = ""  # why it is gone or failed, for the curator
    cause: str = ""  # the technical reason it failed, for logs and the audit trail
    unreached: str = ""  # the host that could not be reached, when that is why it failed
    extra: dict = field(default_factory=dict)


def _fetch_failed(exc: FetchError) -> Read:
    """An item whose fetch failed (not gone): what the curator reads, and what the service team does."""
    return Read(
        "error",
        detail=exc.message,
        cause=f"{exc.code}: {exc.cause}" if exc.cause else exc.code,
        unreached=exc.host if exc.unreachable else "",
    )


def _lines(source: Source) -> list[str]:
    return [line.strip() for line in source.location.splitlines() if line.strip()]


def web_name(url: str, ext: str) -> str:
    """A stable file name for what an address holds: its host and path, and a short hash when the
    address has a query or is too long to keep whole ("www.gov.uk-guidance-travel.html")."""
    parts = urlsplit(url)
    stem = _UNSAFE_NAME.sub("-", f"{parts.hostname or ''}{parts.path}").strip("-.") or "page"
    if stem.lower().endswith(ext):
        stem = stem[: -len(ext)]
    if parts.query or len(stem) > 150:
        stem = f"{stem[:150]}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"
    return f"{stem}{ext}"


def folder_name(relative: str) -> str:
    """A folder file's name in the collection: its path inside the folder ("policies › travel.pdf")."""
    return " › ".join(Path(relative).parts)[-255:]


def folder_root(location: str) -> Path:
    """The folder, resolved (symbolic links followed), if it lies under ``HUMPHREY_SOURCE_ALLOWED_ROOTS``."""
    roots = [Path(r).resolve() for r in settings.HUMPHREY_SOURCE_ALLOWED_ROOTS]
    if not roots:
        raise SourceError(
            "This service does not read shared folders. Ask your administrator to allow folder sources.",
            cause="HUMPHREY_SOURCE_ALLOWED_ROOTS is empty",
        )
    path = Path(location).expanduser()
    if not path.is_absolute():
        raise SourceError(f"{location} is not an absolute path.")
    resolved = path.resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise SourceError(
            f"{location} is not under a folder sources may read. Ask your administrator which shared folders "
            "this service may read.",
            cause="not under HUMPHREY_SOURCE_ALLOWED_ROOTS",
        )
    return resolved


def location_check(kind: str, location: str) -> str:
    """The location, tidied, or ``SourceError`` saying what is wrong with it (no network is used)."""
    lines = [line.strip() for line in location.splitlines() if line.strip()]
    if not lines:
        raise SourceError("Give an address, a GOV.UK path or a folder.")
    if kind in (SourceKind.FOLDER, SourceKind.SITEMAP) and len(lines) > 1:
        raise SourceError("Give one address or folder (a list of pages is a web pages source).")
    if len(lines) > settings.HUMPHREY_SOURCE_MAX_URLS:
        raise SourceError(f"A source may hold at most {settings.HUMPHREY_SOURCE_MAX_URLS} pages.")
    if kind == SourceKind.FOLDER:
        return str(folder_root(lines[0]))
    if kind == SourceKind.GOVUK:
        return "\n".join(govuk_path(line) for line in lines)
    try:
        return "\n".join(url_check(line) for line in lines)
    except FetchError as exc:
        raise SourceError(exc.message) from None


def govuk_path(value: str) -> str:
    """A GOV.UK path from a path or a www.gov.uk address ("/guidance/x")."""
    parts = urlsplit(value.strip())
    if parts.scheme and parts.hostname not in ("www.gov.uk", "gov.uk"):
        raise SourceError(f"{value} is not a GOV.UK address.")
    path = parts.path if parts.scheme else value.strip().split("?")[0]
    path = "/" + path.strip("/")
    if path == "/" or not re.fullmatch(r"/[A-Za-z0-9/_.-]+", path) or ".." in path:
        raise SourceError(f"{value} is not a GOV.UK path such as /guidance/working-from-home.")
    return path.removeprefix("/api/content")


class Reader:
    """Reads one source's items on one run (one ``Fetcher``, so one pace and one robots.txt per host)."""

    def __init__(self, source: Source, fetcher: Fetcher | None = None) -> None:
        self.source = source
        self.fetcher = fetcher
        self._govuk: dict[str, _GovukItem] = {}
        self._known: dict[str, SourceItem] | None = None

    # --- what the source holds -------------------------------------------------------------
    def listing(self) -> list[str]:
        kind = self.source.kind
        if kind == SourceKind.PAGES:
            keys = _lines(self.source)
        elif kind == SourceKind.SITEMAP:
            keys = self._sitemap(_lines(self.source)[0])
        elif kind == SourceKind.GOVUK:
            keys = self._govuk_listing()
        elif kind == SourceKind.FOLDER:
            keys = self._folder_listing()
        else:
            raise SourceError(f"Unknown kind of source {kind!r}.")
        keys = list(dict.fromkeys(keys))
        if len(keys) > settings.HUMPHREY_SOURCE_MAX_URLS:
            raise SourceError(
                f"The source lists {len(keys)} pages or more; at most {settings.HUMPHREY_SOURCE_MAX_URLS} are "
                "read. Nothing was changed.",
                cause="more than HUMPHREY_SOURCE_MAX_URLS",
            )
        return keys

    def _get(self, url: str, accept, **conditional):
        try:
            return self.fetcher.get(url, accept=accept, **conditional)
        except FetchError as exc:
            if exc.code == "content_type":
                raise SourceError(
                    f"{url} is not a sitemap: it is a web page or another kind of file.", cause=exc.cause
                ) from None
            raise fetch_refusal(exc) from None

    def _sitemap(self, url: str, depth: int = 0) -> list[str]:
        from defusedxml import ElementTree
        from defusedxml.common import DefusedXmlException

        result = self._get(url, _SITEMAP_TYPES)
        try:
            root = ElementTree.fromstring(result.content)
        except (ElementTree.ParseError, DefusedXmlException) as exc:
            raise SourceError(
                f"The sitemap at {url} could not be read: it is not valid XML.", cause=f"{type(exc).__name__}: {exc}"
            ) from None
        limit = settings.HUMPHREY_SOURCE_MAX_URLS
        locs = [(el.text or "").strip() for el in root.iter(f"{_SITEMAP_NS}loc")]
        if root.tag == f"{_SITEMAP_NS}sitemapindex":
            if depth:
                raise SourceError(f"The sitemap index at {url} points to another index; only one level is read.")
            keys: list[str] = []
            for child in locs:
                keys += self._sitemap(self._same_site(url, child), depth + 1)
                if len(keys) > limit:
                    break
            return keys
        if root.tag != f"{_SITEMAP_NS}urlset":
            raise SourceError(f"{url} is not a sitemap (its root element is not <urlset> or <sitemapindex>).")
        return [self._same_site(url, loc) for loc in locs[: limit + 1] if loc]

    @staticmethod
    def _same_site(sitemap: str, loc: str) -> str:
        # The sitemaps protocol: a sitemap may only list addresses on its own host.
        address = urljoin(sitemap, loc)
        if urlsplit(address).hostname != urlsplit(sitemap).hostname:
            raise SourceError(f"The sitemap at {sitemap} lists {address}, on another host; a sitemap lists its own.")
        try:
            return url_check(address)
        except FetchError as exc:
            raise fetch_refusal(exc) from None

    def _govuk_listing(self) -> list[str]:
        keys: list[str] = []
        for path in _lines(self.source):
            keys.append(path)
            try:
                item = self._govuk_fetch(path)
            except FetchError as exc:
                raise fetch_refusal(exc) from None
            if not item.present:
                continue
            # A GOV.UK collection page's documents and a publication's attachments are part of it (one
            # level, not their own links); a manual's sections, and theirs in turn.
            children = self._govuk_children(path, item)
            keys += children["listed"]
            keys += self._govuk_sections(children["sections"], set(keys))
        return keys

    def _govuk_sections(self, paths: list[str], seen: set[str], depth: int = 0) -> list[str]:
        """A manual's sections, and theirs in turn (HMRC manuals nest them), each its own item: a
        manual's own page is a contents list. Bounded like a sitemap: by depth and by how many items
        one source may hold."""
        found: list[str] = []
        for path in paths:
            if path in seen:
                continue
            seen.add(path)
            found.append(path)
            if len(seen) > settings.HUMPHREY_SOURCE_MAX_URLS:
                return found  # listing() refuses the source with a clear error
            if depth < _MAX_SECTION_DEPTH:
                try:
                    section = self._govuk_fetch(path)
                except FetchError as exc:
                    raise fetch_refusal(exc) from None
                if section.present:
                    found += self._govuk_sections(self._govuk_children(path, section)["sections"], seen, depth + 1)
        return found

    def _known_item(self, path: str) -> SourceItem | None:
        if self._known is None:
            items = self.source.items.select_related("document") if self.source.pk else []
            self._known = {item.key: item for item in items}
        return self._known.get(path)

    def _govuk_fetch(self, path: str) -> _GovukItem:
        """The Content API's answer for a path, once a run. Asked conditionally (its ETag or
        Last-Modified from the last run) when that run read and kept it and recorded what it lists,
        since a 304 brings nothing to list its documents or sections from. A failed fetch is a
        ``FetchError`` (the caller says whether it stops the source or one item); an answer that is not
        a content item, a ``SourceError``."""
        if path in self._govuk:
            return self._govuk[path]
        known = self._known_item(path)
        conditional = {}
        if known is not None and settled(known) and "listed" in (known.children or {}):
            conditional = {"etag": known.etag, "last_modified": known.last_modified}
        url = settings.HUMPHREY_GOVUK_CONTENT_API.rstrip("/") + path
        try:
            result = self.fetcher.get(url, accept=_JSON_TYPES, **conditional)
        except FetchError as exc:
            if exc.status in (404, 410):
                self._govuk[path] = _GovukItem(None)
                return self._govuk[path]
            raise
        if result.not_modified:
            self._govuk[path] = _GovukItem(None, True, result.etag, result.last_modified)
            return self._govuk[path]
        try:
            content = json.loads(result.content)
        except ValueError:
            raise SourceError(f"The GOV.UK Content API sent something that is not JSON for {path}.") from None
        if not isinstance(content, dict) or not isinstance(content.get("title"), str):
            raise SourceError(f"The GOV.UK Content API's answer for {path} has no title: not a content item.")
        self._govuk[path] = _GovukItem(content, False, result.etag, result.last_modified)
        return self._govuk[path]

    def _govuk_children(self, path: str, item: _GovukItem) -> dict[str, list[str]]:
        """What a GOV.UK item lists: ``listed`` (a collection's documents, a publication's attachments)
        and ``sections`` (a manual's); unchanged since the last run, what that run recorded."""
        if item.unchanged:
            known = self._known_item(path)
            children = known.children if known is not None else {}
            return {"listed": list(children.get("listed", [])), "sections": list(children.get("sections", []))}
        content = item.content or {}
        listed: list[str] = []
        for linked in (content.get("links") or {}).get("documents") or []:
            base_path = linked.get("base_path") if isinstance(linked, dict) else None
            if isinstance(base_path, str) and base_path.startswith("/"):
                listed.append(base_path)
        return {"listed": listed + govuk_attachments(content), "sections": govuk_sections(content)}

    def _folder_listing(self) -> list[str]:
        root = folder_root(self.source.location.strip())
        if not root.is_dir():
            raise SourceError(f"The folder {root} cannot be found (is the share mounted?). Nothing was changed.")
        keys: list[str] = []
        limit = settings.HUMPHREY_SOURCE_MAX_URLS

        def refuse(exc: OSError) -> None:
            reason = f" ({exc.strerror})" if exc.strerror else ""
            raise SourceError(f"The folder {root} cannot be read{reason}.", cause=f"{type(exc).__name__}: {exc}")

        for directory, dirs, files in os.walk(root, onerror=refuse, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or Path(name).suffix.lower() not in EXTENSIONS:
                    continue
                keys.append(str((Path(directory) / name).relative_to(root)))
                if len(keys) > limit:
                    return keys
        return keys

    # --- one item ----------------------------------------------------------------------------
    def read(self, item: SourceItem, *, force: bool = False) -> Read:
        """Read one item; ``force`` re-reads it whole (no conditional request, no shortcut)."""
        kind = self.source.kind
        if kind == SourceKind.FOLDER:
            return self._read_file(item, force)
        if kind == SourceKind.GOVUK and not item.key.startswith(("http://", "https://")):
            return self._read_govuk(item)
        return self._read_web(item, force)

    def _read_web(self, item: SourceItem, force: bool) -> Read:
        conditional = {} if force else {"etag": item.etag, "last_modified": item.last_modified}
        try:
            result = self.fetcher.get(item.key, accept=set(_WEB_EXTENSIONS), **conditional)
        except FetchError as exc:
            if exc.status in (404, 410):
                return Read("gone", detail=exc.message)
            return _fetch_failed(exc)
        common = {"origin_url": result.url, "etag": result.etag, "last_modified": result.last_modified}
        if result.not_modified:
            return Read("unchanged", **common)
        ext = _WEB_EXTENSIONS[result.content_type]
        return Read("content", data=result.content, filename=web_name(item.key, ext), **common)

    def _read_govuk(self, item: SourceItem) -> Read:
        try:
            found = self._govuk_fetch(item.key)
        except FetchError as exc:
            return _fetch_failed(exc)
        except SourceError as exc:
            return Read("error", detail=str(exc), cause=exc.cause)
        if not found.present:
            return Read("gone", detail=f"{item.key} is no longer on GOV.UK.")
        # What it lists is kept with it, for a later run whose request comes back 304.
        common = {
            "etag": found.etag,
            "last_modified": found.last_modified,
            "extra": {"children": self._govuk_children(item.key, found)},
        }
        if found.unchanged:
            return Read("unchanged", **common)
        content = found.content
        if content.get("withdrawn_notice"):
            return Read("gone", detail=f"{item.key} was withdrawn on GOV.UK.")
        page = govuk_html(content)
        origin = "https://www.gov.uk" + (content.get("base_path") or item.key)
        return Read("content", data=page, filename=web_name(origin, ".html"), origin_url=origin, **common)

    def _read_file(self, item: SourceItem, force: bool) -> Read:
        root = folder_root(self.source.location.strip())
        path = root / item.key
        try:
            resolved = path.resolve()
            if not resolved.is_relative_to(root):
                return Read("error", detail=f"{item.key} points outside the folder; it is not read.")
            if not path.exists():
                return Read("gone", detail=f"{item.key} is no longer in the folder.")
            if not path.is_file():
                return Read("error", detail=f"{item.key} is not a regular file; it is not read.")
            info = path.stat()
            stamp = f"{info.st_size}:{info.st_mtime_ns}"
            if info.st_size > settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024:
                return Read("error", detail=f"{item.key} is larger than {settings.HUMPHREY_MAX_UPLOAD_MB} MB.")
            if stamp == item.stamp and not force:
                return Read("unchanged", stamp=stamp)
            data = path.read_bytes()
        except OSError as exc:
            reason = f" ({exc.strerror})" if exc.strerror else ""
            return Read("error", detail=f"{item.key} cannot be read{reason}.", cause=f"{type(exc).__name__}: {exc}")
        return Read("content", data=data, filename=folder_name(item.key), stamp=stamp)


_MAX_SECTION_DEPTH = 4  # manual -> section -> subsection...: deeper nesting is not followed


def govuk_sections(content: dict) -> list[str]:
    """The GOV.UK paths of a manual's sections (``details.child_section_groups``, as the Content API
    sends manuals, manual sections and HMRC manuals)."""
    details = content.get("details") if isinstance(content.get("details"), dict) else {}
    paths: list[str] = []
    for group in details.get("child_section_groups") or []:
        for section in (group.get("child_sections") or []) if isinstance(group, dict) else []:
            base_path = section.get("base_path") if isinstance(section, dict) else None
            if isinstance(base_path, str) and base_path.startswith("/") and not base_path.startswith("//"):
                paths.append(base_path)
    return paths


def govuk_attachments(content: dict) -> list[str]:
    """A publication's attachments that are guidance in their own right: its HTML publications (GOV.UK
    paths, read from the Content API) and its files in a format we read (their addresses, read as web
    items). Much GOV.UK guidance is published this way, the page itself holding only a summary."""
    details = content.get("details") if isinstance(content.get("details"), dict) else {}
    found: list[str] = []
    for attachment in details.get("attachments") or []:
        if not isinstance(attachment, dict) or not isinstance(attachment.get("url"), str):
            continue
        url = attachment["url"]
        parts = urlsplit(url)
        if attachment.get("attachment_type") == "html" or attachment.get("content_type") == "text/html":
            if parts.hostname in (None, "www.gov.uk") and parts.path.startswith("/"):
                found.append(parts.path)
        elif attachment.get("content_type") in _WEB_EXTENSIONS and parts.scheme in ("http", "https"):
            found.append(url)
    return found


def govuk_html(content: dict) -> bytes:
    """A GOV.UK content item (the Content API's JSON) as one web page: its title, summary, body and,
    for a guide, each part under its own heading. The HTML GOV.UK sends is parsed like any page's
    (scripts and other active content dropped)."""
    details = content.get("details") if isinstance(content.get("details"), dict) else {}
    title = html.escape(str(content.get("title") or ""))
    pieces = [f"<html><head><title>{title}</title></head><body><main><h1>{title}</h1>"]
    if content.get("description"):
        pieces.append(f"<p>{html.escape(str(content['description']))}</p>")
    body = details.get("body")
    if isinstance(body, list):  # some formats send [{"content_type": "text/html", "content": ...}]
        body = next(
            (b.get("content") for b in body if isinstance(b, dict) and b.get("content_type") == "text/html"), ""
        )
    if isinstance(body, str):
        pieces.append(body)
    for part in details.get("parts") or []:
        if isinstance(part, dict) and isinstance(part.get("body"), str):
            pieces.append(f"<h2>{html.escape(str(part.get('title') or ''))}</h2>{part['body']}")
    if content.get("public_updated_at"):
        pieces.append(f"<p>Last updated on GOV.UK: {html.escape(str(content['public_updated_at'])[:10])}</p>")
    pieces.append("</main></body></html>")
    return "".join(pieces).encode("utf-8")
