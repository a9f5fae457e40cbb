"""Writes on conversations as a whole: rename, hide (the user's delete), feedback on an answer, and the
retention purge of their text. Storing questions is ``assistant.intake``; answers are
``assistant.services.record``."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from assistant.access import owns
from assistant.models import Citation, Conversation, Feedback, Message, Rating, Speaker
from audit.actions import Action, subject
from audit.services import audit_record


def conversation_rename(*, user, conversation: Conversation, title: str) -> Conversation:
    title = " ".join((title or "").split())[:200]
    if not title:
        raise ValueError("Enter a name for the conversation.")
    conversation.title = title
    conversation.save(update_fields=["title"])
    return conversation


@transaction.atomic
def conversation_hide(*, user, conversation: Conversation) -> Conversation:
    """Delete for the user: hidden from their pages, kept (with its audit trail) for audit and retention."""
    conversation.hidden_at = timezone.now()
    conversation.save(update_fields=["hidden_at"])
    audit_record(
        action=Action.CONVERSATION_DELETE,
        actor=user,
        outcome="hidden",
        subject=subject("conversation", conversation.pk),
        data={"conversation_id": conversation.pk},
    )
    return conversation


@transaction.atomic
def feedback_record(*, user, message: Message, rating: str, comment: str = "") -> Feedback:
    """The user's thumbs up or down (and optional comment) on an answer in their own conversation."""
    if rating not in Rating.values:
        raise ValueError("Choose helpful or not helpful.")
    if message.role != Speaker.ASSISTANT or not owns(user, message.conversation):
        raise PermissionError("not your answer")
    comment = (comment or "").strip()[:2000]
    feedback, _ = Feedback.objects.update_or_create(
        message=message,
        user=user,
        defaults={"rating": rating, "comment": comment, "updated_at": timezone.now()},
    )
    audit_record(
        action=Action.FEEDBACK,
        actor=user,
        outcome=rating,
        subject=subject("message", message.pk),
        data={"message_id": message.pk, "conversation_id": message.conversation_id},
        content={"comment": comment},
    )
    return feedback


def conversations_purge(*, before, held_user_ids, held_conversation_ids) -> int:
    """Blank the text of messages older than ``before``, except under a legal hold. Returns how many.

    Called by the audit app's retention command inside its transaction (registered as its purger in
    ``AssistantConfig.ready``). Messages, citations and feedback ratings stay (they carry no text a
    person wrote); comments are blanked too, and so is what the claim check and the notices kept of
    the text (an answer's sentences; the phrases of a question the glossary matched).
    """
    messages = Message.objects.filter(created_at__lt=before, purged_at__isnull=True)
    if held_user_ids:
        messages = messages.exclude(conversation__owner_id__in=list(held_user_ids))
    if held_conversation_ids:
        messages = messages.exclude(conversation_id__in=list(held_conversation_ids))
    ids = list(messages.values_list("pk", flat=True))
    Feedback.objects.filter(message_id__in=ids).exclude(comment="").update(comment="")
    Citation.objects.filter(message_id__in=ids).exclude(quote="").update(quote="")
    purged = Message.objects.filter(pk__in=ids).update(
        text="", redacted=None, checks=[], notices=[], purged_at=timezone.now()
    )
    conversations = Conversation.objects.filter(created_at__lt=before)
    if held_user_ids:
        conversations = conversations.exclude(owner_id__in=list(held_user_ids))
    if held_conversation_ids:
        conversations = conversations.exclude(pk__in=list(held_conversation_ids))
    conversations.exclude(title="").update(title="")
    return purged
