"""A second curator's decision on a request to lower a collection's marking
(``HUMPHREY_MARKING_DOWNGRADE_APPROVAL``); the request itself is made from the collection's edit page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from ..access import access_collection_for_curator, curator_only
from ..forms import MarkingChangeDecisionForm
from ..services.marking_changes import marking_change_decide, marking_change_withdraw
from .collections import collection_page

#: The note box on the collection page (``_marking_change.html``), where its errors lead.
NOTE_FIELD = "marking-change-note"


@require_POST
@curator_only
def marking_change(request: HttpRequest, slug: str, change_id: int) -> HttpResponse:
    """Approve, reject or withdraw a request to lower the collection's marking
    (``documents.services.marking_changes``). A decision that cannot be made comes back on the
    collection page as a form does: its error summary and the note's own error, the note as typed
    (status 400); a decision made goes back to the page (post/redirect/get)."""
    collection = access_collection_for_curator(request.user, slug)
    change = get_object_or_404(collection.marking_changes, pk=change_id)
    form = MarkingChangeDecisionForm(request.POST)
    if not form.is_valid() and form.has_error("action"):
        return HttpResponse("Choose approve, reject or withdraw.", status=400)
    if form.is_valid():
        action = form.cleaned_data["action"]
        try:
            if action == form.WITHDRAW:
                change = marking_change_withdraw(change=change, user=request.user)
            else:
                change = marking_change_decide(
                    change=change, user=request.user, approve=action == form.APPROVE, note=form.cleaned_data["note"]
                )
        except ValidationError as exc:
            # The service's own check of the note is about the note; the rest (already decided, your own
            # request) about the request as a whole.
            for error in exc.error_list:
                form.add_error("note" if error.code == "note" else None, error)
        else:
            collection.refresh_from_db(fields=["marking"])
            messages.success(
                request,
                f"Marking now {collection.marking}."
                if change.state == "approved"
                else f"Request {change.get_state_display()}: the marking stays {collection.marking}.",
            )
            return redirect("documents:collection", slug=collection.slug)
    # The note's errors lead to its box (shown beside it by the template, from the form); the others,
    # about the request as a whole, have no box to lead to (the request may be decided by now).
    problems = [(str(e), f"#{NOTE_FIELD}") for e in form.errors.get("note", [])]
    problems += [(str(e), "") for e in form.non_field_errors()]
    return collection_page(request, collection, problems=problems, marking_form=form, status=400)
