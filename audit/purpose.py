"""Why an auditor is reading: a case reference or reason, asked for before any page that shows what
people asked, and recorded with every reading made for it.

The trail holds people's questions and the answers they were given. Auditors may read them, but a
reading must be for something (a subject-access request, a complaint, a quality review), as the
"legitimate relationship" prompts of NHS records are: so before the first page showing that content,
the auditor says what it is for. The reason is kept in their session for
``HUMPHREY_AUDIT_PURPOSE_HOURS`` (and ends with it at sign-out), recorded when given
(``audit.purpose``) and added as ``purpose`` to every audit event written while serving a page for
it, so "who read this conversation, and why" has an answer in the trail itself.
"""

from __future__ import annotations

import datetime as dt
import functools
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

SESSION_KEY = "audit_purpose"


def current_purpose(request: HttpRequest) -> str | None:
    """The reason the auditor gave, while it is still current; None once it has lapsed."""
    stated = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not isinstance(stated, dict):
        return None
    try:
        given = dt.datetime.fromisoformat(stated["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if timezone.now() - given > dt.timedelta(hours=settings.HUMPHREY_AUDIT_PURPOSE_HOURS):
        return None
    return str(stated.get("reference") or "") or None


def state_purpose(request: HttpRequest, reference: str) -> None:
    request.session[SESSION_KEY] = {"reference": reference, "at": timezone.now().isoformat()}


def purpose_required(view):
    """Send an auditor who has not said why they are reading to say so first, then back here; while
    the view runs, its audit events carry the reason (``audit.context.request_facts``)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        purpose = current_purpose(request)
        if purpose is None and settings.HUMPHREY_AUDIT_REQUIRE_PURPOSE:
            return HttpResponseRedirect(f"{reverse('audit:purpose')}?{urlencode({'next': request.get_full_path()})}")
        request.audit_purpose = purpose or ""
        return view(request, *args, **kwargs)

    return wrapper
