"""A collection's synced sources, as its curators manage them: add one, its status page (last and
next run, what each run changed, every page or file it holds), change it, pause or resume it, read
it now, remove it.

The collection comes through its door (``access_collection_for_curator``) and the source is looked
up among that collection's own, so another curator's source is a 404 like anything of theirs. Every
change goes through ``documents.services.sources``, whose ``ValidationError`` messages are written
for people and shown as they are.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..access import access_collection_for_curator, curator_only
from ..forms import Radios, VisibleCharField
from ..models import Collection, DocumentVersion, Source, SourceKind
from ..services import sources as source_services
from ..sources.credentials import credentials

#: What each kind of source wants in its location box (the radios' hints).
KIND_HINTS = {
    SourceKind.PAGES: "One address per line, each starting https:// (or http://).",
    SourceKind.SITEMAP: "The sitemap.xml address: every page it lists is read.",
    SourceKind.GOVUK: "Paths such as /guidance/working-from-home, one per line.",
    SourceKind.FOLDER: "A folder under the shared folders this service allows.",
}
#: The status page lists this many runs, and at most this many pages or files.
RUNS_SHOWN = 20
ITEMS_SHOWN = 500


class SourceForm(forms.Form):
    """A new source's kind, where it reads and how often (the service checks the location)."""

    kind = forms.ChoiceField(
        choices=SourceKind.choices,
        widget=Radios,
        label="What kind of source is it?",
        error_messages={"required": "Choose what kind of source it is", "invalid_choice": "Choose a kind of source"},
    )
    location = VisibleCharField(
        what="Where it is",
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=200_000,
        label="Where is it?",
        error_messages={"required": "Enter the addresses, GOV.UK paths or folder to read"},
    )
    every_hours = forms.IntegerField(
        label="Read it again every",
        min_value=1,
        max_value=source_services.MAX_EVERY_HOURS,
        error_messages={
            "required": "Enter how many hours apart it is read",
            "invalid": "Enter a whole number of hours",
            "min_value": f"Enter a number of hours from 1 to {source_services.MAX_EVERY_HOURS}",
            "max_value": f"Enter a number of hours from 1 to {source_services.MAX_EVERY_HOURS}",
        },
    )

    credential = forms.ChoiceField(
        required=False,
        label="Does it need signing in to?",
        error_messages={"invalid_choice": "Choose one of the credentials listed"},
    )

    def __init__(self, *args, with_kind: bool = True, current_credential: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # No folder may be read unless the operator named the shared folders sources may lie under:
        # then "Folder" is not offered at all, rather than offered and refused.
        self.folders_allowed = bool(settings.HUMPHREY_SOURCE_ALLOWED_ROOTS)
        if not with_kind:
            del self.fields["kind"]
        elif not self.folders_allowed:
            self.fields["kind"].choices = [(v, label) for v, label in SourceKind.choices if v != SourceKind.FOLDER]
        # Only what the operator configured (HUMPHREY_SOURCE_CREDENTIALS), by name; no field without any.
        # One the source names that has since been removed stays a choice, so saving does not drop it.
        choices = [(n, n) for n in sorted(credentials())]
        if current_credential and current_credential not in dict(choices):
            choices.append((current_credential, f"{current_credential} (no longer set up: its runs fail)"))
        if choices:
            self.fields["credential"].choices = [("", "No"), *choices]
        else:
            del self.fields["credential"]


def _source(request: HttpRequest, slug: str, source_id: int) -> tuple[Collection, Source]:
    """The collection through its door, then the source among that collection's own (else 404)."""
    collection = access_collection_for_curator(request.user, slug)
    return collection, get_object_or_404(collection.sources.all(), pk=source_id)


def _service_errors(form: SourceForm, exc: ValidationError) -> None:
    """The service's refusal on the field it is about (error summary and the field's own error), or on
    the form as a whole when it is about none of the fields shown (a source's kind cannot be changed)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _kinds(form: SourceForm) -> list[dict]:
    """The kinds this service can read, as radios (no folder unless folders are allowed)."""
    chosen = form["kind"].value()
    return [
        {"value": value, "label": label, "hint": KIND_HINTS[value], "checked": chosen == value}
        for value, label in form.fields["kind"].choices
    ]


@require_http_methods(["GET", "POST"])
@curator_only
def source_add(request: HttpRequest, slug: str) -> HttpResponse:
    collection = access_collection_for_curator(request.user, slug)
    form = SourceForm(request.POST or None, initial={"every_hours": settings.HUMPHREY_SOURCE_EVERY_HOURS})
    if request.method == "POST" and form.is_valid():
        try:
            source = source_services.source_add(
                collection=collection,
                kind=form.cleaned_data["kind"],
                location=form.cleaned_data["location"],
                every_hours=form.cleaned_data["every_hours"],
                credential=form.cleaned_data.get("credential") or "",
                user=request.user,
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, "Added: it will be read in a moment.")
            return redirect("documents:source", slug=collection.slug, source_id=source.pk)
    return render(
        request,
        "documents/source_form.html",
        {"collection": collection, "form": form, "kinds": _kinds(form)},
        status=400 if form.errors else 200,
    )


@require_GET
@curator_only
def source_detail(request: HttpRequest, slug: str, source_id: int) -> HttpResponse:
    collection, source = _source(request, slug, source_id)
    runs = list(source.runs.order_by("-started_at", "-pk")[:RUNS_SHOWN])
    # The newest version too: one that failed to ingest (a page that became unreadable) is a problem
    # to show, though the document's current version is still the last good one.
    newest = DocumentVersion.objects.filter(document=OuterRef("document")).order_by("-number")
    items = list(
        source.items.select_related("document__current_version")
        .annotate(
            newest_id=Subquery(newest.values("pk")[:1]),
            newest_number=Subquery(newest.values("number")[:1]),
            newest_status=Subquery(newest.values("status")[:1]),
            newest_error=Subquery(newest.values("error")[:1]),
        )
        .order_by("key")[: ITEMS_SHOWN + 1]
    )
    capped = len(items) > ITEMS_SHOWN
    return render(
        request,
        "documents/source_detail.html",
        {
            "collection": collection,
            "source": source,
            "locations": [line.strip() for line in source.location.splitlines() if line.strip()],
            "runs": runs,
            "items": items[:ITEMS_SHOWN],
            "items_total": source.items.count() if capped else len(items),
            "capped": capped,
            "items_shown": ITEMS_SHOWN,
        },
    )


@require_http_methods(["GET", "POST"])
@curator_only
def source_edit(request: HttpRequest, slug: str, source_id: int) -> HttpResponse:
    """Change where a source reads and how often (its kind stays: a new kind is a new source)."""
    collection, source = _source(request, slug, source_id)
    form = SourceForm(
        request.POST or None,
        with_kind=False,
        initial={"location": source.location, "every_hours": source.every_hours, "credential": source.credential},
        current_credential=source.credential,
    )
    if request.method == "POST" and form.is_valid():
        try:
            source_services.source_update(
                source=source,
                user=request.user,
                location=form.cleaned_data["location"],
                every_hours=form.cleaned_data["every_hours"],
                credential=form.cleaned_data["credential"] if "credential" in form.fields else None,
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("documents:source", slug=collection.slug, source_id=source.pk)
    return render(
        request,
        "documents/source_form.html",
        {"collection": collection, "source": source, "form": form},
        status=400 if form.errors else 200,
    )


@require_POST
@curator_only
def source_sync(request: HttpRequest, slug: str, source_id: int) -> HttpResponse:
    collection, source = _source(request, slug, source_id)
    try:
        queued = source_services.source_sync_now(source=source, user=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        # With no task worker to queue it for (HUMPHREY_TASKS_IMMEDIATE) it was read just now.
        messages.success(request, "Queued: it will be read in a moment." if queued else "Read just now.")
    return redirect("documents:source", slug=collection.slug, source_id=source.pk)


@require_POST
@curator_only
def source_pause(request: HttpRequest, slug: str, source_id: int) -> HttpResponse:
    """Pause an active source, or resume a paused one (it is then read again at once)."""
    collection, source = _source(request, slug, source_id)
    resume = not source.is_active
    try:
        source_services.source_update(source=source, user=request.user, active=resume)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(
            request,
            "Resumed: it will be read in a moment." if resume else "Paused: it is not read until you resume it.",
        )
    return redirect("documents:source", slug=collection.slug, source_id=source.pk)


@require_http_methods(["GET", "POST"])
@curator_only
def source_remove(request: HttpRequest, slug: str, source_id: int) -> HttpResponse:
    """Ask first; then stop syncing it, keeping its documents (kept by hand from now on) or retiring them."""
    collection, source = _source(request, slug, source_id)
    if request.method == "POST":
        retire = request.POST.get("retire_documents") == "yes"
        retired = source_services.source_remove(source=source, user=request.user, retire_documents=retire)
        if retire:
            messages.success(request, f"Source removed and {retired} of its documents retired.")
        else:
            messages.success(request, "Source removed. Its documents stay, and are now kept up to date by hand.")
        return redirect("documents:collection", slug=collection.slug)
    documents = source.items.filter(document__is_active=True).count()
    return render(
        request,
        "documents/source_remove.html",
        {"collection": collection, "source": source, "documents": documents},
    )
