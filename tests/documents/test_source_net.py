"""The source fetcher against a real HTTP server on 127.0.0.1: every guard, every error code.

The server is allowed through ``allowed_networks=["127.0.0.0/8", "::1/128"]``; one test shows the
same addresses refused without it. Pacing is checked with a fake clock, never the wall clock. Where a
connection may go (the address policy, DNS answers, TLS to the vetted address) is test_source_netguard.
"""

from __future__ import annotations

import threading

import pytest

from tests.documents.source_net_server import ETAG, LAST_MODIFIED, PAGE, FakeTime, Server, fails, fetcher


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
    assert "was not read" in error.message and "disallowing everything" in error.cause
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
