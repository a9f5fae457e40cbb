"""Passages: a chunk highlighted in its version's whole text (curators), and the read-only passage a
citation opens (readers of its collection, or the person it was cited to)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from audit.actions import Action, subject
from audit.services import audit_record

from ..access import access_chunk_for_curator, access_passage, curator_only
from ..citations import cited_to
from ..places import passage_place
from ..services.passages import chunk_exclude, chunk_include
from .text import chunk_context, highlight_spans, passage_parts

#: What may close a quoted reason, before the closing quotation marks and brackets that may follow it.
_SENTENCE_ENDS = (".", "?", "!", "…")


def reason_stop(reason: str) -> str:
    """The full stop to write after “reason” when it closes a sentence: none if the reason ends one
    itself ("… to 30 days." or "Is this still right?"), as a quotation's own stop stands for both."""
    return "" if reason.rstrip().rstrip("\"'”’)]").endswith(_SENTENCE_ENDS) else "."


def _chunk_page(request: HttpRequest, chunk, status: int = 200, **extra) -> HttpResponse:
    return render(
        request,
        "documents/chunk_detail.html",
        {
            "chunk": chunk,
            "version": chunk.version,
            "context": chunk_context(chunk, window=None),
            "words": len(chunk.text.split()),
            "reason_stop": reason_stop(chunk.excluded_reason or ""),
            **extra,
        },
        status=status,
    )


@require_GET
@curator_only
def chunk_detail(request: HttpRequest, chunk_id: int) -> HttpResponse:
    """A chunk highlighted in the whole text of its version (for curators)."""
    return _chunk_page(request, access_chunk_for_curator(request.user, chunk_id))


@require_POST
@curator_only
def chunk_exclusion(request: HttpRequest, chunk_id: int) -> HttpResponse:
    """Switch a passage off (with a reason) or put it back."""
    chunk = access_chunk_for_curator(request.user, chunk_id)
    action, reason = request.POST.get("action"), request.POST.get("reason", "")
    try:
        if action == "exclude":
            chunk_exclude(chunk=chunk, user=request.user, reason=reason)
            messages.success(request, "This passage is no longer searched. Answers that cited it still show it.")
        elif action == "include":
            chunk = chunk_include(chunk=chunk, user=request.user)
            again = "This passage is searched again."
            messages.success(request, again if chunk.searchable else "This passage is back in its version.")
        else:
            return HttpResponse("Choose exclude or include.", status=400)
    except ValidationError as exc:
        # The page again, as GOV.UK forms do: its error summary (which takes focus) linked to the reason
        # box, shown open with its own error. A notice after a redirect was neither focused nor read
        # out, and left the box it was about closed.
        about_reason = action == "exclude" and any(
            error.code in {"required", "invisible", "too_long"} for error in exc.error_list
        )
        return _chunk_page(
            request,
            access_chunk_for_curator(request.user, chunk_id),  # as it is now, whatever the attempt found
            problems=[(message, "#exclusion-reason" if about_reason else "") for message in exc.messages],
            reason_errors=exc.messages if about_reason else [],
            reason=reason,
            status=400,
        )
    return redirect("documents:chunk", chunk_id=chunk.pk)


@require_GET
@login_required
def passage(request: HttpRequest, chunk_id: int) -> HttpResponse:
    """A cited passage, read-only, in its surrounding text, for anyone who may read its collection."""
    chunk, by_citation = access_passage(request.user, chunk_id)
    if by_citation:
        # Recorded: a passage no longer searched, read because an answer gave it to this person.
        audit_record(
            action=Action.PASSAGE_READ_CITED,
            actor=request.user,
            outcome="read",
            subject=subject("chunk", chunk.pk),
            data={
                "chunk_id": chunk.pk,
                "version_id": chunk.version_id,
                "document_id": chunk.version.document_id,
                "collection_id": chunk.collection_id,
            },
        )
    version = chunk.version
    document = version.document
    title = document.title if document.title_set_by_curator else (version.title or document.title)
    section, place = passage_place(title, chunk.heading_path, chunk.anchor)
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
            "section": section,
            "place": place,
            "context": context,
            "is_current": version.document.current_version_id == version.pk,
            "chat_url": _safe_reverse("assistant:index"),
            # Opened from an answer that cited it, or from a "not covered" reply's nearest guidance (or
            # a link from elsewhere): the page says which, rather than call every passage cited.
            "cited": by_citation or cited_to(request.user, chunk.pk),
            "back_to_chat": _back_to_chat(request),
        },
    )


def _back_to_chat(request: HttpRequest) -> str:
    """The chat page the person opened the citation from, on this site ("" when they came from
    elsewhere): a passage opened from an answer leads back to it."""
    referer = request.META.get("HTTP_REFERER", "")
    if not referer or not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    path = urlsplit(referer).path
    try:
        match = resolve(path)
    except Resolver404:
        return ""
    return path if match.namespace == "assistant" and match.url_name in ("index", "conversation") else ""


def _safe_reverse(name: str) -> str:
    try:
        return reverse(name)
    except Exception:  # the chat app may name its pages differently
        return reverse("home")
