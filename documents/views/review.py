"""The curators' review list: documents due, overdue and expired across the collections a curator looks
after, sortable, each with "reviewed, still correct" and a link to upload a new version.

Statuses come from ``documents.review`` over one query (``documents_needing_review``); nothing is
looked up per row.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from ..access import access_document_for_curator, curated_collections, curator_only
from ..review import ReviewStatus
from ..services import review as review_services

_STATUS_ORDER = {ReviewStatus.EXPIRED: 0, ReviewStatus.OVERDUE: 1, ReviewStatus.DUE: 2}
#: ?sort= keys: the column, and how rows compare (ties broken by review date, then title).
SORTS = {
    "review_by": ("Review date", lambda i: (i.review.review_by, i.document.title.lower())),
    "status": ("Status", lambda i: (_STATUS_ORDER[i.review.status], i.review.review_by, i.document.title.lower())),
    "collection": ("Collection", lambda i: (i.document.collection.name.lower(), i.review.review_by)),
    "title": ("Document", lambda i: (i.document.title.lower(), i.review.review_by)),
    "owner": ("Owner", lambda i: (i.owner.lower(), i.review.review_by, i.document.title.lower())),
}
DEFAULT_SORT = "review_by"


def _sort(raw: str) -> tuple[str, bool]:
    """``?sort=owner`` or ``?sort=-owner`` (descending); anything else is the default."""
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    return (key, descending) if key in SORTS else (DEFAULT_SORT, False)


@require_GET
@curator_only
def review_list(request: HttpRequest) -> HttpResponse:
    key, descending = _sort(request.GET.get("sort", ""))
    items = review_services.documents_needing_review(curated_collections(request.user))
    items.sort(key=SORTS[key][1], reverse=descending)
    columns = [
        {
            "key": name,
            "label": label,
            "aria_sort": ("descending" if descending else "ascending") if name == key else "none",
            "href": f"?sort={'-' if name == key and not descending else ''}{name}",
        }
        for name, (label, _) in SORTS.items()
    ]
    counts = {status: sum(1 for i in items if i.review.status == status) for status in _STATUS_ORDER}
    return render(
        request,
        "documents/review_list.html",
        {"items": items, "columns": columns, "counts": counts, "sort": ("-" if descending else "") + key},
    )


@require_POST
@curator_only
def document_reviewed(request: HttpRequest, document_id: int) -> HttpResponse:
    """ "Reviewed, still correct": the next review date from today, no new upload needed."""
    document = access_document_for_curator(request.user, document_id)
    try:
        document = review_services.document_review_confirm(document=document, user=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        when = document.review_by
        messages.success(
            request, f"“{document.title}” confirmed still correct. Next review by {when.day} {when:%B %Y}."
        )
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
        return redirect(back)
    return redirect("documents:review")
