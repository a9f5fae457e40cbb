"""A second curator's decision on a request to lower a collection's marking
(``HUMPHREY_MARKING_DOWNGRADE_APPROVAL``); the request itself is made from the collection's edit page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from ..access import access_collection_for_curator, curator_only
from ..services.marking_changes import marking_change_decide, marking_change_withdraw


@require_POST
@curator_only
def marking_change(request: HttpRequest, slug: str, change_id: int) -> HttpResponse:
    """Approve, reject or withdraw a request to lower the collection's marking
    (``documents.services.marking_changes``)."""
    collection = access_collection_for_curator(request.user, slug)
    change = get_object_or_404(collection.marking_changes, pk=change_id)
    action = request.POST.get("action")
    try:
        if action in ("approve", "reject"):
            change = marking_change_decide(
                change=change, user=request.user, approve=action == "approve", note=request.POST.get("note", "")
            )
        elif action == "withdraw":
            change = marking_change_withdraw(change=change, user=request.user)
        else:
            return HttpResponse("Choose approve, reject or withdraw.", status=400)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        collection.refresh_from_db(fields=["marking"])
        messages.success(
            request,
            f"Marking now {collection.marking}."
            if change.state == "approved"
            else f"Request {change.get_state_display()}: the marking stays {collection.marking}.",
        )
    return redirect("documents:collection", slug=collection.slug)
