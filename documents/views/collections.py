"""A curator's collections: the list, one collection's page and its status poll, create, edit,
readers, glossary, retire, and trying a question against it."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..access import access_collection_for_curator, curated_collections, curator_only, may_read_collection
from ..forms import (
    CollectionEditForm,
    CollectionForm,
    GrantForm,
    MarkingChangeDecisionForm,
    TryQuestionForm,
    UploadForm,
)
from ..lifecycle import RUNNING
from ..models import Chunk, Collection, DocumentVersion, Marking, VersionStatus
from ..review import review_of
from ..services import collections as collection_services
from ..services import glossary as glossary_services
from ..services.marking_changes import marking_change_pending

logger = logging.getLogger(__name__)


@require_GET
@curator_only
def collection_list(request: HttpRequest) -> HttpResponse:
    # Documents retrieval searches now: those with a chunk searched (``Chunk.objects.searched``: current,
    # ready, active, not switched off, not expired). One whose every upload failed, that is still being
    # read, whose review date expired or whose every passage is switched off is not.
    searched = (
        Chunk.objects.searched()
        .filter(collection=OuterRef("pk"))
        .order_by()
        .values("collection")
        .annotate(n=Count("version", distinct=True))  # one current version a document
        .values("n")
    )
    collections = (
        curated_collections(request.user)
        .annotate(
            document_count=Count("documents", filter=Q(documents__is_active=True), distinct=True),
            searched_count=Coalesce(Subquery(searched), 0),
        )
        .prefetch_related("reader_groups")
        .order_by("-is_active", "name")
    )
    return render(request, "documents/collection_list.html", {"collections": collections})


@require_http_methods(["GET", "POST"])
@curator_only
def collection_create(request: HttpRequest) -> HttpResponse:
    form = CollectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            collection = collection_services.collection_create(
                user=request.user,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                description=form.cleaned_data["description"],
                marking=form.cleaned_data["marking"],
                reader_groups=form.cleaned_data["reader_groups"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Collection “{collection.name}” created.")
            return redirect("documents:collection", slug=collection.slug)
    return render(request, "documents/collection_form.html", {"form": form}, status=400 if form.errors else 200)


def _documents_with_latest(collection: Collection):
    """The collection's documents, each with its newest version (``latest``), whether retrieval
    searches it now (``searched``) and its review (``review``)."""
    latest = DocumentVersion.objects.order_by("-number").only(
        "id", "document_id", "number", "status", "progress_done", "progress_total", "error", "uploaded_at"
    )
    documents = list(
        collection.documents.select_related("current_version")
        .annotate(searched=Exists(Chunk.objects.searched().filter(version_id=OuterRef("current_version_id"))))
        .prefetch_related(Prefetch("versions", queryset=latest, to_attr="newest_first"))
        .order_by("-is_active", "title")
    )
    for document in documents:
        document.latest = document.newest_first[0] if document.newest_first else None
        document.collection = collection  # one collection: its review period is not looked up per row
        document.review = review_of(document)
    return documents


def _title_clashes(documents) -> list[tuple]:
    """(added, existing) for each active document whose title, as the site gives it now (from its file,
    or its file's name until that is read), is an older active document's: readers would be quoted
    two documents of one name, maybe saying different things ("28 days", "30 days"). Nothing is
    guessed: the curator decides whether it is a new version. A title a curator chose for the added
    document is taken as meant. From the page's own rows: no query."""
    oldest: dict[str, object] = {}
    clashes = []
    for document in sorted((d for d in documents if d.is_active), key=lambda d: (d.created_at, d.pk)):
        existing = oldest.setdefault(" ".join(document.title.split()).casefold(), document)
        if existing is not document and not document.title_set_by_curator:
            clashes.append((document, existing))
    return clashes


def _problems(request: HttpRequest) -> tuple[list, list, dict[str, list[str]]]:
    """The messages waiting for this page, the errors taken out of them: the other messages, the
    errors as (text, link) for the error summary, and the errors by the form field they are about.

    Forms on the collection page post elsewhere and come back here with messages. An error is
    shown as a form error (GOV.UK's error summary, linked to the field, and beside the field), not as
    a notice; it names its field's id in ``extra_tags`` ("id_group"), else it links to the page."""
    notices, summary, by_field = [], [], {}
    for message in messages.get_messages(request):  # read once: all of them are shown now
        if message.level != messages.ERROR:
            notices.append(message)
            continue
        field = message.extra_tags if message.extra_tags.startswith("id_") else ""
        summary.append((str(message), f"#{field}" if field else "#main-content"))
        if field:
            by_field.setdefault(field, []).append(str(message))
    return notices, summary, by_field


def collection_page(
    request: HttpRequest,
    collection: Collection,
    *,
    notices=(),
    problems=(),
    field_errors: dict[str, list[str]] | None = None,
    marking_form: MarkingChangeDecisionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The collection's page; with ``problems`` (text, link) and ``field_errors``, as a form on it that
    was sent back (status 400), what was typed in ``marking_form`` kept."""
    documents = _documents_with_latest(collection)
    busy = any(d.latest and d.latest.status in (VersionStatus.QUEUED, *RUNNING) for d in documents)
    never_read = set(collection.documents.never_read().values_list("pk", flat=True))
    for document in documents:
        document.never_read = document.pk in never_read
    return render(
        request,
        "documents/collection_detail.html",
        {
            "collection": collection,
            "documents": documents,
            "title_clashes": _title_clashes(documents) if collection.is_active else [],
            "busy": busy,
            "never_read_count": len(never_read),
            "readers": collection.reader_groups.order_by("name"),
            "grant_form": GrantForm(collection=collection),
            "messages": list(notices),  # errors are shown by the error summary (``problems``) instead
            "problems": list(problems),
            "field_errors": field_errors or {},
            "upload_form": UploadForm(),
            "try_form": TryQuestionForm(),
            "max_upload_mb": settings.HUMPHREY_MAX_UPLOAD_MB,
            "marking_change": marking_change_pending(collection),
            "marking_form": marking_form or MarkingChangeDecisionForm(),
            "sources": list(collection.sources.order_by("pk")),  # one query; nothing looked up per row
        },
        status=status,
    )


@require_GET
@curator_only
def collection_detail(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    notices, problems, field_errors = _problems(request)
    return collection_page(request, collection, notices=notices, problems=problems, field_errors=field_errors)


@require_GET
@curator_only
def collection_status(request: HttpRequest, slug: str) -> JsonResponse:
    """Ingestion progress of each document's newest version, for the page's poller."""
    collection = access_collection_for_curator(request.user, slug)
    rows = []
    for document in _documents_with_latest(collection):
        version = document.latest
        if version is None:
            continue
        rows.append(
            {
                "version": version.pk,
                "status": version.status,
                "label": version.get_status_display(),
                "done": version.progress_done,
                "total": version.progress_total,
                "error": version.error,
            }
        )
    busy = any(r["status"] in (VersionStatus.QUEUED, *RUNNING) for r in rows)
    return JsonResponse({"versions": rows, "busy": busy})


def _no_longer_searched_message(collection: Collection) -> str:
    count, days = len(collection.no_longer_searched), collection.expire_after_days or 0
    their = "their review dates" if count != 1 else "its review date"
    passed = "have passed" if days == 0 else f"passed more than {days} day{'s' if days != 1 else ''} ago"
    if count == 1:
        return f"1 document is no longer searched: {their} {passed.replace('have', 'has')}."
    return f"{count} documents are no longer searched: {their} {passed}."


@require_http_methods(["GET", "POST"])
@curator_only
def collection_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a collection's name, description, marking, review period or expiry (its short name stays:
    addresses use it)."""
    collection = access_collection_for_curator(request.user, slug)
    initial = {
        "name": collection.name,
        "description": collection.description,
        "marking": collection.marking,
        "review_months": collection.review_months,
        "expire_after_days": collection.expire_after_days,
    }
    data = None
    if request.method == "POST":
        data = request.POST.copy()
        for field in ("review_months", "expire_after_days"):  # a form without them leaves them be
            if field not in data:
                data[field] = "" if initial[field] is None else str(initial[field])
    form = CollectionEditForm(data, initial=initial, current_marking=collection.marking)
    if request.method == "POST" and form.is_valid():
        if not form.has_changed():
            messages.info(request, "Nothing was changed.")
            return redirect("documents:collection", slug=collection.slug)
        try:
            collection_services.collection_update(
                collection=collection,
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                marking=form.cleaned_data["marking"],
                reason=form.cleaned_data["downgrade_reason"] if form.lowers_marking() else "",
                review_months=form.cleaned_data["review_months"],
                expire_after_days=form.cleaned_data["expire_after_days"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            pending = marking_change_pending(collection)
            if form.lowers_marking() and pending and pending.requested_by_id == request.user.pk:
                messages.success(
                    request,
                    f"Your request to lower the marking to {pending.to_marking} is waiting for another curator "
                    "of this collection to approve it. Until then it stays "
                    f"{pending.from_marking}.",
                )
            else:
                messages.success(request, f"Collection “{collection.name}” updated.")
            # Searched or not, as the new review period or expiry decides, said as it happens.
            if collection.no_longer_searched:
                messages.warning(request, _no_longer_searched_message(collection))
            if collection.searched_again:
                count = len(collection.searched_again)
                messages.info(
                    request,
                    f"{count} document{'s are' if count != 1 else ' is'} searched again: "
                    f"{'their' if count != 1 else 'its'} review date{'s are' if count != 1 else ' is'} "
                    "no longer past the collection's expiry.",
                )
            return redirect("documents:collection", slug=collection.slug)
    return render(
        request,
        "documents/collection_edit.html",
        {
            "collection": collection,
            "form": form,
            "max_marking": settings.HUMPHREY_MAX_MARKING,
            "not_served": [m for m in Marking.values if m not in Marking.at_most(settings.HUMPHREY_MAX_MARKING)],
            "downgrade_needs_approval": settings.HUMPHREY_MARKING_DOWNGRADE_APPROVAL,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@curator_only
def collection_readers(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    if "revoke" in request.POST:
        revoke = request.POST.get("revoke", "")
        if not revoke.isdigit():  # a tampered or stale form, not a group: nothing to take away
            raise Http404("No such group reads this collection.")
        group = get_object_or_404(collection.reader_groups.all(), pk=int(revoke))
        collection_services.collection_revoke(collection=collection, group=group, user=request.user)
        messages.success(request, f"“{group.name}” can no longer read this collection.")
    else:
        form = GrantForm(request.POST)
        if form.is_valid():
            group: Group = form.cleaned_data["group"]
            if collection_services.collection_grant(collection=collection, group=group, user=request.user):
                messages.success(request, f"“{group.name}” can now read this collection.")
            else:
                messages.info(request, f"“{group.name}” could already read this collection. Nothing was changed.")
        else:
            messages.error(request, "Choose a group to grant", extra_tags="id_group")
    return redirect("documents:collection", slug=slug)


@require_http_methods(["GET", "POST"])
@curator_only
def collection_glossary(request: HttpRequest, slug: str) -> HttpResponse:
    """The words people ask with and what the guidance calls them, one entry a line, saved whole;
    what the guidance makes doubtful in the saved entries, and how many answers applied each."""
    collection = access_collection_for_curator(request.user, slug)
    errors, unused, in_guidance, saved = [], [], [], False
    if request.method == "POST":
        text = request.POST.get("terms", "")
        parsed = glossary_services.glossary_parse(text)
        errors = parsed.errors
        if not errors:
            changes = glossary_services.glossary_replace(
                collection=collection, user=request.user, entries=parsed.entries
            )
            counts = {k: len(v) for k, v in changes.items() if v}
            if counts:
                said = ", ".join(f"{n} {what}" for what, n in counts.items())
                messages.success(request, f"Glossary saved: {said}. Questions use it within a minute.")
            else:
                messages.info(request, "Nothing was changed.")
            unused, in_guidance = glossary_services.glossary_warnings(collection, parsed.entries)
            if not (unused or in_guidance):
                return redirect("documents:collection_glossary", slug=collection.slug)
            saved = True
    entries = glossary_services.glossary_entries(collection)  # as saved, whatever was posted
    if request.method != "POST":
        text = glossary_services.glossary_lines(collection, entries)
        unused, in_guidance = glossary_services.glossary_warnings(collection, entries)
    return render(
        request,
        "documents/collection_glossary.html",
        {
            "collection": collection,
            "terms": text,
            "errors": errors,
            "unused": unused,
            "in_guidance": in_guidance,
            "saved": saved,  # the warnings are about entries just saved (else: about those saved before)
            "count": len(entries),
            "max_terms": glossary_services.MAX_TERMS,
            "usage": glossary_services.glossary_usage(collection, entries),
        },
        status=400 if errors else 200,
    )


@require_http_methods(["GET", "POST"])
@curator_only
def collection_retire(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    if request.method == "POST":
        collection_services.collection_retire(collection=collection, user=request.user)
        messages.success(request, f"“{collection.name}” is retired and will no longer be searched.")
        return redirect("documents:collections")
    return render(request, "documents/confirm_retire.html", {"thing": collection, "kind": "collection"})


@require_GET
@curator_only
def collection_try(request: HttpRequest, slug: str) -> HttpResponse:
    """What chat would answer this user from this collection (whether it is covered, why, and what it
    would quote: ``documents.previews``), and what retrieval returns (the same call the chat makes)."""
    collection = access_collection_for_curator(request.user, slug)
    form = TryQuestionForm(request.GET or None)
    passages = preview = None
    can_read = may_read_collection(request.user, collection)
    if form.is_bound and form.is_valid():
        from ..previews import answer_preview
        from ..retrieval import passages_for_user, retrieve

        question = form.cleaned_data["q"]
        preview = answer_preview(request.user, question, slug) if can_read else None
        if preview is not None:  # the passages chat's answer was judged and quoted from
            passages = preview["passages"]
        else:
            try:
                passages = passages_for_user(user=request.user, query=question, collections=[slug], k=8)
            except Exception:  # the embedding service failed: its words alone, as chat searches then
                logger.warning("try a question: the question could not be embedded; searched by words", exc_info=True)
                passages = retrieve(user=request.user, query=question, collections=[slug], k=8, mode="keyword").passages
    return render(
        request,
        "documents/collection_try.html",
        {"collection": collection, "form": form, "passages": passages, "preview": preview, "can_read": can_read},
    )
