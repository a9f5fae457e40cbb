"""The fetcher tests' HTTP server on 127.0.0.1 (every kind of page a bad source can send), its
fixtures, a fake clock for pacing, and small helpers; used by test_source_net and test_source_netguard."""

from __future__ import annotations

import gzip
import http.server
import threading

import pytest

from documents.sources.net import Fetcher, FetchError

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
