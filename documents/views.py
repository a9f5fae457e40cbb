"""Curation screens (``/curate/``) and the read-only passage view that citations open.

Curators see only the collections they look after; anything else is a 404, the same answer as for
something that does not exist. The passage view shows a reader of the chunk's collection its
searchable passages and the passages cited in their own answers, 404 for everything else. Every
door is in ``documents.access``; every write goes through ``documents.services``.
"""

# Over 500 lines on purpose for now: the access gates move to documents/access.py and the views split by
# screen in issue #20 (one structural change, not mixed with feature work).

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Role, role_required
from audit.services import audit_record

from . import marking_changes, services
from .access import (
    access_chunk_for_curator,
    access_collection_for_curator,
    access_document_for_curator,
    access_passage,
    access_version_for_curator,
    curated_collections,
    may_read_collection,
)
from .forms import CollectionEditForm, CollectionForm, GrantForm, TryQuestionForm, UploadForm
from .models import Chunk, Collection, DocumentVersion, Marking, VersionStatus

curator_only = role_required(Role.CURATOR)


# --- Text around a passage -----------------------------------------------------------------------


@dataclass
class Context:
    before: str
    passage: str
    after: str
    gap_before: bool
    gap_after: bool
    parts: list[tuple[str, bool]] | None = None  # the passage cut into (text, used by the answer)


MAX_HIGHLIGHTS = 20


