"""Auditor pages: read-only, auditors only, and every view, search and export is itself recorded.

Each view passes through ``role_required(Role.AUDITOR)`` (sign-in, then role: 403 otherwise,
whoever else the person is: curator, staff or superuser). Nothing here writes anything but the
audit event recording the auditor's own reading. Every response is marked ``no-store``: the pages
hold personal data and what people asked, which no browser or proxy cache should keep.

Listings are pinned to the head of the chain when first shown (``as_of``, carried in every page and
export link) and paged by seq: the auditor's own reading, recorded as it happens, never moves a row
from one page to the next, and an export holds exactly the events the page counted.
"""

# Over 500 lines by design: every auditors' page and download shares the same few steps (the role
# and reason checks, the filters, the pin to the head, the person looked up, the recording of the
# reading); the exports are the listings' own rows, so splitting pages from downloads would split
# those steps between two modules that must agree.

from __future__ import annotations

import posixpath
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F
from django.db.models.fields.json import KeyTextTransform
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Role, role_required
from audit.actions import Action, subject
from audit.export_check import check_export, recorded_keys
from audit.export_signing import ExportKey, ExportKeyError, export_key
from audit.exports import aexport_rows, arecorded, export_queryset, hashed_time
from audit.forms import AuditFilterForm, ExportFileForm, PersonForm, PurposeForm
from audit.integrity import audit_verify, holds_in_force
from audit.models import AuditEvent, LegalHold
from audit.purpose import current_purpose, purpose_required, state_purpose
from audit.selectors import (
    AuditFilters,
    KeysetPage,
    keyset_page,
    model_failure,
    model_use,
    tokens_recorded,
)
from audit.services import NO_CONTENT, audit_record
from audit.subject_access import personal_records, records_document

PAGE_SIZE = 50
#: Events of one conversation per page: each answer is shown with its whole trace.
CONVERSATION_PAGE_SIZE = 100
auditor_only = role_required(Role.AUDITOR)


def _filtered(request: HttpRequest) -> tuple[AuditFilterForm, AuditFilters | None]:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return form, None
    return form, form.filters()


def _seq_param(request: HttpRequest, name: str) -> int | None:
    """A seq from the query string; a malformed one is ignored (the list starts afresh)."""
    raw = request.GET.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _pin(request: HttpRequest) -> int:
    """The head the listing is read as of: the link's ``as_of``, or the head now (before the event
    recording this reading is written). Never past the head: no pin can take in later events."""
    head = AuditEvent.objects.head_seq()
    asked = _seq_param(request, "as_of")
    return head if asked is None else min(asked, head)


def _page(queryset, request: HttpRequest, *, as_of: int, size: int = PAGE_SIZE, newest_first: bool = True):
    return keyset_page(
        queryset,
        size=size,
        as_of=as_of,
        before=_seq_param(request, "before"),
        after=_seq_param(request, "after"),
        newest_first=newest_first,
    )


def _link_pages(page: KeysetPage, base: dict[str, str], *, newest_first: bool = True) -> None:
    """Give ``page`` the query strings of the pages either side (read by ``_pagination.html``)."""
    pinned = {**base, "as_of": str(page.as_of)}
    back, on = ("after", "before") if newest_first else ("before", "after")
    seqs = page.seqs
    # A page with no rows (a cursor past either end, from a link edited by hand) leads back to the first.
    page.previous_query = urlencode({**pinned, back: seqs[0]} if seqs else pinned)
    page.next_query = urlencode({**pinned, on: seqs[-1]} if seqs else pinned)
    page.current_query = urlencode({**pinned, on: seqs[0] + (1 if newest_first else -1)} if seqs else pinned)
    page.pinned_query = urlencode(pinned)


def _listing(queryset, as_of: int) -> object:
    """What a results table needs, without loading whole content bodies."""
    if "feedback" not in queryset.query.annotations:
        queryset = queryset.with_feedback(as_of)
    return queryset.annotate(
        question=KeyTextTransform("question", "content__body"), content_present=F("content__event_id")
    ).only("seq", "created_at", "action", "outcome", "actor_label", "subject", "data", "content_sha256")


def _name_models(events) -> None:
    """The model each answer row names: none when no model was called (not covered, refused), though
    the event records the configured one, as the trace and the CSV export say."""
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        model = data.get("model") if isinstance(data.get("model"), dict) else {}
        called = event.action == Action.ANSWER and model_use(data) != "none"
        event.model_name = model.get("name") if called else ""
        failed = model.get("instead_of") if called else None
        event.model_instead_of = failed.get("name") if isinstance(failed, dict) else ""


