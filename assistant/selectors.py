"""Reads for the assistant: what a page or the pipeline needs (who may see what: ``assistant.access``)."""

from __future__ import annotations

from django.db.models import IntegerField, Prefetch, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from .models import Citation, Conversation, Message, Speaker, Status


def messages_for_page(conversation: Conversation):
    """The conversation's messages with their citations (chunk, version, document) for rendering."""
    citations = Citation.objects.select_related("chunk", "version__document").order_by("n")
    return (
        conversation.messages.all()
        .order_by("created_at", "pk")
        .prefetch_related(Prefetch("citations", queryset=citations))
    )


def recent_turns(conversation_id: int, *, before_id: int, limit: int = 6) -> list[Message]:
    """The last ``limit`` finished messages before ``before_id``, oldest first (context for follow-ups)."""
    rows = list(
        Message.objects.filter(conversation_id=conversation_id, pk__lt=before_id, purged_at__isnull=True)
        .filter(role=Speaker.USER)
        .union(
            Message.objects.filter(
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


def tokens_used_today(user_ids: list[int]) -> dict[int, int]:
    """Model tokens each user's answers have used since midnight (local time), by user id."""
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        Message.objects.filter(conversation__owner_id__in=user_ids, role=Speaker.ASSISTANT, created_at__gte=midnight)
        .values_list("conversation__owner_id")
        .annotate(total=Sum(Cast(KeyTextTransform("total_tokens", "usage"), IntegerField())))
    )
    return {user_id: int(total or 0) for user_id, total in rows}


def chunk_cited_to(user, chunk_id: int) -> bool:
    """Whether a passage was cited in an answer in one of ``user``'s own conversations (deleted ones
    included: hiding a conversation does not take back what was read)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return Citation.objects.filter(chunk_id=chunk_id, message__conversation__owner=user).exists()
