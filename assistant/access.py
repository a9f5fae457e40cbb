"""Who may see which conversation and answer: every door of the assistant app.

A conversation is its owner's alone (auditors read answers through the audit trail, not here).
``access_*`` functions return the object or raise ``Http404``, the same answer whether it does not
exist or is someone else's. The intake checks ownership for a whole batch with ``owns``.

What an answer quoted is readable as long as its collection is: an answer that cited a passage of a
collection its owner may no longer read (``documents.access.readable_collections``: no group of theirs
granted it now, retired, or marked above what the deployment serves) is withheld from them
(``answer_withheld``, ``citation_readable``: docs/security.md, "Answers follow access now").
"""

from __future__ import annotations

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q
from django.http import Http404

from documents.access import readable_collections
from documents.models import Chunk

from .models import Citation, Conversation, Message, Speaker


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


def _readable_passage(user, chunk: str = "chunk__") -> Q:
    """The passage at ``chunk`` (the path to a ``Chunk``, "" for the chunk itself) is in a collection
    ``user`` may read now: the definition retrieval and ``access_passage`` use (``readable_collections``)."""
    return Q(**{f"{chunk}collection__in": readable_collections(user)})


def citation_readable(user) -> ExpressionWrapper:
    """For a query over citations: whether the passage cited is in a collection ``user`` may read now."""
    return ExpressionWrapper(_readable_passage(user), output_field=BooleanField())


def answer_withheld(user) -> Exists:
    """For a query over messages: whether the answer cited a passage of a collection ``user`` may no
    longer read, so that its text is not shown to them, nor found or quoted by their search (inside
    the query that lists them: no query per answer)."""
    return Exists(Citation.objects.filter(message=OuterRef("pk")).exclude(_readable_passage(user)))


def passages_readable(user, chunk_ids) -> set[int]:
    """Of ``chunk_ids``, the passages in collections ``user`` may read now (one query; none for none)."""
    ids = {int(pk) for pk in chunk_ids}
    if not ids:
        return set()
    return set(Chunk.objects.filter(_readable_passage(user, ""), pk__in=ids).values_list("pk", flat=True))
