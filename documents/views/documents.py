"""Documents and their versions: uploading into a collection, a document's page (with its title, owner
and review date, changed by ``document_review``, and a file uploaded as its new version by
``document_version_upload``), a version's page, retiring a document and restoring one retired,
removing those that never held content (``collection_never_read``) and retrying a version."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..access import (
    access_collection_for_curator,
    access_document_for_curator,
    access_version_for_curator,
    curator_only,
)
from ..forms import DocumentReviewForm, UploadForm, VersionUploadForm
from ..lifecycle import document_searched, version_is_stale
from ..models import Chunk, Collection, Document, DocumentVersion, VersionStatus
from ..review import ReviewStatus, review_of
from ..services import documents as document_services
from ..services import passages as passage_services
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
    queued, unchanged, refused, restored, kept_retired, dates_cleared = [], [], [], [], [], []
    taken: set[str] = set()
    for upload in form.cleaned_data["files"]:
        # Named as the document would be: no folder, and no characters nobody can see (a direction
        # override in a name would make this page's own message read as another file's).
        name = document_services.document_source_name(upload.name)
        # A document is known by its file name: a second file of that name (from another folder) would
        # replace the first as its next version, unseen.
        if name in taken:
            document_services.document_upload_refuse(
                collection=collection,
                filename=name,
                user=request.user,
                code="same_name_in_upload",
                message="Another file of the same name was chosen in this upload, and only the first was taken.",
                size_bytes=upload.size,
            )
            refused.append(
                f"{name}: another file of the same name was chosen in this upload, and only the first "
                "was taken. Rename this one and upload it on its own."
            )
            continue
        taken.add(name)
        version, refusal, _code = _upload_one(request, collection, upload)
        if version is None:
            refused.append(refusal)
            continue
        if version.restored:  # retired guidance back in front of readers must not pass unnoticed
            restored.append(version.document.title)
        if version.kept_retired:  # someone retired it on purpose: only its page brings it back
            kept_retired.append(version.document.title)
        if version.review_date_clears is not None:
            dates_cleared.append((version.document.title, version.review_date_clears))
        if version.duplicate:
            unchanged.append(name)
        elif version.status == VersionStatus.FAILED:  # kept, to be retried (the embedder's ceiling)
            refused.append(f"{name}: {version.error}")
        else:
            queued.append(name)
    summary = f"{len(queued)} queued for ingestion, {len(unchanged)} unchanged, {len(refused)} refused."
    if restored:
        summary += f" {len(restored)} restored: {', '.join(restored)}."
    (messages.success if not refused else messages.warning)(request, summary)
    if kept_retired:
        messages.warning(request, _kept_retired_message(kept_retired))
    for title, day in dates_cleared:
        messages.info(
            request,
            f"“{title}”: its review date, {_long_date(day)}, has passed, so it is cleared once the new version "
            "is read: a new version is new guidance, and the file's own review date or the collection's "
            "review period applies again.",
        )
    for line in refused:
        messages.error(request, line, extra_tags="id_files")  # shown at the Files field, and linked to it
    return redirect("documents:collection", slug=slug)


def _upload_one(
    request: HttpRequest, collection: Collection, upload, *, document: Document | None = None
) -> tuple[DocumentVersion | None, str, str]:
    """Store one chosen file (as ``document``'s next version, if given): the version, or None with what
    the uploader is told at the file and the refusal's code (nothing was stored; the refusal is audited)."""
    name = document_services.document_source_name(upload.name)
    if upload.size > settings.HUMPHREY_MAX_UPLOAD_MB * 1024 * 1024:  # never read an oversized file into memory
        exc = document_services.document_upload_refuse(
            collection=collection,
            filename=name,
            user=request.user,
            code="too_large",
            message=document_services.too_large_message(upload.size),
            size_bytes=upload.size,
            document=document,
        )
        return None, f"{name}: {exc.messages[0]}", "too_large"
    try:
        version = document_services.document_upload(
            collection=collection, filename=upload.name, data=upload.read(), user=request.user, document=document
        )
    except ValidationError as exc:  # nothing was stored: the reason is said here, once
        code = getattr(exc, "code", None) or ""
        if code == "same_file":  # its message names the file itself
            return None, exc.messages[0], code
        return None, f"{name or 'A file with no name'}: {'; '.join(exc.messages)}", code
    return version, "", ""


def _long_date(day) -> str:
    return f"{day.day} {day:%B %Y}"


def _kept_retired_message(titles: list[str]) -> str:
    if len(titles) == 1:
        return (
            f"1 file matches a retired document, {titles[0]}: not restored. "
            "Restore it from its page if it should be searched again."
        )
    return (
        f"{len(titles)} files match retired documents, {', '.join(titles)}: not restored. "
        "Restore each from its page if it should be searched again."
    )


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


def _document_page(
    request: HttpRequest,
    document: Document,
    review_form: DocumentReviewForm,
    *,
    upload_errors: list[str] | None = None,
) -> HttpResponse:
    """The document's page; sent back (400) with the review form's errors, or with ``upload_errors``
    at the new version's file field."""
    versions = document.versions.select_related("uploaded_by").annotate(chunk_count=Count("chunks"))
    synced_from = document.source_items.select_related("source__collection").order_by("pk").first()
    current = document.current_version
    previous, lapsed = passage_services.version_exclusions_lapsed(current) if current else (None, [])
    return render(
        request,
        "documents/document_detail.html",
        {
            "document": document,
            "versions": versions,
            "review": review_of(document),
            # What retrieval does with it now (the same condition as its SQL), not what the flags say.
            "searched": document_searched(document),
            "lapsed": lapsed,
            "lapsed_from": previous,
            "review_form": review_form,
            "default_owner": review_services.document_owner(document),
            "synced_from": synced_from.source if synced_from else None,
            "origin_href": _origin_href(document.origin_url),
            "attachments": list(document.attachments.order_by("title", "pk")),
            # Every upload failed: it is removed (as if never uploaded), not retired.
            "never_read": Document.objects.never_read().filter(pk=document.pk).exists(),
            "version_form": VersionUploadForm(),
            "upload_errors": upload_errors or [],
            # For the error summary (beside the review form's errors), linked to the file field.
            "upload_problems": [(error, "#id_file") for error in upload_errors or []],
            "max_upload_mb": settings.HUMPHREY_MAX_UPLOAD_MB,
        },
        status=400 if review_form.errors or upload_errors else 200,
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
        searched_before = document_searched(document)
        try:
            with transaction.atomic():  # all of the form's changes or none
                reviewed = review_services.document_review_set(
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
            review = review_of(reviewed)
            searched_after = document_searched(reviewed)
            set_day = form.cleaned_data["review_by"]
            if set_day is not None and set_day < timezone.localdate():
                # Accepted: the date may be the true one (guidance nobody reviewed in time), and setting
                # it is how a curator stops an out-of-date document being searched. But it is said.
                messages.warning(request, _past_date_warning(document.title, review, searched_after))
            else:
                saved = f"Changes to “{document.title}” saved."
                if searched_before and not searched_after and review.status == ReviewStatus.EXPIRED:
                    messages.warning(request, f"{saved} {_expired_sentence(document.title, review)}")
                elif searched_after and not searched_before and document.is_active:
                    messages.success(request, f"{saved} It is searched again.")
                else:
                    messages.success(request, saved)
            return redirect("documents:document", document_id=document.pk)
    return _document_page(request, document, form)


@require_POST
@curator_only
def document_version_upload(request: HttpRequest, document_id: int) -> HttpResponse:
    """Upload the chosen file as the next version of this document, whatever its name ("Holiday
    entitlement v2.docx" for "Holiday entitlement"): the checks and refusals of any upload, said at the
    file field; what became of it said on the document's page."""
    document = access_document_for_curator(request.user, document_id)
    form = VersionUploadForm(request.POST, request.FILES)
    review_form = DocumentReviewForm(initial=_review_form_initial(document))
    if not form.is_valid():
        return _document_page(request, document, review_form, upload_errors=form.errors.get("file", []))
    upload = form.cleaned_data["file"]
    version, refusal, code = _upload_one(request, document.collection, upload, document=document)
    if version is None:
        if code == "same_file":
            refusal += " To make it this document's new version, retire that one first, then upload the file here."
        return _document_page(request, document, review_form, upload_errors=[refusal])
    name, title = document_services.document_source_name(upload.name), version.document.title
    if version.duplicate:
        messages.info(request, f"{name} is the same file as version {version.number}: nothing was changed.")
    elif version.status == VersionStatus.FAILED:  # kept, to be retried (the embedder's ceiling)
        messages.warning(
            request, f"{name} is kept as version {version.number}, but cannot be read now: {version.error}"
        )
    else:
        messages.success(request, f"{name} is queued for ingestion as version {version.number} of “{title}”.")
    if version.kept_retired and not version.duplicate:
        messages.warning(
            request,
            f"“{title}” is retired: its new version is read but not searched. "
            "Restore it if it should be searched again.",
        )
    if version.review_date_clears is not None:
        messages.info(
            request,
            f"Its review date, {_long_date(version.review_date_clears)}, has passed, so it is cleared once the new "
            "version is read: a new version is new guidance, and the file's own review date or the collection's "
            "review period applies again.",
        )
    return redirect("documents:document", document_id=document.pk)


def _expired_sentence(title: str, review) -> str:
    days = (review.expires_on - review.review_by).days
    passed = "has passed" if days == 0 else f"passed more than {days} day{'s' if days != 1 else ''} ago"
    return f"“{title}” is no longer searched: its review date, {_long_date(review.review_by)}, {passed}."


def _past_date_warning(title: str, review, searched: bool) -> str:
    """What a curator is told after saving a review date that has already passed."""
    said = (
        f"Changes to “{title}” saved, but the review date you set, {_long_date(review.review_by)}, has already passed."
    )
    if review.status == ReviewStatus.EXPIRED and not searched:
        return (
            f"{said} {_expired_sentence(title, review)} If it is still correct, choose “Reviewed, still "
            "correct”; if not, upload a new version."
        )
    overdue = f"{said} It shows as overdue for review, and answers that cite it say so."
    if review.expires_on is not None:
        return f"{overdue} It will not be searched after {_long_date(review.expires_on)}."
    return f"{overdue} It is still searched."


@require_http_methods(["GET", "POST"])
@curator_only
def collection_never_read(request: HttpRequest, slug: str) -> HttpResponse:
    """The collection's documents that never held content (every upload of them failed when it was
    read: ``Document.objects.never_read``), each with why, removed together once the curator confirms
    (``?document=<id>``: that one alone). Only those listed are removed, and only if they still never
    held content (one being read again stays)."""
    collection = access_collection_for_curator(request.user, slug)
    if request.method == "POST":
        wanted = {int(pk) for pk in request.POST.getlist("document") if pk.isdigit()}
        removed = document_services.collection_never_read_clear(
            collection=collection, user=request.user, document_ids=wanted
        )
        if removed:
            names = ", ".join(d.source_name for d in removed)
            what = "document" if len(removed) == 1 else "documents"
            messages.success(request, f"Removed {len(removed)} {what} that could not be read: {names}.")
        if len(wanted) > len(removed):
            messages.info(
                request,
                f"{len(wanted) - len(removed)} could not be removed: being read again, or read by now.",
            )
        return redirect("documents:collection", slug=collection.slug)
    newest = DocumentVersion.objects.order_by("-number").only("id", "document_id", "number", "status", "error")
    documents = (
        Document.objects.filter(collection=collection)
        .never_read()
        .prefetch_related(Prefetch("versions", queryset=newest, to_attr="newest_first"))
        .order_by("title", "pk")
    )
    one = request.GET.get("document", "")
    if one.isdigit():
        documents = documents.filter(pk=int(one))
    documents = list(documents)
    for document in documents:
        document.latest = document.newest_first[0] if document.newest_first else None
    back = (
        reverse("documents:document", args=[documents[0].pk])
        if one.isdigit() and documents
        else reverse("documents:collection", args=[collection.slug])
    )
    return render(
        request,
        "documents/collection_never_read.html",
        {"collection": collection, "documents": documents, "back": back},
    )


@require_http_methods(["GET", "POST"])
@curator_only
def document_retire(request: HttpRequest, document_id: int) -> HttpResponse:
    """Retire a document, or restore a retired one: each confirmed on a page naming the file and the
    version it is about (two documents may share a title). Restoring is asked for by name
    (``action=restore``), so a retire form gone stale never brings a document back, nor the reverse."""
    document = access_document_for_curator(request.user, document_id)
    if request.method == "POST":
        if request.POST.get("action") == "restore":
            return _document_restore(request, document)
        if not document.is_active:
            messages.info(request, f"“{document.title}” was already retired. Nothing was changed.")
            return redirect("documents:document", document_id=document.pk)
        document_services.document_retire(document=document, user=request.user)
        messages.success(request, f"“{document.title}” is retired and will no longer be searched.")
        return redirect("documents:collection", slug=document.collection.slug)
    restoring = not document.is_active
    if restoring:
        version = document_services.document_restorable_version(document)
    else:
        version = DocumentVersion.objects.select_related("uploaded_by").filter(pk=document.current_version_id).first()
    return render(
        request,
        "documents/confirm_retire.html",
        {"thing": document, "kind": "document", "restore": restoring, "version": version},
    )


def _document_restore(request: HttpRequest, document: Document) -> HttpResponse:
    try:
        document = document_services.document_restore(document=document, user=request.user)
    except ValidationError as exc:
        (messages.info if exc.code == "active" else messages.error)(request, "; ".join(exc.messages))
        return redirect("documents:document", document_id=document.pk)
    document = Document.objects.select_related("collection", "current_version").get(pk=document.pk)
    number = document.current_version.number
    if document_searched(document):
        messages.success(request, f"“{document.title}” is restored: version {number} is searched again.")
    else:
        review = review_of(document)
        why = (
            f"its review date passed on {_long_date(review.review_by)} (expired). If it is still correct, "
            "choose “Reviewed, still correct”; if not, upload a new version"
            if review.status == ReviewStatus.EXPIRED
            else "every passage of it is switched off"
        )
        messages.warning(request, f"“{document.title}” is restored, but version {number} is not searched: {why}.")
    return redirect("documents:document", document_id=document.pk)


@require_GET
@curator_only
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = access_version_for_curator(request.user, version_id)
    lasting = document_services.version_lasting_refusal(version)
    chunks = version.chunks.only(
        "id",
        "ordinal",
        "anchor",
        "heading_path",
        "page",
        "token_count",
        "searchable",
        "excluded_at",
        "text",
        "char_start",
        "char_end",
    )
    previous, lapsed = passage_services.version_exclusions_lapsed(version)
    # As retrieval has it now: an expired document's chunks keep their flag but are not searched.
    searched = set(Chunk.objects.searched().filter(version=version).values_list("pk", flat=True))
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
            "lapsed": lapsed,
            "lapsed_from": previous,
            "searched": searched,
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
