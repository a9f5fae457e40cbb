"""Auditor pages: read-only, auditors only, and every view, search and export is itself recorded.

Each view passes through ``role_required(Role.AUDITOR)`` (sign-in, then role: 403 otherwise,
whoever else the person is: curator, staff or superuser). Nothing here writes anything but the
audit event recording the auditor's own reading.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import F
from django.db.models.fields.json import KeyTextTransform
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Role, role_required
from audit.actions import Action, subject
from audit.exports import aexport_rows, export_queryset
from audit.forms import AuditFilterForm, PersonForm
from audit.integrity import audit_verify
from audit.models import AuditEvent, LegalHold
from audit.selectors import AuditFilters, model_failure, model_use, tokens_recorded
from audit.services import NO_CONTENT, audit_record

PAGE_SIZE = 50
auditor_only = role_required(Role.AUDITOR)


def _filtered(request: HttpRequest) -> tuple[AuditFilterForm, AuditFilters | None]:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return form, None
    return form, form.filters()


def _listing(queryset):
    """What a results table needs, without loading whole content bodies."""
    return (
        queryset.with_feedback()
        .annotate(question=KeyTextTransform("question", "content__body"), content_present=F("content__event_id"))
        .only("seq", "created_at", "action", "outcome", "actor_label", "subject", "data", "content_sha256")
    )


def _page(events, request: HttpRequest):
    """One page of results, read now: before the audit event recording this reading joins the trail."""
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    return page


@require_GET
@auditor_only
def search(request: HttpRequest) -> HttpResponse:
    form, filters = _filtered(request)
    page = None
    if filters is not None:
        events = _listing(AuditEvent.objects.matching(filters)).order_by("-seq")
        page = _page(events, request)
        audit_record(
            action=Action.AUDIT_SEARCH,
            actor=request.user,
            data={"filters": filters.as_record(), "page": page.number, "results": page.paginator.count},
        )
    else:
        audit_record(
            action=Action.AUDIT_SEARCH, actor=request.user, outcome="invalid", data={"errors": list(form.errors)}
        )
    query = urlencode(filters.as_query()) if filters else ""
    return render(
        request,
        "audit/search.html",
        {"form": form, "page": page, "query": query},
        status=200 if filters is not None else 400,
    )


def _passages_seen(event: AuditEvent, body: dict | None) -> list[dict]:
    """Each passage the model was shown: scores and version digest (data) beside its text (content)."""
    texts = {p.get("n"): p for p in (body or {}).get("passages") or [] if isinstance(p, dict)}
    cited = {c.get("n") for c in event.data.get("citations") or [] if isinstance(c, dict)}
    merged = []
    for facts in event.data.get("passages") or []:
        if not isinstance(facts, dict):
            continue
        merged.append({**facts, **{k: v for k, v in texts.get(facts.get("n"), {}).items() if k not in facts}})
        merged[-1]["cited"] = facts.get("n") in cited
    return merged


def _feedback_for(message_id) -> list[AuditEvent]:
    if message_id is None:
        return []
    return list(
        AuditEvent.objects.filter(action=Action.FEEDBACK, data__message_id=message_id)
        .select_related("content")
        .order_by("seq")
    )


def _content_of(event: AuditEvent) -> dict | None:
    try:
        return event.content.body
    except AuditEvent.content.RelatedObjectDoesNotExist:
        return None


def _trace(event: AuditEvent) -> dict:
    body = _content_of(event)
    return {
        "event": event,
        "body": body,
        "purged": body is None and event.content_sha256 != NO_CONTENT,
        "passages": _passages_seen(event, body) if event.action == "answer" else [],
        # Whether a language model was called, and so what the passages, prompt and tokens were for.
        "use": model_use(event.data),
        "failed": model_failure(event.data),
        "tokens_recorded": tokens_recorded(event.data),
        "feedback": _feedback_for(event.data.get("message_id")) if event.action == "answer" else [],
    }


@require_GET
@auditor_only
def event_detail(request: HttpRequest, seq: int) -> HttpResponse:
    event = AuditEvent.objects.select_related("content").filter(seq=seq).first()
    if event is None:
        raise Http404("No such audit event")
    audit_record(
        action=Action.AUDIT_VIEW, actor=request.user, subject=subject("audit_event", seq), data={"page": "event"}
    )
    trace = _trace(event)
    return render(request, "audit/event.html", {**trace, "trace_self": trace})


@require_GET
@auditor_only
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    events = list(AuditEvent.objects.of_conversation(conversation_id).select_related("content").order_by("seq")[:1000])
    audit_record(
        action=Action.AUDIT_VIEW,
        actor=request.user,
        subject=subject("conversation", conversation_id),
        data={"page": "conversation", "events": len(events)},
    )
    traces = [_trace(e) for e in events if e.action == "answer"]
    return render(
        request,
        "audit/conversation.html",
        {"conversation_id": conversation_id, "traces": traces, "events": events},
    )


def _stream(queryset, kind: str, filename: str) -> StreamingHttpResponse:
    content_type = "text/csv; charset=utf-8" if kind == "csv" else "application/x-ndjson; charset=utf-8"
    response = StreamingHttpResponse(aexport_rows(export_queryset(queryset), kind), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@auditor_only
def export(request: HttpRequest, kind: str) -> HttpResponse:
    form, filters = _filtered(request)
    if filters is None:
        return render(request, "audit/search.html", {"form": form, "page": None, "query": ""}, status=400)
    audit_record(action=Action.AUDIT_EXPORT, actor=request.user, data={"format": kind, "filters": filters.as_record()})
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return _stream(AuditEvent.objects.matching(filters), kind, f"audit-{stamp}.{'csv' if kind == 'csv' else 'jsonl'}")


@require_http_methods(["GET", "POST"])
@auditor_only
def verify(request: HttpRequest) -> HttpResponse:
    result = None
    if request.method == "POST":
        result = audit_verify()
        audit_record(
            action=Action.AUDIT_VERIFY,
            actor=request.user,
            outcome="ok" if result.ok else "failed",
            data=result.as_record(),
        )
    else:
        audit_record(action=Action.AUDIT_VIEW, actor=request.user, data={"page": "verify"})
    return render(request, "audit/verify.html", {"result": result})


def _person(form: PersonForm):
    email = form.cleaned_data["email"].strip().lower()
    return email, get_user_model().objects.filter(email__iexact=email).first()


def _person_events(email: str, person):
    if person is not None:
        return AuditEvent.objects.about_person(person)
    return AuditEvent.objects.filter(data__contains={"email": email})


@require_GET
@auditor_only
def person(request: HttpRequest) -> HttpResponse:
    """Everything about one person, for a subject-access or FOI request."""
    form = PersonForm(request.GET if "email" in request.GET else None)
    context: dict = {"form": form}
    if form.is_bound and form.is_valid():
        email, who = _person(form)
        events = _listing(_person_events(email, who)).order_by("-seq")
        page = _page(events, request)
        context |= {
            "email": email,
            "person": who,
            "page": page,
            "query": urlencode({"email": email}),
            "holds": LegalHold.objects.filter(user=who) if who else [],
        }
        audit_record(
            action=Action.AUDIT_SUBJECT_ACCESS,
            actor=request.user,
            subject=subject("user", who.pk) if who else "",
            data={"email": email, "page": page.number, "results": page.paginator.count},
        )
    elif form.is_bound:
        audit_record(action=Action.AUDIT_SUBJECT_ACCESS, actor=request.user, outcome="invalid")
    else:
        audit_record(action=Action.AUDIT_VIEW, actor=request.user, data={"page": "subject_access"})
    return render(request, "audit/person.html", context, status=400 if form.is_bound and form.errors else 200)


@require_GET
@auditor_only
def person_export(request: HttpRequest) -> HttpResponse:
    form = PersonForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/person.html", {"form": form}, status=400)
    email, who = _person(form)
    audit_record(
        action=Action.AUDIT_EXPORT,
        actor=request.user,
        subject=subject("user", who.pk) if who else "",
        data={"format": "jsonl", "subject_access": email},
    )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return _stream(_person_events(email, who), "jsonl", f"subject-access-{stamp}.jsonl")
