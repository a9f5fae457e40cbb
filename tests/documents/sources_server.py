"""A local web server for the synced-source tests: pages, sitemaps and GOV.UK Content API items that
a test sets and changes as it goes, served over a real socket with ETags and conditional requests."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict = field(default_factory=dict)
    endless: bool = False  # a body that never ends
    delay: float = 0.0


class SourceServer:
    """``server.pages["/a"] = Page(...)``; ``server.url("/a")``; ``server.hits["/a"]`` counts full answers."""

    def __init__(self, *, sign_in: tuple[str, str] | None = None) -> None:
        """``sign_in``: (header, value) every request must send, else 401 (an intranet behind a sign-in)."""
        self.pages: dict[str, Page] = {}
        self.hits: dict[str, int] = {}
        self.not_modified: dict[str, int] = {}
        self.sign_in = sign_in
        self.authorization: list[tuple[str, str | None]] = []  # (path, its Authorization header) of each request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server.authorization.append((self.path, self.headers.get("Authorization")))
                if server.sign_in and self.headers.get(server.sign_in[0]) != server.sign_in[1]:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", "Bearer")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                page = server.pages.get(self.path)
                if page is None:
                    self.send_response(404)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                if page.delay:
                    time.sleep(page.delay)
                etag = '"' + hashlib.sha256(page.body).hexdigest()[:16] + '"'
                if page.status == 200 and self.headers.get("If-None-Match") == etag:
                    server.not_modified[self.path] = server.not_modified.get(self.path, 0) + 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                for name, value in page.headers.items():
                    self.send_header(name, value)
                if page.endless:
                    self.end_headers()
                    try:
                        while True:
                            self.wfile.write(b"<p>" + b"more " * 2000 + b"</p>")
                    except OSError:
                        return
                if page.status == 200:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                self.wfile.write(page.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SourceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def html(self, path: str, title: str, *paragraphs: str) -> str:
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        self.pages[path] = Page(
            f"<html><head><title>{title}</title></head><body><header>Site header</header>"
            f"<main><h1>{title}</h1>{body}</main><footer>Footer links</footer></body></html>".encode()
        )
        return self.url(path)

    def sitemap(self, path: str, locs: list[str]) -> str:
        entries = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
        self.pages[path] = Page(
            (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
            ).encode(),
            content_type="application/xml",
        )
        return self.url(path)

    def govuk(self, base_path: str, item: dict) -> None:
        """A GOV.UK Content API item at /api/content<base_path>, in the API's own shape."""
        self.pages[f"/api/content{base_path}"] = Page(
            json.dumps(
                {"base_path": base_path, "locale": "en", "schema_name": item.get("document_type"), **item}
            ).encode(),
            content_type="application/json; charset=utf-8",
        )
