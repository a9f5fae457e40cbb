"""Structured JSON logs that carry a request or answer id, never question or answer text.

``request_id`` is a context variable: the HTTP middleware sets it per request, the chat consumer per
answer (``bind_request_id``), and every log record emitted while it is set carries it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def bind_request_id(value: str | None = None) -> str:
    """Set (or generate) the id that later log records in this context carry; returns it."""
    value = value if value and _SAFE_ID.match(value) else uuid.uuid4().hex
    request_id.set(value)
    return value


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any ``extra=`` fields.

    Callers pass ids, counts and timings as extras; text people wrote never goes into a log call.
    """

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in payload and not key.startswith("_"):
                payload[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class RequestIdMiddleware:
    """Takes X-Request-ID from the proxy when it is a safe token, else makes one; echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = bind_request_id(request.headers.get("X-Request-ID"))
        request.request_id = token
        response = self.get_response(request)
        response["X-Request-ID"] = token
        return response


_EMAIL = re.compile(r"[\w.%+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")


def redact(text: str) -> str:
    """``text`` with URL query strings and email addresses taken out: search text, sign-in names and
    whatever else people type into a query string never reaches a log."""
    return _EMAIL.sub("[email]", _QUERY.sub(r"\1?[query]", text))


class RedactFilter(logging.Filter):
    """Takes query strings and email addresses out of every log message (Django's own request
    warnings included), whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


access_logger = logging.getLogger("humphrey.access")


class AccessLogMiddleware:
    """One structured line per HTTP request: method, path (no query string), status, milliseconds.
    It replaces the ASGI server's access log, which prints the whole URL (run Daphne with
    ``--access-log /dev/null``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        access_logger.info(
            "%s %s %s",
            request.method,
            redact(request.path),
            response.status_code,
            extra={"ms": round((time.perf_counter() - started) * 1000, 1)},
        )
        return response
