"""The request being served, so audit events written deep inside a change (signals) know who and where.

``AuditContextMiddleware`` sets it for every HTTP request; outside a request (commands, tasks,
websocket consumers) it is None and callers pass ``actor`` themselves.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest

current_request: ContextVar[HttpRequest | None] = ContextVar("audit_current_request", default=None)

#: Set by ``manage.py`` for the process's life: which command, run by which operating-system account
#: on which host. An event written by a command (a grant, a role given, a purge) has no signed-in
#: person; this is then the only answer to "who did it".
_command: dict = {}


def note_command(argv: list[str]) -> None:
    """Remember the management command this process runs (its name only: its arguments may hold
    what should not be kept, a password given on the command line)."""
    import getpass
    import socket

    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
        os_user = str(os.getuid()) if hasattr(os, "getuid") else ""
    _command.clear()
    _command.update({"via": "command", "command": (argv[1] if len(argv) > 1 else "")[:64], "os_user": os_user[:64]})
    _command["host"] = socket.gethostname()[:255]


def command_facts() -> dict:
    """The command this process runs, as noted by ``note_command`` ({} in a web or worker process
    started otherwise)."""
    return dict(_command)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def client_ip(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``, which ``humphrey.proxies.TrustedProxyMiddleware`` sets
    from the entries our own proxies added to X-Forwarded-For (never from what a client sent)."""
    return (request.META.get("REMOTE_ADDR") or "")[:64]


def request_facts(request: HttpRequest | None) -> dict:
    """IP address, request id (from a proxy's X-Request-ID, when well-formed) and, on the auditors'
    pages, the reason given for reading (``audit.purpose``) of ``request``."""
    if request is None:
        return {}
    facts = {"ip": client_ip(request)}
    request_id = request.META.get("HTTP_X_REQUEST_ID", "")
    if _REQUEST_ID.match(request_id):
        facts["request_id"] = request_id
    # Why an auditor is reading (audit.purpose), on every event written while serving a page for it.
    facts["purpose"] = getattr(request, "audit_purpose", "")
    return {key: value for key, value in facts.items() if value}


class AuditContextMiddleware:
    """Remembers the current request for audit events written during it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)

    async def __acall__(self, request):
        token = current_request.set(request)
        try:
            return await self.get_response(request)
        finally:
            current_request.reset(token)