def _page_context(page: KeysetPage, base: dict[str, str], request: HttpRequest) -> dict:
    _link_pages(page, base)
    _name_models(page.object_list)
    return {
        "page": page,
        "query": urlencode(base),
        "pinned": "as_of" in request.GET,
        "time_zone": settings.TIME_ZONE,
    }


@never_cache
@require_GET
@auditor_only
@purpose_required
def search(request: HttpRequest) -> HttpResponse:
    form, filters = _filtered(request)
    context: dict = {"form": form, "page": None, "query": "", "time_zone": settings.TIME_ZONE}
    if filters is not None:
        as_of = _pin(request)
        base = filters.as_query()
        page = _page(_listing(AuditEvent.objects.matching(filters, as_of), as_of), request, as_of=as_of)
        context |= _page_context(page, base, request)
        audit_record(
            action=Action.AUDIT_SEARCH,
            actor=request.user,
            data={
                "filters": filters.as_record(),
                "as_of": as_of,
                "page": page.number,
                "results": page.count,
                "shown": page.seqs,
            },
        )
    else:
        audit_record(
            action=Action.AUDIT_SEARCH, actor=request.user, outcome="invalid", data={"errors": list(form.errors)}
        )
    return render(request, "audit/search.html", context, status=200 if filters is not None else 400)


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


@never_cache
@require_GET
@auditor_only
@purpose_required
def event_detail(request: HttpRequest, seq: int) -> HttpResponse:
    event = AuditEvent.objects.select_related("content").filter(seq=seq).first()
    if event is None:
        raise Http404("No such audit event")
    audit_record(
        action=Action.AUDIT_VIEW, actor=request.user, subject=subject("audit_event", seq), data={"page": "event"}
    )
    trace = _trace(event)
    context = {
        **trace,
        "trace_self": trace,
        "time_zone": settings.TIME_ZONE,
        "hashed_at": hashed_time(event.created_at),
    }
    return render(request, "audit/event.html", context)


@never_cache
@require_GET
@auditor_only
@purpose_required
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Every event of one conversation, oldest first: answers with their whole trace, and the rest
    (feedback, its deletion, legal holds, auditors' reading of it) as recorded."""
    as_of = _pin(request)
    events = AuditEvent.objects.of_conversation(conversation_id)
    page = _page(
        events.select_related("content"), request, as_of=as_of, size=CONVERSATION_PAGE_SIZE, newest_first=False
    )
    _link_pages(page, {}, newest_first=False)
    answers = events.filter(seq__lte=as_of, action=Action.ANSWER).count()
    audit_record(
        action=Action.AUDIT_VIEW,
        actor=request.user,
        subject=subject("conversation", conversation_id),
        data={"page": "conversation", "as_of": as_of, "events": page.count, "shown": page.seqs},
    )
    items = [
        {"event": e, "trace": _trace(e)} if e.action == Action.ANSWER else {"event": e, "body": _content_of(e)}
        for e in page.object_list
    ]
    return render(
        request,
        "audit/conversation.html",
        {
            "conversation_id": conversation_id,
            "items": items,
            "page": page,
            "answers": answers,
            "pinned": "as_of" in request.GET,
            "time_zone": settings.TIME_ZONE,
        },
    )


def _head(seq: int) -> dict:
    """``{seq, sha256}`` of event ``seq`` (the head a set was cut from); seq 0 is the empty chain."""
    digest = AuditEvent.objects.filter(seq=seq).values_list("sha256", flat=True).first() if seq else None
    return {"seq": seq, "sha256": digest or NO_CONTENT}


def _recorded_key(request: HttpRequest) -> ExportKey:
    """The export signing key, its public half recorded in the trail before its first signature (so
    a checker takes the key from the chain, not from the file it is checking)."""
    key = export_key()
    if not AuditEvent.objects.filter(action=Action.AUDIT_EXPORT_KEY, data__key_id=key.key_id).exists():
        audit_record(
            action=Action.AUDIT_EXPORT_KEY,
            actor=request.user,
            data={"key_id": key.key_id, "algorithm": "Ed25519", "public_key": key.public_pem},
        )
    return key


_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
    "records": "application/json; charset=utf-8",
}


