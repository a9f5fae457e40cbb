"""Error pages in the GOV.UK style (the start page is the chat page, in ``assistant``)."""

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audit.actions import Action
from audit.services import audit_record

logger = logging.getLogger(__name__)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Refused: the page says so, and the trail records who tried what (someone reaching for the audit
    trail or a collection's curation is what an auditor looks for)."""
    user = getattr(request, "user", None)
    try:
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=user,
            outcome="refused",
            data={
                "method": request.method,
                "path": request.get_full_path()[:500],
                "reason": str(exception or "")[:200],
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
