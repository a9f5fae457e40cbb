"""The source fetcher against a real HTTP server on 127.0.0.1: every guard, every error code.

The server is allowed through ``allowed_networks=["127.0.0.0/8", "::1/128"]``; one test shows the
same addresses refused without it. Pacing is checked with a fake clock, never the wall clock.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import ssl
import threading

import httpcore
import pytest

from documents.sources import netguard
from documents.sources.net import Fetcher, FetchError, url_check

LOCAL = ["127.0.0.0/8", "::1/128"]
PAGE = b"<!doctype html><title>Leave</title><p>Annual leave is 25 days.</p>"
ETAG = '"v1"'
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked responses and kept-alive connections, as real servers do

    def log_message(self, *args):  # the test output stays quiet
        pass

    def send(self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8", **headers):
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.server.sent.append(len(body))  # before end_headers sends anything: the client may then be done
        self.end_headers()
        self.wfile.write(body)

    def chunked(self, chunk: bytes, pause: float):
        """An endless chunked body, until the client goes or the test ends."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while not self.server.stop.wait(pause):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def do_GET(self):
        path = self.path
        self.server.log.append((path, dict(self.headers)))  # on arrival, so a test never sees the last one's
        if path == "/robots.txt":
            status, body = self.server.robots
            self.send(status, body, "text/plain")
        elif path in ("/page", "/private/page"):
            self.send(200, PAGE)
        elif path == "/cached":
            if self.headers.get("If-None-Match") == ETAG:
                self.send(304, ETag=ETAG, Last_Modified=LAST_MODIFIED)
            else:
                self.send(200, PAGE, ETag=ETAG, Last_Modified=LAST_MODIFIED)
        elif path == "/missing":
            self.send(404, b"gone")
        elif path == "/broken":
            self.send(500, b"oops")
        elif path == "/busy":
            self.send(503, b"busy", Retry_After="120")
        elif path == "/slow":
            self.server.stop.wait(10)
            self.send(200, PAGE)
        elif path == "/drip":
            self.chunked(b"x", 0.02)
        elif path == "/endless":
            self.chunked(b"x" * 8192, 0)
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            self.close_connection = True
        elif path == "/gzip":
            self.send(200, gzip.compress(PAGE), Content_Encoding="gzip")
        elif path == "/bomb":
            self.send(200, gzip.compress(b"\0" * 5_000_000), Content_Encoding="gzip")
        elif path == "/gzip-gzip":
            self.send(200, gzip.compress(gzip.compress(PAGE)), Content_Encoding="gzip, gzip")
        elif path == "/json":
            self.send(200, b"{}", "application/json")
        elif path == "/loop/a":
            self.send(302, Location="/loop/b")
        elif path == "/loop/b":
            self.send(302, Location=f"http://127.0.0.1:{self.server.server_port}/loop/a")
        elif path.startswith("/hops/"):
            self.send(302, Location=f"/hops/{int(path.rsplit('/', 1)[1]) + 1}")
        elif path == "/moved":
            self.send(301, Location="/page#top")
        elif path == "/to-metadata":
            self.send(302, Location="http://169.254.169.254/latest/meta-data/")
        elif path == "/to-private":
            self.send(302, Location="http://10.1.2.3/")
        elif path == "/to-file":
            self.send(302, Location="file:///etc/passwd")
        else:
            self.send(404, b"")


class Server(http.server.ThreadingHTTPServer):
    block_on_close = False  # slow handlers are released by ``stop``, not waited for

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.stop = threading.Event()
        self.reset()

    def handle_error(self, request, client_address):
        pass  # a client that stops reading (too_large, timeout) is the point of several tests

    def reset(self):
        self.log: list[tuple[str, dict]] = []
        self.sent: list[int] = []
        self.robots: tuple[int, bytes] = (404, b"")

    def paths(self) -> list[str]:
        return [entry[0] for entry in self.log]


@pytest.fixture(scope="module")
def _server():
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(_server) -> Server:
    _server.reset()
    return _server


@pytest.fixture
def base(server) -> str:
    return f"http://127.0.0.1:{server.server_port}"


class FakeTime:
    """A clock that moves only when slept on, and the sleeps asked for."""

    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def fetcher(**overrides) -> Fetcher:
    options = dict(
        allowed_networks=LOCAL,
        timeout=5.0,
        max_bytes=1_000_000,
        max_redirects=5,
        host_interval=0.0,
        user_agent="Humphrey-test/1.0",
        obey_robots=False,
    )
    options.update(overrides)
    return Fetcher(**options)