def _sent_file(request: HttpRequest, body, *, recorded: AuditEvent, kind: str, filename: str, subject_: str):
    """``body`` streamed as a download, and once its last byte has gone, ``audit.export_complete``
    recording its size and SHA-256 against the event that recorded the export (``recorded``)."""

    def complete(size: int, sha256: str) -> None:
        audit_record(
            action=Action.AUDIT_EXPORT_COMPLETE,
            actor=request.user,
            subject=subject_,
            data={"export": recorded.seq, "format": kind, "filename": filename, "bytes": size, "sha256": sha256},
            request=request,
        )

    response = StreamingHttpResponse(arecorded(body, complete), content_type=_CONTENT_TYPES[kind])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _export(request: HttpRequest, events, *, kind: str, as_of: int, what: dict, subject_: str, filename: str):
    """Record the export (what was asked for, how many rows, as of which head), then stream it, and
    record its completion (bytes and SHA-256 of the file sent) once the last byte has gone.

    The rows are the events up to ``as_of``: the ones the page counted, whatever has been written
    since, this export's own event among them. A JSON Lines export ends with its signed manifest.
    """
    try:
        key = _recorded_key(request)
    except ExportKeyError as exc:
        # Never an unsigned export: say why, and who can mend it (the message names the path, not the key).
        return render(request, "audit/export_unavailable.html", {"reason": str(exc)}, status=503)
    rows = events.count()
    recorded = audit_record(
        action=Action.AUDIT_EXPORT,
        actor=request.user,
        subject=subject_,
        data={"format": kind, **what, "as_of": as_of, "rows": rows},
    )
    manifest = {
        **what,
        "as_of": _head(as_of),
        # The head when the export was made: the event recording it, which the trail keeps.
        "head": {"seq": recorded.seq, "sha256": recorded.sha256, "action": recorded.action},
        "exported_at": hashed_time(recorded.created_at),
        "rows_expected": rows,
        "purpose": getattr(request, "audit_purpose", ""),  # the reason the auditor gave for reading
    }
    body = aexport_rows(export_queryset(events, as_of), kind, manifest if kind == "jsonl" else None, key)

    response = _sent_file(request, body, recorded=recorded, kind=kind, filename=filename, subject_=subject_)
    response["X-Audit-Export-Rows"] = str(rows)
    response["X-Audit-Export-As-Of"] = str(as_of)
    response["X-Audit-Export-Event"] = str(recorded.seq)
    return response


def _stamp() -> str:
    return timezone.now().strftime("%Y%m%dT%H%M%SZ")


@never_cache
@require_GET
@auditor_only
@purpose_required
def export(request: HttpRequest, kind: str) -> HttpResponse:
    form, filters = _filtered(request)
    if filters is None:
        context = {"form": form, "page": None, "query": "", "time_zone": settings.TIME_ZONE}
        return render(request, "audit/search.html", context, status=400)
    as_of = _pin(request)
    return _export(
        request,
        AuditEvent.objects.matching(filters, as_of),
        kind=kind,
        as_of=as_of,
        what={"filters": filters.as_record()},
        subject_="",
        filename=f"audit-{_stamp()}.{'csv' if kind == 'csv' else 'jsonl'}",
    )


#: Downloads are never gone to straight from the reason page (a link could otherwise have an auditor
#: download someone's records by typing any reason): the page offering each is, with the same query.
_OFFERED_BY = {
    "export_csv": "audit:search",
    "export_jsonl": "audit:search",
    "person_export": "audit:person",
    "person_records": "audit:person",
    "purpose": "audit:search",
}


def _next_page(request: HttpRequest) -> str:
    """Where to go once the reason is given: an auditors' page of this site (dot segments resolved
    first, so "/audit/../" leads nowhere else), a download's page rather than the download; else the search."""
    target = urlsplit(request.POST.get("next") or request.GET.get("next") or "")
    if target.scheme or target.netloc or not target.path.startswith("/"):
        return reverse("audit:search")
    path = posixpath.normpath(target.path) + ("/" if target.path.endswith("/") else "")
    try:
        match = resolve(path)
    except Resolver404:
        return reverse("audit:search")
    if match.namespace != "audit":
        return reverse("audit:search")
    if match.url_name in _OFFERED_BY:
        path = reverse(_OFFERED_BY[match.url_name])
    return f"{path}?{target.query}" if target.query else path


@never_cache
@require_http_methods(["GET", "POST"])
@auditor_only
def purpose(request: HttpRequest) -> HttpResponse:
    """Ask why the auditor is reading, before any page showing what people asked; record the answer."""
    form = PurposeForm(request.POST) if request.method == "POST" else PurposeForm()
    if request.method == "POST" and form.is_valid():
        reference = form.cleaned_data["reference"]
        state_purpose(request, reference)
        audit_record(action=Action.AUDIT_PURPOSE, actor=request.user, data={"purpose": reference})
        return redirect(_next_page(request))
    context = {"form": form, "next": _next_page(request), "current": current_purpose(request)}
    return render(request, "audit/purpose.html", context, status=400 if form.errors else 200)


@never_cache
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


