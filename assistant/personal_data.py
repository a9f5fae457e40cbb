"""What the assistant stores about a person, for a subject-access request (``audit.subject_access``).

Their conversations as they now stand (titles as renamed, deleted ones marked, not left out: the
site keeps them for audit), each message's text unless the retention purge removed it, the form of
a question that was sent to the model with personal data replaced, which guidance was cited, and
their ratings with comments. Citations name the document and version, not the guidance's text,
which is not the person's data.
"""

from __future__ import annotations

from assistant.models import Conversation, Feedback, Message


def _message(message: Message) -> dict:
    return {
        "id": message.pk,
        "role": message.role,
        "created_at": message.created_at,
        "status": message.status,
        "text": message.text,
        # Set only when the question held personal data and was sent to a model or embedder without it.
        "text_as_sent_with_personal_data_replaced": message.redacted or None,
        "purged_at": message.purged_at,
        "collections": message.collections or "every collection the person could read",
        "citations": [
            {"n": citation.n, "document": citation.version.document.title, "version_id": citation.version_id}
            for citation in message.citations.all()
        ],
    }


def conversations_of(user) -> list[dict]:
    """Every conversation the person owns, with its messages, oldest first."""
    conversations = (
        Conversation.objects.filter(owner=user)
        .order_by("created_at", "pk")
        .prefetch_related("messages__citations__version__document")
    )
    return [
        {
            "id": conversation.pk,
            "title": conversation.title,
            "created_at": conversation.created_at,
            "updated_at": conversation.updated_at,
            "deleted_by_owner_at": conversation.hidden_at,
            "messages": [_message(message) for message in conversation.messages.all()],
        }
        for conversation in conversations
    ]


def feedback_of(user) -> list[dict]:
    """Every rating the person gave, with its comment and the answer it was on."""
    return [
        {
            "answer_message_id": feedback.message_id,
            "conversation_id": feedback.message.conversation_id,
            "rating": feedback.rating,
            "comment": feedback.comment,
            "created_at": feedback.created_at,
            "updated_at": feedback.updated_at,
        }
        for feedback in Feedback.objects.filter(user=user).select_related("message").order_by("created_at", "pk")
    ]