def fails(code: str, fetch: Fetcher, url: str, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch.get(url, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_an_html_page_comes_back_with_its_type_and_charset(base):
    with fetcher() as fetch:
        result = fetch.get(f"{base}/page", accept={"text/html"})
    assert (result.status, result.content, result.not_modified) == (200, PAGE, False)
    assert (result.content_type, result.charset, result.url) == ("text/html", "utf-8", f"{base}/page")


def test_a_conditional_request_gets_304_and_no_body(base, server):
    with fetcher() as fetch:
        first = fetch.get(f"{base}/cached")
        again = fetch.get(f"{base}/cached", etag=first.etag, last_modified=first.last_modified)
    assert (first.etag, first.last_modified) == (ETAG, LAST_MODIFIED)
    assert again.not_modified and again.status == 304 and again.content == b""
    assert (again.etag, again.last_modified) == (ETAG, LAST_MODIFIED)
    ((_, headers),) = server.log[1:]
    assert headers["If-None-Match"] == ETAG and headers["If-Modified-Since"] == LAST_MODIFIED
    assert server.sent == [len(PAGE), 0]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [("/missing", 404, "answered 404 Not Found."), ("/broken", 500, "answered 500 Internal Server Error.")],
)
def test_an_error_status_is_named(base, path, status, words):
    with fetcher() as fetch:
        error = fails("http_status", fetch, f"{base}{path}")
    assert error.status == status and error.message == f"{base}{path} {words}"


def test_503_mentions_retry_after(base):
    with fetcher() as fetch:
        error = fails("http_status", fetch, f"{base}/busy")
    assert "retry after 120 seconds" in error.message


def test_a_server_that_does_not_answer_times_out(base):
    with fetcher(timeout=0.3) as fetch:
        error = fails("timeout", fetch, f"{base}/slow")
    assert "0.3 seconds" in error.message


def test_a_slow_drip_is_stopped_by_the_total_deadline(base):
    """Each byte arrives well within the per-read timeout; only the request's deadline ends it."""
    with fetcher(timeout=1.0) as fetch:
        fails("timeout", fetch, f"{base}/drip")


def test_redirects_are_followed_and_the_fragment_dropped(base):
    with fetcher() as fetch:
        result = fetch.get(f"{base}/moved")
    assert result.url == f"{base}/page" and result.content == PAGE


def test_a_failure_after_a_redirect_names_both_addresses(base):
    with fetcher() as fetch:
        error = fails("content_type", fetch, f"{base}/moved", accept={"application/pdf"})
    assert error.message == f"{base}/page is text/html, not application/pdf (redirected from {base}/moved)."


def test_a_redirect_loop_is_named(base):
    with fetcher() as fetch:
        error = fails("redirect_loop", fetch, f"{base}/loop/a")
    assert f"{base}/loop/a" in error.message


def test_too_many_redirects(base, server):
    with fetcher(max_redirects=3) as fetch:
        fails("too_many_redirects", fetch, f"{base}/hops/0")
    assert server.paths() == ["/hops/0", "/hops/1", "/hops/2", "/hops/3"]


@pytest.mark.parametrize(("path", "address"), [("/to-metadata", "169.254.169.254"), ("/to-private", "10.1.2.3")])
def test_a_redirect_into_a_private_network_is_refused_before_connecting(base, path, address):
    with fetcher(obey_robots=True) as fetch:
        error = fails("blocked_address", fetch, f"{base}{path}")
        assert address in error.message and f"(redirected from {base}{path})" in error.message
        assert set(fetch.backend.connected) == {"127.0.0.1"}


def test_a_redirect_to_another_scheme_is_refused(base):
    with fetcher() as fetch:
        error = fails("bad_url", fetch, f"{base}/to-file")
    assert error.message == f"{base}/to-file redirects to file:///etc/passwd, which is not an http or https address."


def test_a_type_not_accepted_is_refused_naming_both(base, server):
    with fetcher() as fetch:
        error = fails("content_type", fetch, f"{base}/json", accept={"text/html"})
        assert fetch.get(f"{base}/json", accept=["application/json"]).content == b"{}"
    assert server.log[-1][1]["Accept"] == "application/json, */*;q=0.1"
    assert "application/json" in error.message and "text/html" in error.message


def test_an_endless_chunked_body_is_cut_off(base):
    with fetcher(max_bytes=100_000) as fetch:
        error = fails("too_large", fetch, f"{base}/endless")
    assert "100,000" in error.message


def test_compressed_pages_are_decoded_and_bounded_after_decoding(base):
    with fetcher(max_bytes=100_000) as fetch:
        assert fetch.get(f"{base}/gzip").content == PAGE
        fails("too_large", fetch, f"{base}/bomb")  # 5 MB of zeros in about 5 KB
        error = fails("bad_response", fetch, f"{base}/gzip-gzip")
    assert "gzip, gzip" in error.message


def test_a_declared_length_over_the_limit_is_refused_unread(base):
    with fetcher(max_bytes=100_000) as fetch:
        fails("too_large", fetch, f"{base}/huge")


def test_robots_disallowing_a_path_is_obeyed_and_read_once(base, server):
    server.robots = (200, b"User-agent: *\nDisallow: /private/\n")
    with fetcher(obey_robots=True) as fetch:
        error = fails("robots", fetch, f"{base}/private/page")
        assert fetch.get(f"{base}/page").content == PAGE
    assert "robots.txt" in error.message
    assert server.paths() == ["/robots.txt", "/page"]


def test_robots_wildcards_and_the_most_specific_rule_apply(base, server):
    """RFC 9309's matching: "*" and "$" in a path, and the longest matching rule wins over an earlier one."""
    server.robots = (200, b"User-agent: *\nDisallow: /*page$\nAllow: /private/page\nCrawl-delay: 0\n")
    with fetcher(obey_robots=True) as fetch:
        error = fails("robots", fetch, f"{base}/page")
        assert fetch.get(f"{base}/private/page").content == PAGE
    assert "robots.txt" in error.message
    assert server.paths() == ["/robots.txt", "/private/page"]


@pytest.mark.parametrize("status", [404, 410, 401, 403])
def test_robots_unavailable_allows_everything(base, server, status):
    """RFC 9309 2.3.1.3: any 4xx (401 and 403 included) means no rules."""
    server.robots = (status, b"")
    with fetcher(obey_robots=True) as fetch:
        assert fetch.get(f"{base}/private/page").content == PAGE


@pytest.mark.parametrize("status", [500, 503, 429])
def test_robots_unreachable_disallows_everything(base, server, status):
    """RFC 9309 2.3.1.4: a server error reading robots.txt means complete disallow (429 read as one)."""
    server.robots = (status, b"")
    with fetcher(obey_robots=True) as fetch:
        error = fails("robots", fetch, f"{base}/page")
    assert "disallowing everything" in error.message
    assert server.paths() == ["/robots.txt"]


def test_robots_beyond_500_kib_is_ignored(base, server):
    allows = b"".join(b"Allow: /pad%06d\n" % i for i in range(40_000))  # about 600 KiB
    server.robots = (200, b"User-agent: *\n" + allows + b"Disallow: /\n")
    with fetcher(obey_robots=True, max_bytes=10_000_000) as fetch:
        assert fetch.get(f"{base}/page").content == PAGE


def test_requests_to_one_host_are_paced_and_robots_counts(base):
    fake = FakeTime()
    with fetcher(obey_robots=True, host_interval=1.0, clock=fake.clock, sleep=fake.sleep) as fetch:
        fetch.get(f"{base}/page")  # robots.txt at 100.0, the page waits until 101.0
        fetch.get(f"{base}/page")
    assert fake.sleeps == [1.0, 1.0]


def test_different_hosts_are_not_paced_against_each_other(server):
    fake = FakeTime()
    with fetcher(host_interval=1.0, clock=fake.clock, sleep=fake.sleep) as fetch:
        fetch.get(f"http://127.0.0.1:{server.server_port}/page")
        fetch.get(f"http://localhost:{server.server_port}/page")
    assert fake.sleeps == []


def test_crawl_delay_wins_when_longer(base, server):
    server.robots = (200, b"User-agent: Humphrey-test\nCrawl-delay: 5\nDisallow: /private/\n")
    fake = FakeTime()
    with fetcher(obey_robots=True, host_interval=1.0, clock=fake.clock, sleep=fake.sleep) as fetch:
        fetch.get(f"{base}/page")
    assert fake.sleeps == [5.0]


def test_without_allowed_networks_local_addresses_are_blocked(server, monkeypatch):
    port = server.server_port
    with fetcher(allowed_networks=[]) as fetch:
        for host in (
            "127.0.0.1",
            "localhost",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "0.0.0.0",  # noqa: S104 - an address refused, not bound
            "100.64.0.1",
            "169.254.169.254",
            "[fd00::1]",
            "10.0.0.1",
            "192.168.1.1",
            "[fe80::1]",
        ):
            fails("blocked_address", fetch, f"http://{host}:{port}/page")
        for host in ("2130706433", "0x7f000001", "0177.0.0.1", "127.1"):
            fails("bad_url", fetch, f"http://{host}:{port}/page")
        assert fetch.backend.connected == []
    assert server.log == []


def test_numeric_hosts_are_blocked_by_the_backend_too():
    """Were url_check skipped, the resolver's answer for 2130706433 is still 127.0.0.1, and refused."""
    backend = netguard.GuardedBackend(())
    with pytest.raises(netguard.BlockedAddress):
        backend.resolve("2130706433", 80)


def answers(*addresses):
    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return getaddrinfo


def test_a_name_with_one_private_answer_is_blocked(monkeypatch):
    monkeypatch.setattr(netguard, "getaddrinfo", answers("93.184.216.34", "10.0.0.7"))
    with fetcher(allowed_networks=[]) as fetch:
        error = fails("blocked_address", fetch, "http://mixed.example/")
        assert fetch.backend.connected == []
    assert "10.0.0.7" in error.message


def test_a_name_that_does_not_resolve(monkeypatch):
    def nowhere(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(netguard, "getaddrinfo", nowhere)
    with fetcher() as fetch:
        error = fails("dns", fetch, "http://nowhere.example/")
    assert "nowhere.example" in error.message


def test_tls_connects_to_the_vetted_address_and_verifies_the_name(monkeypatch):
    """The socket goes to the address that was checked; the certificate is checked against the name."""
    monkeypatch.setattr(netguard, "getaddrinfo", answers("93.184.216.34"))
    seen = {}

    class Stream(httpcore.NetworkStream):
        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            seen["server_hostname"] = server_hostname
            raise httpcore.ConnectError("stopped here by the test")

        def close(self):
            pass

    class Inner:
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            seen["connect"] = (host, port)
            return Stream()

    with fetcher(allowed_networks=[]) as fetch:
        fetch.backend._inner = Inner()
        fails("connect", fetch, "https://guidance.example/page")
    assert seen == {"connect": ("93.184.216.34", 443), "server_hostname": "guidance.example"}


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The same handler over TLS, with a self-signed certificate for the name ``localhost`` only."""
    import datetime

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.cafile = str(folder / "cert.pem")
    yield server, ssl.create_default_context(cafile=server.cafile)
    server.stop.set()
    server.shutdown()
    server.server_close()


def test_https_verifies_the_certificate_against_the_name(tls_server):
    server, trusted = tls_server
    port = server.server_port
    with fetcher(ssl_context=trusted) as fetch:
        assert fetch.get(f"https://localhost:{port}/page").content == PAGE
        assert set(fetch.backend.connected) <= {"127.0.0.1", "::1"}
        error = fails("connect", fetch, f"https://127.0.0.1:{port}/page")  # the certificate names localhost only
    assert "CERTIFICATE_VERIFY_FAILED" in error.message
    with fetcher() as fetch:  # public CAs only: a self-signed certificate is refused
        fails("connect", fetch, f"https://localhost:{port}/page")


def test_a_ca_bundle_setting_trusts_an_intranets_own_authority(tls_server, settings):
    server, _ = tls_server
    settings.HUMPHREY_SOURCE_CA_BUNDLE = server.cafile
    with fetcher() as fetch:
        assert fetch.get(f"https://localhost:{server.server_port}/page").content == PAGE


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2a00:1450:4009:81f::200e", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104 - an address judged, not bound
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8, as DNS64 answers in an IPv6-only network
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("198.18.0.1", False),
        ("240.0.0.1", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
    ],
)
def test_address_policy(address, allowed):
    assert netguard.address_allowed(address) is allowed


def test_allowed_networks_open_exactly_those_ranges():
    inside = netguard.networks_parse(["10.20.0.0/16", "127.0.0.0/8"])
    assert netguard.address_allowed("10.20.3.4", inside)
    assert netguard.address_allowed("::ffff:127.0.0.1", inside)
    assert not netguard.address_allowed("10.21.0.1", inside)
    assert not netguard.address_allowed("169.254.169.254", inside)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "gopher://example.com/",
        "javascript:alert(1)",
        "http://user:pw@example.com/",
        "http://user@example.com/",
        "http:///path",
        "http://",
        "",
        "example.com/page",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://[::1/",
    ],
)
def test_url_check_refuses(url):
    with pytest.raises(FetchError) as caught:
        url_check(url)
    assert caught.value.code == "bad_url"


def test_url_check_normalises():
    assert url_check("  HTTPS://GOV.UK/Guidance?a=1#part ") == "https://gov.uk/Guidance?a=1"
    assert url_check("http://bücher.example/") == "http://xn--bcher-kva.example/"


def test_defaults_come_from_settings(settings):
    settings.HUMPHREY_SOURCE_TIMEOUT = 7.0
    settings.HUMPHREY_MAX_UPLOAD_MB = 2
    settings.HUMPHREY_SOURCE_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    settings.HUMPHREY_SOURCE_USER_AGENT = "Someone/2"
    with Fetcher() as fetch:
        assert (fetch.timeout, fetch.max_bytes, fetch.user_agent) == (7.0, 2 * 1024 * 1024, "Someone/2")
        assert netguard.address_allowed("10.9.9.9", fetch.allowed)