def highlight_spans(raw: str, length: int) -> list[tuple[int, int]]:
    """``?hl=10-55,80-120`` as spans within a passage of ``length`` characters: clipped, sorted,
    merged; anything malformed is ignored (a link is only ever a way to point at text)."""
    spans = []
    for part in (raw or "").split(",")[:MAX_HIGHLIGHTS]:
        start, _, end = part.partition("-")
        if not (start.isdigit() and end.isdigit()):
            continue
        start, end = min(int(start), length), min(int(end), length)
        if end > start:
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def passage_parts(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    parts, at = [], 0
    for start, end in spans:
        if start > at:
            parts.append((text[at:start], False))
        parts.append((text[start:end], True))
        at = end
    if at < len(text):
        parts.append((text[at:], False))
    return parts


def chunk_context(chunk: Chunk, *, window: int | None = 2) -> Context:
    """The passage with the text around it, rebuilt from its version's neighbouring chunks.

    Chunks are exact slices of the version's text with their offsets, so stitching them by offset
    gives back the original text (headings between sections may be missing: they are in no chunk).
    """
    neighbours = Chunk.objects.filter(version_id=chunk.version_id)
    if window is not None:
        neighbours = neighbours.filter(ordinal__gte=chunk.ordinal - window, ordinal__lte=chunk.ordinal + window)
    pieces = sorted(neighbours.values_list("char_start", "char_end", "text"), key=lambda p: (p[0], p[1]))
    out = ""
    spans: list[tuple[int, int, int]] = []  # (start, end) in the version's text -> start in ``out``
    end: int | None = None
    for start, stop, text in pieces:
        if end is not None and start < end:
            if stop <= end:
                continue
            text, start = text[end - start :], end
        elif end is not None and start > end:
            out += "\n\n" if start - end <= 2 else "\n\n…\n\n"  # headings between sections are in no chunk
        spans.append((start, stop, len(out)))
        out += text
        end = stop
    position = next((o + chunk.char_start - s for s, e, o in spans if s <= chunk.char_start < e), None)
    if position is None or out[position : position + len(chunk.text)] != chunk.text:  # never mis-highlight
        return Context(before="", passage=chunk.text, after="", gap_before=True, gap_after=True)
    return Context(
        before=out[:position],
        passage=chunk.text,
        after=out[position + len(chunk.text) :],
        gap_before=bool(pieces) and pieces[0][0] > 0,
        gap_after=window is not None
        and Chunk.objects.filter(version_id=chunk.version_id, ordinal__gt=chunk.ordinal + window).exists(),
    )


# --- Collections --------------------------------------------------------------------------------


@require_GET
@curator_only
def collection_list(request: HttpRequest) -> HttpResponse:
    collections = (
        curated_collections(request.user)
        .annotate(document_count=Count("documents", filter=Q(documents__is_active=True), distinct=True))
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
            collection = services.collection_create(
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
    return render(request, "documents/collection_form.html", {"form": form})


def _documents_with_latest(collection: Collection):
    latest = DocumentVersion.objects.order_by("-number").only(
        "id", "document_id", "number", "status", "progress_done", "progress_total", "error", "uploaded_at"
    )
    documents = list(
        collection.documents.select_related("current_version")
        .prefetch_related(Prefetch("versions", queryset=latest, to_attr="newest_first"))
        .order_by("-is_active", "title")
    )
    for document in documents:
        document.latest = document.newest_first[0] if document.newest_first else None
    return documents


@require_GET
@curator_only
def collection_detail(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    documents = _documents_with_latest(collection)
    busy = any(d.latest and d.latest.status in (VersionStatus.QUEUED, *services.RUNNING) for d in documents)
    return render(
        request,
        "documents/collection_detail.html",
        {
            "collection": collection,
            "documents": documents,
            "busy": busy,
            "readers": collection.reader_groups.order_by("name"),
            "grant_form": GrantForm(),
            "upload_form": UploadForm(),
            "try_form": TryQuestionForm(),
            "max_upload_mb": settings.HUMPHREY_MAX_UPLOAD_MB,
            "marking_change": marking_changes.marking_change_pending(collection),
        },
    )


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
    busy = any(r["status"] in (VersionStatus.QUEUED, *services.RUNNING) for r in rows)
    return JsonResponse({"versions": rows, "busy": busy})


@require_POST
@curator_only
def collection_upload(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose one or more files to upload.")
        return redirect("documents:collection", slug=slug)
    limit = settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024
    queued, unchanged, refused = [], [], []
    for upload in form.cleaned_data["files"]:
        if upload.size > limit:  # never read an oversized file into memory
            refused.append(f"{upload.name}: larger than {settings.HUMPHREY_MAX_UPLOAD_MB} MB")
            continue
        try:
            version = services.document_upload(
                collection=collection, filename=upload.name, data=upload.read(), user=request.user
            )
        except ValidationError as exc:
            refused.append(f"{upload.name}: {'; '.join(exc.messages)}")
            continue
        if version.duplicate:
            unchanged.append(upload.name)
        elif version.status == VersionStatus.FAILED:
            refused.append(f"{upload.name}: {version.error}")
        else:
            queued.append(upload.name)
    summary = f"{len(queued)} queued for ingestion, {len(unchanged)} unchanged, {len(refused)} refused."
    (messages.success if not refused else messages.warning)(request, summary)
    for line in refused:
        messages.error(request, line)
    return redirect("documents:collection", slug=slug)


@require_http_methods(["GET", "POST"])
@curator_only
def collection_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a collection's name, description or marking (its short name stays: addresses use it)."""
    collection = access_collection_for_curator(request.user, slug)
    form = CollectionEditForm(
        request.POST if request.method == "POST" else None,
        initial={"name": collection.name, "description": collection.description, "marking": collection.marking},
        current_marking=collection.marking,
    )
    if request.method == "POST" and form.is_valid():
        if not form.has_changed():
            messages.info(request, "Nothing was changed.")
            return redirect("documents:collection", slug=collection.slug)
        try:
            services.collection_update(
                collection=collection,
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                marking=form.cleaned_data["marking"],
                reason=form.cleaned_data["downgrade_reason"] if form.lowers_marking() else "",
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            pending = marking_changes.marking_change_pending(collection)
            if form.lowers_marking() and pending and pending.requested_by_id == request.user.pk:
                messages.success(
                    request,
                    f"Your request to lower the marking to {pending.to_marking} is waiting for another curator "
                    "of this collection to approve it. Until then it stays "
                    f"{pending.from_marking}.",
                )
            else:
                messages.success(request, f"Collection “{collection.name}” updated.")
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
    )


@require_POST
@curator_only
def marking_change(request: HttpRequest, slug: str, change_id: int) -> HttpResponse:
    """Approve, reject or withdraw a request to lower the collection's marking (see documents.marking_changes)."""
    collection = access_collection_for_curator(request.user, slug)
    change = get_object_or_404(collection.marking_changes, pk=change_id)
    action = request.POST.get("action")
    try:
        if action in ("approve", "reject"):
            change = marking_changes.marking_change_decide(
                change=change, user=request.user, approve=action == "approve", note=request.POST.get("note", "")
            )
        elif action == "withdraw":
            change = marking_changes.marking_change_withdraw(change=change, user=request.user)
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


@require_POST
@curator_only
def collection_readers(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    if "revoke" in request.POST:
        group = get_object_or_404(collection.reader_groups.all(), pk=request.POST.get("revoke"))
        services.collection_revoke(collection=collection, group=group, user=request.user)
        messages.success(request, f"“{group.name}” can no longer read this collection.")
    else:
        form = GrantForm(request.POST)
        if form.is_valid():
            group: Group = form.cleaned_data["group"]
            services.collection_grant(collection=collection, group=group, user=request.user)
            messages.success(request, f"“{group.name}” can now read this collection.")
        else:
            messages.error(request, "Choose a group to grant.")
    return redirect("documents:collection", slug=slug)


@require_http_methods(["GET", "POST"])
@curator_only
def collection_retire(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    if request.method == "POST":
        services.collection_retire(collection=collection, user=request.user)
        messages.success(request, f"“{collection.name}” is retired and will no longer be searched.")
        return redirect("documents:collections")
    return render(request, "documents/confirm_retire.html", {"thing": collection, "kind": "collection"})


@require_GET
@curator_only
def collection_try(request: HttpRequest, slug: str) -> HttpResponse:
    """What retrieval returns for this user from this collection (the same call the chat makes)."""
    collection = access_collection_for_curator(request.user, slug)
    form = TryQuestionForm(request.GET or None)
    passages = None
    if form.is_bound and form.is_valid():
        from .retrieval import passages_for_user

        passages = passages_for_user(user=request.user, query=form.cleaned_data["q"], collections=[slug], k=8)
    can_read = may_read_collection(request.user, collection)
    return render(
        request,
        "documents/collection_try.html",
        {"collection": collection, "form": form, "passages": passages, "can_read": can_read},
    )


# --- Documents, versions, chunks ------------------------------------------------------------------


@require_GET
@curator_only
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document = access_document_for_curator(request.user, document_id)
    versions = document.versions.select_related("uploaded_by").annotate(chunk_count=Count("chunks"))
    return render(request, "documents/document_detail.html", {"document": document, "versions": versions})


@require_http_methods(["GET", "POST"])
@curator_only
def document_retire(request: HttpRequest, document_id: int) -> HttpResponse:
    document = access_document_for_curator(request.user, document_id)
    if request.method == "POST":
        services.document_retire(document=document, user=request.user)
        messages.success(request, f"“{document.title}” is retired and will no longer be searched.")
        return redirect("documents:collection", slug=document.collection.slug)
    return render(request, "documents/confirm_retire.html", {"thing": document, "kind": "document"})


@require_GET
@curator_only
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = access_version_for_curator(request.user, version_id)
    chunks = version.chunks.only(
        "id", "ordinal", "anchor", "heading_path", "page", "token_count", "searchable", "text", "char_start", "char_end"
    )
    return render(
        request,
        "documents/version_detail.html",
        {
            "version": version,
            "document": version.document,
            "chunks": chunks,
            "can_retry": services.version_can_retry(version),
            "stale": services.version_is_stale(version),
        },
    )


@require_POST
@curator_only
def version_retry(request: HttpRequest, version_id: int) -> HttpResponse:
    version = access_version_for_curator(request.user, version_id)
    try:
        services.version_retry(version=version, user=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"Version {version.number} of “{version.document.title}” is queued again.")
    return redirect(version.get_absolute_url())


@require_GET
@curator_only
def chunk_detail(request: HttpRequest, chunk_id: int) -> HttpResponse:
    """A chunk highlighted in the whole text of its version (for curators)."""
    chunk = access_chunk_for_curator(request.user, chunk_id)
    return render(
        request,
        "documents/chunk_detail.html",
        {"chunk": chunk, "version": chunk.version, "context": chunk_context(chunk, window=None)},
    )


@require_GET
@login_required
def passage(request: HttpRequest, chunk_id: int) -> HttpResponse:
    """A cited passage, read-only, in its surrounding text, for anyone who may read its collection."""
    chunk, by_citation = access_passage(request.user, chunk_id)
    if by_citation:
        # Recorded: a passage no longer searched, read because an answer gave it to this person.
        audit_record(
            action="passage.read_cited",
            actor=request.user,
            outcome="read",
            subject=f"chunk:{chunk.pk}",
            data={
                "chunk_id": chunk.pk,
                "version_id": chunk.version_id,
                "document_id": chunk.version.document_id,
                "collection_id": chunk.collection_id,
            },
        )
    version = chunk.version
    context = chunk_context(chunk)
    spans = highlight_spans(request.GET.get("hl", ""), len(chunk.text))
    if spans:
        context.parts = passage_parts(context.passage, spans)
    return render(
        request,
        "documents/passage.html",
        {
            "chunk": chunk,
            "version": version,
            "document": version.document,
            "context": context,
            "is_current": version.document.current_version_id == version.pk,
            "chat_url": _safe_reverse("assistant:index"),
        },
    )


def _safe_reverse(name: str) -> str:
    try:
        return reverse(name)
    except Exception:  # the chat app may name its pages differently
        return reverse("home")


def not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    raise Http404