@never_cache
@require_http_methods(["GET", "POST"])
@auditor_only
def verify_export(request: HttpRequest) -> HttpResponse:
    """Check an export that has come back (whole, unaltered, signed, this site's), and show the keys."""
    form = ExportFileForm(request.POST, request.FILES) if request.method == "POST" else ExportFileForm()
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        result = check_export(b"".join(upload.chunks()))
        audit_record(
            action=Action.AUDIT_VERIFY,
            actor=request.user,
            outcome="ok" if result.ok else "failed",
            data={"export": result.as_record(), "file": upload.name[:200]},
        )
    elif request.method == "POST":
        audit_record(action=Action.AUDIT_VERIFY, actor=request.user, outcome="invalid", data={"export": None})
    else:
        audit_record(action=Action.AUDIT_VIEW, actor=request.user, data={"page": "verify_export"})
    context = {
        "form": form,
        "result": result,
        "filename": upload.name if result else "",
        "keys": recorded_keys(),
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "audit/verify_export.html", context, status=400 if form.errors else 200)


def _person(form: PersonForm):
    email = form.cleaned_data["email"].strip().lower()
    return email, get_user_model().objects.filter(email__iexact=email).first()


def _person_events(email: str, person):
    if person is not None:
        return AuditEvent.objects.about_person(person)
    return AuditEvent.objects.filter(data__contains={"email": email})


@never_cache
@require_GET
@auditor_only
@purpose_required
def person(request: HttpRequest) -> HttpResponse:
    """Everything about one person, for a subject-access or FOI request."""
    form = PersonForm(request.GET if "email" in request.GET else None)
    context: dict = {"form": form, "time_zone": settings.TIME_ZONE}
    if form.is_bound and form.is_valid():
        email, who = _person(form)
        as_of = _pin(request)
        page = _page(_listing(_person_events(email, who).up_to(as_of), as_of), request, as_of=as_of)
        context |= _page_context(page, {"email": email}, request)
        context |= {
            "email": email,
            "person": who,
            "holds": _holds_of(who) if who else [],
        }
        audit_record(
            action=Action.AUDIT_SUBJECT_ACCESS,
            actor=request.user,
            subject=subject("user", who.pk) if who else "",
            data={"email": email, "as_of": as_of, "page": page.number, "results": page.count, "shown": page.seqs},
        )
    elif form.is_bound:
        audit_record(action=Action.AUDIT_SUBJECT_ACCESS, actor=request.user, outcome="invalid")
    else:
        audit_record(action=Action.AUDIT_VIEW, actor=request.user, data={"page": "subject_access"})
    return render(request, "audit/person.html", context, status=400 if form.is_bound and form.errors else 200)


@never_cache
@require_GET
@auditor_only
@purpose_required
def person_export(request: HttpRequest) -> HttpResponse:
    form = PersonForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/person.html", {"form": form, "time_zone": settings.TIME_ZONE}, status=400)
    email, who = _person(form)
    as_of = _pin(request)
    return _export(
        request,
        _person_events(email, who).up_to(as_of),
        kind="jsonl",
        as_of=as_of,
        what={"subject_access": email},
        subject_=subject("user", who.pk) if who else "",
        filename=f"subject-access-{_stamp()}.jsonl",
    )


@never_cache
@require_GET
@auditor_only
@purpose_required
def person_records(request: HttpRequest) -> HttpResponse:
    """What the site stores about the person beyond the trail (account, conversations, ratings), as
    one signed JSON document; the reading is recorded, with how many records of each kind."""
    form = PersonForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/person.html", {"form": form, "time_zone": settings.TIME_ZONE}, status=400)
    email, who = _person(form)
    try:
        key = _recorded_key(request)
    except ExportKeyError as exc:
        return render(request, "audit/export_unavailable.html", {"reason": str(exc)}, status=503)
    records = personal_records(email)
    recorded = audit_record(
        action=Action.AUDIT_SUBJECT_ACCESS,
        actor=request.user,
        subject=subject("user", who.pk) if who else "",
        data={
            "email": email,
            "records": {name: len(value) for name, value in records.items() if isinstance(value, list)},
        },
    )
    head = {"seq": recorded.seq, "sha256": recorded.sha256, "action": recorded.action}
    text = records_document(email, records, head=head, key=key, purpose=getattr(request, "audit_purpose", ""))

    async def body():
        yield text

    filename = f"subject-access-records-{_stamp()}.json"
    return _sent_file(request, body(), recorded=recorded, kind="records", filename=filename, subject_=recorded.subject)


def _holds_of(user) -> list[LegalHold]:
    """The person's holds, each marked whether it is still in force as verification and the purge
    judge it: one released in the database, with no release the site recorded, still is."""
    in_force = {hold.pk for hold in holds_in_force()}
    holds = list(LegalHold.objects.filter(user=user).order_by("created_at"))
    for hold in holds:
        hold.in_force = hold.pk in in_force
    return holds
