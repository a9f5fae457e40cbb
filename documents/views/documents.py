"""Documents and their versions: uploading into a collection, a document's page (with its title, owner
and review date, changed by ``document_review``), a version's page, retiring a document and retrying a
version."""

from __future__ import annotations

from pathlib import PurePath

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..access import (
    access_collection_for_curator,
    access_document_for_curator,
    access_version_for_curator,
    curator_only,
)
from ..forms import DocumentReviewForm, UploadForm
from ..lifecycle import version_is_stale
from ..models import Document, VersionStatus
from ..review import review_of
from ..services import documents as document_services
from ..services import review as review_services


@require_POST
@curator_only
def collection_upload(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("files", []):
            messages.error(request, error, extra_tags="id_files")  # at the Files field, and linked to it
        return redirect("documents:collection", slug=slug)
    limit = settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024
    queued, unchanged, refused, restored = [], [], [], []
    taken: set[str] = set()
    for upload in form.cleaned_data["files"]:
        # A document is known by its file name: a second file of that name (from another folder) would
        # replace the first as its next version, unseen.
        name = PurePath(upload.name.replace("\\", "/")).name.strip()
        if name in taken:
            refused.append(
                f"{upload.name}: another file of the same name was chosen in this upload, and only the first "
                "was taken. Rename this one and upload it on its own."
            )
            continue
        taken.add(name)
        if upload.size > limit:  # never read an oversized file into memory
            refused.append(f"{upload.name}: larger than {settings.HUMPHREY_MAX_UPLOAD_MB} MB")
            continue
        try:
            version = document_services.document_upload(
                collection=collection, filename=upload.name, data=upload.read(), user=request.user
            )
        except ValidationError as exc:
            refused.append(f"{upload.name}: {'; '.join(exc.messages)}")
            continue
        if version.restored:  # retired guidance back in front of readers must not pass unnoticed
            restored.append(version.document.title)
        if version.duplicate:
            unchanged.append(upload.name)
        elif version.status == VersionStatus.FAILED:
            refused.append(f"{upload.name}: {version.error}")
        else:
            queued.append(upload.name)
    summary = f"{len(queued)} queued for ingestion, {len(unchanged)} unchanged, {len(refused)} refused."
    if restored:
        summary += f" {len(restored)} restored: {', '.join(restored)}."
    (messages.success if not refused else messages.warning)(request, summary)
    for line in refused:
        messages.error(request, line, extra_tags="id_files")  # shown at the Files field, and linked to it
    return redirect("documents:collection", slug=slug)


def _review_form_initial(document: Document) -> dict:
    day = document.review_by if document.review_by_source == "curator" else None
    return {
        "title": document.title,
        "owner_email": document.owner_email,
        "review_from": DocumentReviewForm.OWN if day else DocumentReviewForm.COLLECTION,
        "review_day": day.day if day else None,
        "review_month": day.month if day else None,
        "review_year": day.year if day else None,
    }


def _origin_href(url: str) -> str:
    """The address a synced source read the document from, as a link only if it is a web address."""
    return url if url.lower().startswith(("http://", "https://")) else ""


def _document_page(request: HttpRequest, document: Document, review_form: DocumentReviewForm) -> HttpResponse:
    versions = document.versions.select_related("uploaded_by").annotate(chunk_count=Count("chunks"))
    synced_from = document.source_items.select_related("source__collection").order_by("pk").first()
    return render(
        request,
        "documents/document_detail.html",
        {
            "document": document,
            "versions": versions,
            "review": review_of(document),
            "review_form": review_form,
            "default_owner": review_services.document_owner(document),
            "synced_from": synced_from.source if synced_from else None,
            "origin_href": _origin_href(document.origin_url),
            "attachments": list(document.attachments.order_by("title", "pk")),
        },
    )


@require_GET
@curator_only
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document = access_document_for_curator(request.user, document_id)
    return _document_page(request, document, DocumentReviewForm(initial=_review_form_initial(document)))


@require_POST
@curator_only
def document_review(request: HttpRequest, document_id: int) -> HttpResponse:
    """Change a document's title, owner and review date (a date of its own, or the file's or collection's)."""
    document = access_document_for_curator(request.user, document_id)
    form = DocumentReviewForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():  # all of the form's changes or none
                review_services.document_review_set(
                    document=document,
                    user=request.user,
                    owner_email=form.cleaned_data["owner_email"],
                    review_by=form.cleaned_data["review_by"],
                )
                document = document_services.document_title_set(
                    document=document, user=request.user, title=form.cleaned_data["title"]
                )
        except ValidationError as exc:
            form.add_error("owner_email", exc)
        else:
            messages.success(request, f"Changes to “{document.title}” saved.")
            return redirect("documents:document", document_id=document.pk)
    return _document_page(request, document, form)


@require_http_methods(["GET", "POST"])
@curator_only
def document_retire(request: HttpRequest, document_id: int) -> HttpResponse:
    document = access_document_for_curator(request.user, document_id)
    if request.method == "POST":
        document_services.document_retire(document=document, user=request.user)
        messages.success(request, f"“{document.title}” is retired and will no longer be searched.")
        return redirect("documents:collection", slug=document.collection.slug)
    return render(request, "documents/confirm_retire.html", {"thing": document, "kind": "document"})


@require_GET
@curator_only
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = access_version_for_curator(request.user, version_id)
    lasting = document_services.version_lasting_refusal(version)
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
            "can_retry": document_services.version_can_retry(version, lasting=lasting),
            "lasting": lasting,
            "stale": version_is_stale(version),
        },
    )


@require_POST
@curator_only
def version_retry(request: HttpRequest, version_id: int) -> HttpResponse:
    version = access_version_for_curator(request.user, version_id)
    try:
        document_services.version_retry(version=version, user=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"Version {version.number} of “{version.document.title}” is queued again.")
    return redirect(version.get_absolute_url())
