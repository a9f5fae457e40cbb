"""Reads for the assistant: what a page or the pipeline needs (who may see what: ``assistant.access``)."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.contrib.postgres.aggregates import StringAgg
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchVector
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, Subquery, Sum, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from documents.models import DocumentVersion, VersionStatus

from .access import answer_withheld, citation_readable
from .models import Citation, Conversation, Feedback, Message, Speaker, Status


def messages_for_page(conversation: Conversation, reader):
    """The conversation's messages with their citations (chunk, version, document, its collection and
    current version: how fresh the guidance is and whether it has changed since, without a query
    more) for rendering to ``reader``, each citation marked ``readable``: whether its passage is in a
    collection ``reader`` may read now (an answer citing one they may not is withheld from them)."""
    citations = (
        Citation.objects.select_related("chunk", "version__document__collection", "version__document__current_version")
        .annotate(readable=citation_readable(reader))
        .order_by("n")
    )
    return (
        conversation.messages.all()
        .order_by("created_at", "pk")
        .prefetch_related(Prefetch("citations", queryset=citations))
    )


def recent_turns(conversation_id: int, *, before_id: int, owner=None, limit: int = 6) -> list[Message]:
    """The last ``limit`` finished messages before ``before_id``, oldest first (context for follow-ups).
    An answer withheld from the conversation's owner (it quoted guidance they may no longer read) is
    not among them: the model would be given, and could repeat, what they may not read (a statement
    more, for the owner, on a follow-up only, unless ``owner`` is given)."""
    if owner is None:
        owner = get_user_model().objects.filter(conversations=conversation_id).first()
    rows = list(
        Message.objects.filter(conversation_id=conversation_id, pk__lt=before_id, purged_at__isnull=True)
        .filter(role=Speaker.USER)
        .union(
            Message.objects.filter(
                ~answer_withheld(owner),
                conversation_id=conversation_id,
                pk__lt=before_id,
                role=Speaker.ASSISTANT,
                status=Status.COMPLETE,
                purged_at__isnull=True,
            )
        )
        .order_by("-pk")[:limit]
    )
    return list(reversed(rows))


def askers_load(user_ids: list[int], streaming_since) -> dict[int, tuple[int, int]]:
    """Per user id: answers still being written (streaming, begun after ``streaming_since``) and the
    model tokens their answers have used since midnight (local time). One statement: it is on the
    way of every question (``intake.questions_store``)."""
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        Message.objects.filter(
            conversation__owner_id__in=user_ids,
            role=Speaker.ASSISTANT,
            created_at__gte=min(midnight, streaming_since),
        )
        .values_list("conversation__owner_id")
        .annotate(
            streaming=Count("pk", filter=Q(status=Status.STREAMING, created_at__gte=streaming_since)),
            tokens=Sum(
                Cast(KeyTextTransform("total_tokens", "usage"), IntegerField()), filter=Q(created_at__gte=midnight)
            ),
        )
    )
    return {user_id: (streaming, int(tokens or 0)) for user_id, streaming, tokens in rows}


def chunk_cited_to(user, chunk_id: int) -> bool:
    """Whether a passage was cited in an answer in one of ``user``'s own conversations (deleted ones
    included: hiding a conversation does not take back what was read)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return Citation.objects.filter(chunk_id=chunk_id, message__conversation__owner=user).exists()


def citation_superseded(citation: Citation) -> bool:
    """Whether the document a citation quoted has a newer searchable version than the one quoted (its
    current version, ready, of an active document in an active collection). No query: the citation's
    version, document, collection and current version are loaded (``messages_for_page``)."""
    document = citation.version.document
    current = document.current_version
    return (
        current is not None
        and current.pk != citation.version_id
        and current.number > citation.version.number
        and current.status == VersionStatus.READY
        and document.is_active
        and document.collection.is_active
    )


def superseded_citations():
    """Citations of a version their document has since replaced by a newer searchable one (what
    ``citation_superseded`` says of one, as a query)."""
    return Citation.objects.filter(
        version__document__is_active=True,
        version__document__collection__is_active=True,
        version__document__current_version__status=VersionStatus.READY,
        version__document__current_version__number__gt=F("version__number"),
    )


def feedback_given(user, conversation: Conversation) -> dict[int, Feedback]:
    """What ``user`` said of each answer in ``conversation``, by answer id (one query for all of them)."""
    return {f.message_id: f for f in Feedback.objects.filter(user=user, message__conversation=conversation)}


