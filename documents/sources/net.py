"""Fetching a synced source's pages over HTTP, safely: the one door sources use to the network.

``url_check`` vets an address when a source is added; a ``Fetcher`` (one per sync run) gets pages
with every guard a crawler run from inside a department's network needs: http(s) only, no address
inside the deployment's own network after any redirect or DNS answer (``netguard``), bounded bytes
and time, manual redirects with loop detection, conditional requests, a per-host pace and robots.txt
(RFC 9309). Every failure is a ``FetchError`` with a short ``code`` for the program and a sentence
naming the URL for the curator. docs/sources-network.md has the rules and why.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import httpx
from django.conf import settings
from protego import Protego

from documents.sources import netguard
from documents.sources.credentials import Credential

logger = logging.getLogger("documents.sources")

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: parse at least 500 KiB; what lies beyond is ignored
CRAWL_DELAY_CAP = 60.0  # a Crawl-delay above this is read as this, so one site cannot stall a sync for days
_REDIRECTS = {301, 302, 303, 307, 308}
_CODINGS = {"gzip", "x-gzip", "deflate"}  # zlib's: at most about 1000:1 per 64 KiB read, then the size check


class FetchError(Exception):
    """A source's address could not be fetched; ``message`` says why in one plain sentence naming the
    URL, for the curator.

    ``code``: bad_url, blocked_address, dns, connect, timeout, bad_response, http_status,
    redirect_loop, too_many_redirects, too_large, content_type, robots, credential.
    ``cause``: the technical reason (the library's error, the rule applied), for logs and the audit
    trail; never a query string. ``host``: the host that could not be reached when ``unreachable``
    (no such name, no connection, no answer), so a run can say so once for all its pages.
    """

    def __init__(
        self,
        code: str,
        message: str,
        url: str,
        status: int | None = None,
        *,
        cause: str = "",
        host: str = "",
        unreachable: bool = False,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.url = url
        self.status = status
        self.cause = cause
        self.host = host
        self.unreachable = unreachable


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final address, after redirects
    status: int  # a 2xx, or 304 when the caller's ETag/Last-Modified still hold
    content_type: str  # media type only, lower-cased ("text/html"); "" when the server sent none
    charset: str  # "" if none
    content: bytes  # b"" when not modified
    etag: str
    last_modified: str

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def url_check(url: str) -> str:
    """The address normalised (scheme and host lower-cased, IDNA, no fragment), or FetchError("bad_url").

    No DNS: only what the address itself says. Whether its host may be reached is decided at
    connection time, every time.
    """
    text = (url or "").strip()
    try:
        return _url_normalise(text)
    except ValueError as exc:
        raise FetchError("bad_url", f"{text or 'An empty address'} {exc}.", text) from None


def _url_normalise(text: str) -> str:
    """``text`` normalised, or ValueError saying what is wrong with it ("is not an http or https address")."""
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError):
        raise ValueError("is not a valid web address") from None
    if parsed.scheme not in ("http", "https"):
        raise ValueError("is not an http or https address")
    if parsed.userinfo:
        raise ValueError("contains a user name or password, which sources may not use")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise ValueError("has no host name")
    if netguard.odd_ipv4_literal(host):
        raise ValueError("writes its host as a number; use a name or a dotted address")
    return str(parsed.copy_with(fragment=None))


def _where(url: str | httpx.URL) -> str:
    """Host and path for logs: never the query string, which may carry a token."""
    try:
        u = httpx.URL(str(url))
    except (httpx.InvalidURL, TypeError):
        return "(not a valid address)"
    return f"{u.host}{u.path}"


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _host(url: str) -> str:
    return httpx.URL(url).host


@dataclass
class _Robots:
    parser: Protego | None  # None: no rules, everything allowed
    #: When robots.txt could not be read (RFC 9309 "unreachable", so everything is disallowed): why,
    #: as the FetchError it was (its message names robots.txt's address, its cause the library's words).
    failure: FetchError | None = None


class Fetcher:
    """Gets pages for one sync run; not thread-safe. Arguments left None come from Django settings.

    ``ssl_context``: the certificates trusted (an internal CA for an allowed network); by default
    certifi's public CAs, never SSL_CERT_FILE from the environment.
    """

    def __init__(
        self,
        *,
        allowed_networks: Iterable[str] | None = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
        max_redirects: int | None = None,
        host_interval: float | None = None,
        user_agent: str | None = None,
        obey_robots: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
        credential: Credential | None = None,
    ):
        def pick(value, name):
            return getattr(settings, name) if value is None else value

        self.allowed = netguard.networks_parse(pick(allowed_networks, "HUMPHREY_SOURCE_ALLOWED_NETWORKS"))
        self.timeout = float(pick(timeout, "HUMPHREY_SOURCE_TIMEOUT"))
        self.max_bytes = int(settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024 if max_bytes is None else max_bytes)
        self.max_redirects = int(pick(max_redirects, "HUMPHREY_SOURCE_MAX_REDIRECTS"))
        self.host_interval = float(pick(host_interval, "HUMPHREY_SOURCE_HOST_INTERVAL"))
        self.user_agent = str(pick(user_agent, "HUMPHREY_SOURCE_USER_AGENT"))
        self.obey_robots = obey_robots
        # Sent only to the credential's own origins, whichever hop of a redirect is asked.
        self.credential = credential
        self._secret = credential.value() if credential is not None else ""
        if credential is not None and not self._secret:
            raise FetchError(
                "credential",
                f"The credential “{credential.name}” has no value on this service.",
                "",
                cause=f"{credential.value_env} is not set",
            )
        self._sleep = sleep
        self._clock = clock
        self._last_start: dict[str, float] = {}
        self._interval: dict[str, float] = {}
        self._robots: dict[str, _Robots] = {}
        if ssl_context is None and settings.HUMPHREY_SOURCE_CA_BUNDLE:
            # An intranet's own certificate authority, trusted beside the public ones.
            ssl_context = httpx.create_ssl_context(trust_env=False)
            ssl_context.load_verify_locations(cafile=settings.HUMPHREY_SOURCE_CA_BUNDLE)
        self.backend = netguard.GuardedBackend(self.allowed)
        self._client = httpx.Client(
            transport=netguard.GuardedTransport(self.backend, ssl_context),
            follow_redirects=False,  # each hop is vetted here
            trust_env=False,  # an environment proxy would connect for us, past the address check
            timeout=httpx.Timeout(self.timeout),
            # zlib-based codings only: their expansion per network read is bounded (about 1000:1).
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(
        self, url: str, *, etag: str = "", last_modified: str = "", accept: Iterable[str] | None = None
    ) -> FetchResult:
        """The page at ``url`` (following redirects), or 304 when ``etag``/``last_modified`` still hold."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        wanted = None if accept is None else {a.strip().lower() for a in accept}
        if wanted:
            headers["Accept"] = ", ".join(sorted(wanted)) + ", */*;q=0.1"  # ask for them; still judge what comes
        try:
            return self._get(url, headers, wanted, etag, last_modified)
        except FetchError as exc:
            logger.info("source fetch failed %s: %s: %s", _where(exc.url or url), exc.code, exc.cause or "-")
            raise

    def _get(self, url: str, headers: dict, wanted: set[str] | None, etag: str, last_modified: str) -> FetchResult:
        with self._follow(url_check(url), headers, robots=self.obey_robots) as (final, response):
            if response.status_code == 304:
                if not (etag or last_modified):
                    raise self._status_error(final, response)
                return FetchResult(
                    url=final,
                    status=304,
                    content_type=_media_type(response),
                    charset=response.charset_encoding or "",
                    content=b"",
                    etag=response.headers.get("etag", etag),
                    last_modified=response.headers.get("last-modified", last_modified),
                )
            media = _media_type(response)
            if wanted is not None and media not in wanted:
                shown = media or "no content type"
                expected = " or ".join(sorted(wanted))
                # A long list of media types says nothing to a curator: name what came, not all we read.
                said = f"not {expected}" if len(wanted) <= 2 else "a kind of file Humphrey does not read"
                raise FetchError(
                    "content_type",
                    f"{final} is {shown}, {said}.",
                    final,
                    response.status_code,
                    cause=f"content type {shown}; accepted: {expected}",
                )
            content = self._read(final, response, self.max_bytes)
            logger.info("source fetched %s: %s, %d bytes", _where(final), response.status_code, len(content))
            return FetchResult(
                url=final,
                status=response.status_code,
                content_type=media,
                charset=response.charset_encoding or "",
                content=content,
                etag=response.headers.get("etag", ""),
                last_modified=response.headers.get("last-modified", ""),
            )

    @contextlib.contextmanager
    def _follow(self, url: str, headers: dict, *, robots: bool) -> Iterator[tuple[str, httpx.Response]]:
        """Yields (final address, open response) once redirects end in a 2xx or 304; else FetchError.

        A failure after a redirect names the address asked for as well as the one that failed.
        """
        seen = {url}
        current = url
        try:
            for _hop in range(self.max_redirects + 1):
                self._screen(current)
                if robots:
                    self._robots_check(current)
                with self._exchange(current, headers) as response:
                    status = response.status_code
                    if status in _REDIRECTS:
                        location = response.headers.get("location", "")
                        if not location:
                            raise self._status_error(current, response, " with no address to go to")
                        current = self._redirect_target(current, response.url, location)
                        if current in seen:
                            raise FetchError("redirect_loop", f"{url} redirects in a loop (back to {current}).", url)
                        seen.add(current)
                        continue
                    if 200 <= status < 300 or status == 304:
                        yield current, response
                        return
                    raise self._status_error(current, response)
        except FetchError as exc:
            if current == url or url in exc.message:
                raise
            exc.message = f"{exc.message.rstrip('.')} (redirected from {url})."
            exc.args = (exc.message,)
            exc.url = exc.url or url
            raise
        raise FetchError(
            "too_many_redirects", f"{url} redirects more than {self.max_redirects} times (last to {current}).", url
        )

    def _redirect_target(self, url: str, base: httpx.URL, location: str) -> str:
        try:
            return _url_normalise(str(base.join(location)))
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else "is not a valid web address"
            raise FetchError("bad_url", f"{url} redirects to {location}, which {reason}.", url) from None

    def _screen(self, url: str) -> None:
        """An address written as an IP literal is judged before anything is sent (robots.txt included)."""
        host = httpx.URL(url).raw_host.decode("ascii")
        literal = netguard.ip_literal(host)
        if literal is not None and not netguard.address_allowed(literal, self.allowed):
            raise self._blocked(url, str(literal))

    def _blocked(self, url: str, address: str) -> FetchError:
        return FetchError(
            "blocked_address",
            f"{url} leads to {address}, an address inside a private or reserved network, which sources may not reach.",
            url,
        )

    @contextlib.contextmanager
    def _exchange(self, url: str, headers: dict) -> Iterator[httpx.Response]:
        """One request, in its host's turn and within the time limit; network failures become FetchError."""
        self._wait_turn(httpx.URL(url).host)
        self.backend.deadline = time.monotonic() + self.timeout  # real time: a guard, not a pace
        if self.credential is not None and self.credential.applies_to(url):
            headers = {**headers, self.credential.header: self._secret}
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                yield response
        except netguard.BlockedAddress as exc:
            raise self._blocked(url, exc.address) from None
        except netguard.ResolveError as exc:
            raise FetchError(
                "dns",
                f"Humphrey could not reach {exc.host}: no site of that name could be found, so {url} was not read.",
                url,
                cause=f"DNS look-up of {exc.host} failed: {exc.reason}",
                host=exc.host,
                unreachable=True,
            ) from None
        except httpx.TimeoutException as exc:
            raise FetchError(
                "timeout",
                f"{url} did not answer within {self.timeout:g} seconds.",
                url,
                cause=f"{type(exc).__name__}: {exc}",
                host=_host(url),
                unreachable=True,
            ) from None
        except httpx.ConnectError as exc:
            if "certificate" in str(exc).lower():
                raise FetchError(
                    "connect",
                    f"Humphrey could not connect securely to {_host(url)}: its security certificate could not be "
                    f"checked, so {url} was not read.",
                    url,
                    cause=str(exc),
                ) from None
            raise FetchError(
                "connect",
                f"Humphrey could not reach {_host(url)}, so {url} was not read.",
                url,
                cause=str(exc),
                host=_host(url),
                unreachable=True,
            ) from None
        except (httpx.DecodingError, httpx.RemoteProtocolError, httpx.LocalProtocolError) as exc:
            raise FetchError(
                "bad_response",
                f"{url} sent an answer Humphrey could not read.",
                url,
                cause=f"{type(exc).__name__}: {exc}",
            ) from None
        except httpx.UnsupportedProtocol:
            raise FetchError("bad_url", f"{url} is not an http or https address.", url) from None
        except httpx.TransportError as exc:
            raise FetchError(
                "connect",
                f"{url} could not be read: the connection broke off.",
                url,
                cause=f"{type(exc).__name__}: {exc}",
            ) from None
        finally:
            self.backend.deadline = None

    def _status_error(self, url: str, response: httpx.Response, detail: str = "") -> FetchError:
        status = response.status_code
        message = f"{url} answered {status} {response.reason_phrase}".rstrip() + f"{detail}."
        retry = response.headers.get("retry-after", "")
        if status in (429, 503) and retry:
            unit = " seconds" if retry.isdigit() else ""  # Retry-After is seconds or an HTTP date
            message = f"{message[:-1]}; it asks to retry after {retry}{unit}."
        return FetchError("http_status", message, url, status, cause=f"HTTP {status} {response.reason_phrase}".rstrip())

    def _read(self, url: str, response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
        """The body, streamed and bounded: a declared or actual size over ``limit`` stops the read."""
        codings = [c.strip().lower() for c in response.headers.get_list("content-encoding", split_commas=True)]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or any(c not in _CODINGS for c in codings):
            # Stacked codings multiply (gzip of gzip: a million to one); others we did not ask for.
            raise FetchError(
                "bad_response",
                f"{url} is compressed as {', '.join(codings)}, which is not read.",
                url,
                response.status_code,
            )
        declared = response.headers.get("content-length", "")
        too_large = f"{url} is larger than the {limit:,}-byte limit."
        if declared.isdigit() and int(declared) > limit and not truncate:
            raise FetchError("too_large", too_large, url, response.status_code)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                if truncate:
                    return bytes(body[:limit])
                raise FetchError("too_large", too_large, url, response.status_code)
        return bytes(body)

    def _wait_turn(self, host: str) -> None:
        """At least the host's interval between the starts of two requests to it (robots.txt counts)."""
        interval = self._interval.get(host, self.host_interval)
        last = self._last_start.get(host)
        if last is not None:
            wait = last + interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_start[host] = self._clock()

    def _robots_check(self, url: str) -> None:
        parsed = httpx.URL(url)
        origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        robots = self._robots.get(origin)
        if robots is None:
            robots = self._robots[origin] = self._robots_read(origin)
            delay = robots.parser.crawl_delay(self.user_agent) if robots.parser else None
            if delay:
                self._interval[parsed.host] = max(self.host_interval, min(float(delay), CRAWL_DELAY_CAP))
        if robots.failure is not None:
            raise self._robots_unreachable(url, origin, robots.failure)
        if robots.parser is not None and not robots.parser.can_fetch(url, self.user_agent):
            raise FetchError(
                "robots",
                f"{url} was not read: its site asks services like Humphrey not to read it (in {origin}/robots.txt).",
                url,
                cause=f"disallowed for {self.user_agent} by {origin}/robots.txt",
            )

    def _robots_unreachable(self, url: str, origin: str, failure: FetchError) -> FetchError:
        """Why ``url`` was not fetched when its site's robots.txt could not be read, said in terms of the
        site (the curator never asked for robots.txt); the rule and the library's words go in ``cause``."""
        host = _host(url)
        cause = (
            f"{origin}/robots.txt could not be read ({failure.code}: {failure.cause or failure.status or '-'}), "
            "which counts as disallowing everything (RFC 9309 2.3.1.4)"
        )
        if failure.unreachable:
            message = f"Humphrey could not reach {host}, so {url} was not read."
        elif failure.code == "http_status" and failure.status is not None:
            message = (
                f"{url} was not read: {host} is not working properly at the moment (it answered {failure.status})."
            )
        elif failure.code == "connect" and "certificate" in failure.cause.lower():  # as the page's own would be
            message = (
                f"Humphrey could not connect securely to {host}: its security certificate could not be checked, "
                f"so {url} was not read."
            )
        else:
            message = f"{url} was not read: {host} sent an answer Humphrey could not read."
        return FetchError("robots", message, url, cause=cause, host=host, unreachable=failure.unreachable)

    def _robots_read(self, origin: str) -> _Robots:
        """The site's rules, read under RFC 9309 2.3.1: unavailable (4xx) allows all, unreachable disallows all."""
        address = f"{origin}/robots.txt"
        try:
            with self._follow(address, {}, robots=False) as (final, response):
                if response.status_code == 304:
                    return _Robots(None)
                text = self._read(final, response, ROBOTS_MAX_BYTES, truncate=True).decode("utf-8", "replace")
        except FetchError as exc:
            if exc.code in ("blocked_address", "bad_url"):
                raise  # the site itself is out of bounds: say that, not "robots"
            if exc.code in ("redirect_loop", "too_many_redirects"):
                return _Robots(None)  # RFC 9309 2.3.1.2: may be treated as unavailable
            if exc.code == "http_status" and exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                return _Robots(None)  # 2.3.1.3 unavailable, 401 and 403 included
            logger.info("source robots.txt unreachable %s: %s: %s", _where(address), exc.code, exc.cause or "-")
            return _Robots(None, exc)
        # Protego, not urllib.robotparser: it applies wildcards ("*", "$") and the most specific
        # rule, as RFC 9309 says; the standard library's parser applies neither.
        return _Robots(Protego.parse(text))
