"""Error pages in the GOV.UK style (the start page is the chat page, in ``assistant``)."""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve

from audit.actions import Action
from audit.services import audit_record

logger = logging.getLogger(__name__)

#: Refused requests recorded a minute for one person (or, signed out, one address). Each event takes the
#: chain's lock, which every answer's record waits on: a script hammering a refused page is recorded
#: (the first of them, then that it went on), not allowed to queue everyone's answers behind it.
DENIED_RECORDED_PER_MINUTE = 30


def _minute() -> int:
    return int(time.time() // 60)


def _denied_count(request: HttpRequest, user) -> int:
    """How many refusals this person or address has had this minute, this one included (0: unknown)."""
    who = f"user:{user.pk}" if getattr(user, "is_authenticated", False) else f"ip:{request.META.get('REMOTE_ADDR', '')}"
    key = f"audit-denied:{who}:{_minute()}"
    try:
        cache.add(key, 0, timeout=120)
        return cache.incr(key)
    except Exception:  # no cache to count with: every refusal is recorded
        return 0


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Refused: the page says so, and the trail records who tried what (someone reaching for the audit
    trail or a collection's curation is what an auditor looks for)."""
    user = getattr(request, "user", None)
    count = _denied_count(request, user)
    if count > DENIED_RECORDED_PER_MINUTE + 1:
        logger.warning("refused %s %s: not recorded, over %s this minute", request.method, request.path, count - 1)
        return render(request, "403.html", status=403)
    try:
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=user,
            outcome="refused",
            data={
                "method": request.method,
                "path": request.get_full_path()[:500],
                "reason": str(exception or "")[:200],
                # The last one recorded this minute says the rest are not.
                **({"more_not_recorded": True} if count == DENIED_RECORDED_PER_MINUTE + 1 else {}),
            },
            request=request,
        )
    except DatabaseError:  # the page is still refused when the trail cannot be written
        logger.exception("could not record a refused request for %s", request.path)
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Too many files, or a form too large, among others: said, with what to do, not Django's bare page."""
    return render(request, "400.html", {"max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES}, status=400)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form from a page opened before the person signed in again (signing in renews the token)."""
    return render(request, "403_csrf.html", {"back": _page_before(request.path)}, status=403)


def _page_before(path: str) -> str:
    """The nearest address above ``path`` that is a page (``/curate/c/hr/upload/`` → ``/curate/c/hr/``)."""
    parts = [part for part in path.split("/") if part]
    while parts:
        parts.pop()
        candidate = "/" + "/".join(parts) + ("/" if parts else "")
        try:
            resolve(candidate)
        except Resolver404:
            continue
        return candidate
    return "/"


class MethodNotAllowedPage:
    """An address that only takes a form, opened as a page: typically the one a person is sent back
    to after signing in again, with what they sent lost. Django answers 405 with an empty body; this
    says what happened and leads back to the page the form was on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or request.method not in ("GET", "HEAD") or response.content:
            return response
        page = render(request, "405.html", {"back": _page_before(request.path)}, status=405)
        page["Allow"] = response.get("Allow", "POST")
        return page