def conversations_matching(conversations, words: str, reader):
    """Of ``conversations``, those that hold ``words`` in their title and messages taken together (web
    search syntax, as the audit search: "annual leave" -sick leaves out a conversation that says "sick"
    anywhere; English stemming, so "claims" finds "claim"). The text of an answer withheld from
    ``reader`` (it quoted guidance they may no longer read) is not searched, inside the same query."""
    query = SearchQuery(words, search_type="websearch", config="english")
    said = (
        Message.objects.filter(~answer_withheld(reader), conversation=OuterRef("pk"))
        .exclude(status=Status.NO_ANSWER)  # Humphrey's own "not covered" wording is no one's words to find
        .order_by()
        .values("conversation")
        .annotate(all=StringAgg("text", delimiter=" "))
        .values("all")
    )
    everything = SearchVector(
        "title",
        Coalesce(Subquery(said, output_field=TextField()), Value("", output_field=TextField())),
        config="english",
    )
    return conversations.annotate(found=everything).filter(found=query)


# What ts_headline marks the matched words with: characters no stored text holds (the chat refuses
# control characters), so the snippet can be escaped whole and the marks put back as <mark>.
_MARK_START, _MARK_END = "\x02", "\x03"
# An answer's Markdown as a snippet shows it: emphasis, quote and heading marks and table rules read as
# noise ("Annual leave** > If you are ill"); the words and the citation numbers do not.
_MARKUP = re.compile(r"\*\*|__|(?:^|\s)(?:>|#{1,6})(?=\s)|\|[-:| ]*\||\|")


def matches_shown(conversations, words: str, reader) -> dict[int, dict]:
    """For each of ``conversations`` (a page of them), the first message holding ``words``: its id,
    whether it is a question, and a short snippet with the words marked, escaped for HTML. Never an
    answer withheld from ``reader`` (one query for the page, whatever it lists)."""
    query = SearchQuery(words, search_type="websearch", config="english")
    found = (
        Message.objects.filter(
            ~answer_withheld(reader), conversation__in=[c.pk for c in conversations], purged_at__isnull=True
        )
        .exclude(status=Status.NO_ANSWER)
        .annotate(found=SearchVector("text", config="english"))
        .filter(found=query)
        .annotate(
            snippet=SearchHeadline(
                "text",
                query,
                config="english",
                start_sel=_MARK_START,
                stop_sel=_MARK_END,
                max_words=30,
                min_words=12,
            )
        )
        .order_by("conversation_id", "created_at", "pk")
        .values("conversation_id", "pk", "role", "snippet")
    )
    shown: dict[int, dict] = {}
    for row in found:
        if row["conversation_id"] in shown:
            continue
        snippet = str(escape(" ".join(_MARKUP.sub(" ", row["snippet"]).split())))
        shown[row["conversation_id"]] = {
            "message": row["pk"],
            "question": row["role"] == Speaker.USER,
            "snippet": mark_safe(snippet.replace(_MARK_START, "<mark>").replace(_MARK_END, "</mark>")),  # noqa: S308 - escaped above
        }
    return shown


def withdrawn_citations():
    """Citations of a document retired since, or of one in a collection retired since (what
    ``assistant.views.freshness_mark`` marks "withdrawn"), as a query."""
    return Citation.objects.filter(
        Q(version__document__is_active=False) | Q(version__document__collection__is_active=False)
    )


def conversations_flag_changed(conversations):
    """``conversations`` each annotated ``guidance_changed``: an answer in it quoted guidance that has
    changed since, and ``guidance_withdrawn``: one quoted guidance withdrawn since (in the same query:
    the history page costs no more however many it lists)."""
    return conversations.annotate(
        guidance_changed=Exists(superseded_citations().filter(message__conversation=OuterRef("pk"))),
        guidance_withdrawn=Exists(withdrawn_citations().filter(message__conversation=OuterRef("pk"))),
    )


def versions_superseded(version_ids) -> set[int]:
    """Of ``version_ids``, those their document has since replaced by a newer searchable version
    (one query; for the auditors' trace, which records the versions an answer quoted)."""
    ids = [int(v) for v in version_ids if isinstance(v, int) or (isinstance(v, str) and v.isdigit())]
    if not ids:
        return set()
    return set(
        DocumentVersion.objects.filter(
            pk__in=ids,
            document__is_active=True,
            document__collection__is_active=True,
            document__current_version__status=VersionStatus.READY,
            document__current_version__number__gt=F("number"),
        ).values_list("pk", flat=True)
    )
