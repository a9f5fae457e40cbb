"""Chat pages: the chat itself, conversation history (rename, delete) and feedback on answers.

Views are doorways too: they read through selectors, write through services, and never reveal
whether someone else's conversation exists (404 for all of them).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from documents.access import readable_collections
from documents.models import Marking
from documents.review import review_of

from .access import access_answer, access_conversation, owned_conversations, passages_readable
from .core.errors import message_for
from .core.evidence import checks_summary, claim_notes
from .core.markdown import render_markdown
from .forms import FeedbackForm, RenameForm
from .intake import STREAMING_GIVE_UP
from .models import Message, Speaker, Status
from .selectors import (
    citation_superseded,
    conversations_flag_changed,
    conversations_matching,
    feedback_given,
    matches_shown,
    messages_for_page,
)
from .services.conversations import conversation_hide, conversation_rename, feedback_record
from .services.frames import highest_marking, passage_urls, source_place

_PASSAGE_ID = re.compile(r"\]\(/[\w/-]*?/passage/(\d+)/\)")  # a Markdown link to a passage page
# A "not covered" reply's line naming one of the nearest documents (``not_covered_text``).
_NEAREST_LINE = re.compile(r"^- \[[^\n]*\]\(/[\w/-]*?/passage/(\d+)/\)[ \t]*$\n?", re.M)
_NEAREST_HEADER = "\nThe nearest guidance found:\n"

WITHHELD = (
    "This answer quoted guidance you can no longer read, so it is not shown. "
    "Ask again to get an answer from the guidance you can read now."
)

STATUS_NOTES = {
    Status.STOPPED: "You stopped this answer before it finished.",
    Status.STALLED: "The language model stopped part-way through. This answer is incomplete.",
    Status.FAILED: "This answer could not be completed.",
    Status.STREAMING: "This answer is still being written. It will appear here when it is ready.",
}


def _nearest_passages(message: Message) -> frozenset[str]:
    """The passage pages a "not covered" reply names as the nearest guidance. That reply is always
    Humphrey's own text (``not_covered_text``), never a model's, so its links to passages may stay
    links when the conversation is reopened, as they were when it streamed; each page still checks
    that the reader may see the passage."""
    if message.status != Status.NO_ANSWER:
        return frozenset()
    ids = [int(n) for n in _PASSAGE_ID.findall(message.text)]
    return frozenset(url for url in passage_urls(ids) if url)


def withheld_mark(message: Message) -> None:
    """Whether the person may still read everything the answer quoted (docs/security.md, "Answers
    follow access now"): ``message.withheld`` when it cited any passage of a collection they may no
    longer read, ``message.sources``, the citations whose passages they may read (the only ones named
    or linked), and ``message.sources_hidden``, how many others there are. No queries:
    ``messages_for_page`` marked each citation ``readable``."""
    citations = list(message.citations.all())
    message.sources = [c for c in citations if c.readable]
    message.sources_hidden = len(citations) - len(message.sources)
    message.withheld = message.sources_hidden > 0


def nearest_readable(messages: list[Message], reader) -> None:
    """A "not covered" reply names the nearest documents found then, each linking to a passage: those
    whose passages ``reader`` may no longer read are left out of it (their titles too), as a withheld
    answer's sources are. One query for the whole page, none when no reply names a passage."""
    named = {m.pk: [int(n) for n in _PASSAGE_ID.findall(m.text)] for m in messages if m.status == Status.NO_ANSWER}
    readable = passages_readable(reader, {n for ids in named.values() for n in ids})
    for message in messages:
        if any(n not in readable for n in named.get(message.pk, ())):
            text = _NEAREST_LINE.sub(lambda line: line[0] if int(line[1]) in readable else "", message.text)
            if not _NEAREST_LINE.search(text):
                text = text.replace(_NEAREST_HEADER, "")
            message.text = text.rstrip("\n")


def message_html(message: Message) -> str:
    """Sanitised HTML for a stored answer: ``[n]`` links to the exact passage it cited."""
    citations = {c.n: c for c in message.citations.all()}
    urls = dict(zip(citations, passage_urls([c.chunk_id for c in citations.values()]), strict=True))
    return render_markdown(
        message.text,
        citation_url=lambda n: (urls[n] + citations[n].highlight_query if urls[n] else "#") if n in urls else None,
        citation_title=lambda n: citations[n].version.document.title if n in citations else "",
        allowed_link_text="\n".join(c.quote for c in citations.values()),
        allowed_hosts=settings.HUMPHREY_CHAT_LINK_HOSTS,
        notes=claim_notes(message.checks or []),
        own_paths=_nearest_passages(message),
    )


def freshness_mark(message: Message) -> None:
    """How fresh the guidance an answer quoted is now, on the message and each citation: its review
    (``c.review``, ``c.review_note``), where in its document it is (``c.where``), whether a newer
    searchable version has replaced the version quoted (``c.superseded``) or its document (or its
    whole collection) has been retired since (``c.withdrawn``) and, for each document that changed, a
    link to what changed (``message.changes``), for each withdrawn, its title (``message.withdrawn``).
    Only of the sources the person may still read (``message.sources``, from ``withheld_mark``). No
    queries: ``messages_for_page`` loaded what it needs."""
    message.changes, message.withdrawn = [], []
    seen = set()
    for c in message.sources:
        document = c.version.document
        c.review = review_of(document)
        c.review_note = c.review.note()
        c.superseded = citation_superseded(c)
        c.withdrawn = not (document.is_active and document.collection.is_active)
        c.where = source_place(document.title, c.chunk.heading_path, c.chunk.anchor)
        if c.superseded and (document.pk, c.version_id) not in seen:
            seen.add((document.pk, c.version_id))
            url = reverse("documents:version_changes", args=[document.pk, c.version_id, document.current_version_id])
            message.changes.append({"title": document.title, "url": f"{url}?via={c.chunk_id}"})
        if c.withdrawn and document.title not in message.withdrawn:
            message.withdrawn.append(document.title)


def sources_label(message: Message) -> None:
    """What the answer is marked and how its sources are named, as chat.js shows them live from the
    ``done`` frame: ``message.marking``, the highest security marking of the collections its cited
    passages are in ("" for a "not covered" reply, which quotes nothing); each citation's link names
    its document and where in it the passage is (``c.where``, from ``freshness_mark``), and one named
    as another is also says which source it is (``c.same_name``), so that no two links sound alike.
    A withheld answer (``withheld_mark``) is not marked: nothing of it is shown or copied."""
    citations = message.sources
    quoted = message.status != Status.NO_ANSWER and not message.withheld
    message.marking = highest_marking(c.version.document.collection.marking for c in citations) if quoted else ""
    names = [c.version.document.title + c.where for c in citations]
    for c, name in zip(citations, names, strict=True):
        c.same_name = names.count(name) > 1


def _feedback_problems(answer_id: int, form: FeedbackForm) -> list[tuple[str, str]]:
    """The error summary's lines for feedback refused on answer ``answer_id``, each linking to its
    field in that answer's form (the rating's to its first radio, as GOV.UK links a radio group)."""
    fields = {"rating": f"#rating-up-{answer_id}", "comment": f"#comment-{answer_id}"}
    return [
        (str(error), fields.get(name, f"#answer-{answer_id}"))
        for name, errors in form.errors.items()
        for error in errors
    ]


def _page(
    request: HttpRequest, conversation=None, *, refused: tuple[int, FeedbackForm] | None = None, status: int = 200
) -> HttpResponse:
    """The chat page, for a new conversation or ``conversation``. ``refused``: the answer whose
    feedback was refused and the form that refused it, shown at that answer with its errors and what
    was typed (the page's error summary lists them)."""
    turns = []
    refused_id, refused_form = refused or (None, None)
    if conversation is not None:
        given = feedback_given(request.user, conversation)  # shown again on the answers they rated
        messages = list(messages_for_page(conversation, request.user))
        nearest_readable(messages, request.user)
        for message in messages:
            if message.role == Speaker.ASSISTANT:
                withheld_mark(message)
                freshness_mark(message)
                sources_label(message)
                if message.withheld:
                    # Nothing of what it said: no text, notes, checks or banners; no feedback or copy (_answer.html).
                    message.html, message.checks_summary, message.note = "", "", WITHHELD
                    message.changes, message.withdrawn = [], []
                    turns.append(message)
                    continue
                message.my_feedback = given.get(message.pk)
                message.feedback_refused = refused_form if message.pk == refused_id else None
                message.html = mark_safe(message_html(message))  # noqa: S308 - sanitised by nh3
                message.checks_summary = checks_summary(message.checks or [])
                if message.status == Status.STREAMING and timezone.now() - message.created_at > STREAMING_GIVE_UP:
                    # The process writing it stopped (a restart): say so rather than wait forever.
                    message.status, message.note = "interrupted", "This answer was interrupted. Ask again."
                elif message.status == Status.FAILED and not message.text and message.error_code:
                    # Worded as it was live: the error's own message (the code in small print).
                    message.note = message_for(message.error_code) or STATUS_NOTES[Status.FAILED]
                else:
                    message.note = STATUS_NOTES.get(message.status, "")
            turns.append(message)
    return render(
        request,
        "assistant/chat.html",
        {
            "conversation": conversation,
            "turns": turns,
            "conversations": owned_conversations(request.user)[:20],
            "collections": readable_collections(request.user).order_by("name"),
            "feedback_form": FeedbackForm(),
            "ws_path": "/ws/chat/",
            "max_question_chars": settings.HUMPHREY_CHAT_MAX_QUESTION_CHARS,
            "markings": Marking.values,
            # Where this person's unsent question is kept in this tab (chat.js, sessionStorage): never
            # another's, should someone else sign in in the same tab, and not their id in the page.
            "draft_scope": salted_hmac("assistant.question-draft", request.user.pk).hexdigest()[:20],
            "problems": _feedback_problems(refused_id, refused_form) if refused_form is not None else [],
        },
        status=status,
    )


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The chat page, ready for a new conversation (also the site's home page)."""
    return _page(request)


@login_required
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    found = access_conversation(request.user, pk)
    return _page(request, found)


HISTORY_PAGE_SIZE = 50


@login_required
def history(request: HttpRequest) -> HttpResponse:
    """The person's conversations, newest first, a page at a time; ``?q=`` finds those whose title or
    messages hold the words."""
    # A NUL (which PostgreSQL text cannot hold) or another control character is nothing to search for.
    words = "".join(ch for ch in request.GET.get("q", "") if ch >= " " or ch == "\t").strip()[:200]
    conversations = owned_conversations(request.user)
    if words:  # never by the words of an answer withheld from them (docs/security.md)
        conversations = conversations_matching(conversations, words, request.user)
    page = Paginator(conversations_flag_changed(conversations), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    if words:  # where each conversation on the page says it, so the person sees why it was found
        shown = matches_shown(page.object_list, words, request.user)
        for conversation in page.object_list:
            conversation.match = shown.get(conversation.pk)
    return render(
        request,
        "assistant/history.html",
        {
            "conversations": page.object_list,
            "page": page,
            "words": words,
            "query": urlencode({"q": words} if words else {}),
        },
    )


@login_required
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    found = access_conversation(request.user, pk)
    form = RenameForm(request.POST or None, initial={"title": found.title})
    if request.method == "POST" and form.is_valid():
        conversation_rename(user=request.user, conversation=found, title=form.cleaned_data["title"])
        flash.success(request, "Conversation renamed.")
        return redirect("assistant:history")
    return render(request, "assistant/rename.html", {"conversation": found, "form": form})


@login_required
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    found = access_conversation(request.user, pk)
    if request.method == "POST":
        conversation_hide(user=request.user, conversation=found)
        flash.success(request, f"“{found}” was deleted.")
        return redirect("assistant:history")
    return render(request, "assistant/delete.html", {"conversation": found})


@login_required
@require_POST
def feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """Thumbs up or down with an optional comment (refused if it holds personal data: ``FeedbackForm``),
    the same checks with the page's script or without. JSON for the script. Without it, stored
    feedback redirects back to the answer (post/redirect/get); refused feedback shows the conversation
    again, the errors at the answer's form with what was typed kept in it, and GOV.UK's error summary
    at the top (a redirect would lose the comment)."""
    message = access_answer(request.user, pk)
    form = FeedbackForm(request.POST, person=request.user.pk)
    wants_json = "application/json" in request.headers.get("Accept", "")
    if not form.is_valid():
        if wants_json:
            errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
            return JsonResponse({"ok": False, "errors": errors}, status=400)
        return _page(request, message.conversation, refused=(message.pk, form), status=400)
    feedback_record(
        user=request.user, message=message, rating=form.cleaned_data["rating"], comment=form.cleaned_data["comment"]
    )
    if wants_json:
        return JsonResponse({"ok": True, "message": "Thank you for your feedback."})
    flash.success(request, "Thank you for your feedback.")
    return redirect(reverse("assistant:conversation", args=[message.conversation_id]) + f"#answer-{message.pk}")
