"""Who may see which conversation and answer: every door of the assistant app.

A conversation is its owner's alone (auditors read answers through the audit trail, not here).
``access_*`` functions return the object or raise ``Http404``, the same answer whether it does not
exist or is someone else's. The intake checks ownership for a whole batch with ``owns``.
"""

from __future__ import annotations

from django.http import Http404

from .models import Conversation, Message, Speaker


def owned_conversations(user):
    """The user's own conversations, not deleted, newest first."""
    return Conversation.objects.owned_by(user).order_by("-updated_at", "-pk")


def owns(user, conversation: Conversation) -> bool:
    """Whether ``user`` may add to ``conversation`` (fetched already, e.g. for a batch of questions)."""
    return conversation.owner_id == user.pk


def access_conversation(user, conversation_id) -> Conversation:
    try:
        pk = int(conversation_id)
    except (TypeError, ValueError):
        raise Http404 from None
    found = Conversation.objects.owned_by(user).filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


def access_answer(user, message_id) -> Message:
    """One of the user's own answers (to rate it), in a conversation they have not deleted."""
    try:
        pk = int(message_id)
    except (TypeError, ValueError):
        raise Http404 from None
    found = (
        Message.objects.select_related("conversation")
        .filter(pk=pk, role=Speaker.ASSISTANT, conversation__in=Conversation.objects.owned_by(user))
        .first()
    )
    if found is None:
        raise Http404
    return found
