"""Conversations, their messages, the citations an answer makes, and what people thought of it.

A conversation the user deletes is hidden (``hidden_at``), not removed: the audit trail refers to it.
The user's question is written before anything else happens, so nothing can lose it. Prompts live in
versioned files (``assistant/prompts``), never in field defaults.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from assistant.core.citations import highlight_query


class ConversationQuerySet(models.QuerySet):
    def owned_by(self, user) -> ConversationQuerySet:
        """The user's own conversations that they have not deleted (the one gate for conversations)."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(owner=user, hidden_at__isnull=True)


class Conversation(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    hidden_at = models.DateTimeField(null=True, blank=True, help_text="Deleted by its owner (kept for audit).")

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(
                name="conversation_owner_recent",
                fields=["owner", "-updated_at"],
                condition=Q(hidden_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Speaker(models.TextChoices):
    """Who wrote a message: the person asking, or the assistant answering. (Not a person's role on the
    site: that is ``accounts.roles.Role``.) The database column keeps its name, ``role``."""

    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class Status(models.TextChoices):
    COMPLETE = "complete", "Complete"
    STREAMING = "streaming", "Streaming"
    STOPPED = "stopped", "Stopped"
    STALLED = "stalled", "Stalled"
    FAILED = "failed", "Failed"
    NO_ANSWER = "no_answer", "Not covered by the guidance"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="messages")
    role = models.CharField(max_length=16, choices=Speaker.choices)
    text = models.TextField(blank=True)
    # null and "" differ: a question stored before scanning was recorded must be scanned again when sent.
    redacted = models.TextField(  # noqa: DJ001
        null=True,
        blank=True,
        help_text="A question with its personal data replaced, as the model and embedder get it when redacting "
        '("": none found; null: not scanned when stored).',
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error_code = models.CharField(max_length=64, blank=True)
    question = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="answer", help_text="What it answers."
    )
    collections = models.JSONField(default=list, blank=True, help_text="Collection slugs the question asked about.")
    model = models.JSONField(default=dict, blank=True, help_text="Endpoint alias, model name and parameters.")
    usage = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Milliseconds: retrieval, first token, total.")
    prompt_version = models.CharField(max_length=32, blank=True)
    checks = models.JSONField(
        default=list, blank=True, help_text="A model answer's sentences checked against their citations."
    )
    notices = models.JSONField(
        default=list,
        blank=True,
        help_text="What the person was told about how the answer was found ({code, message} each): kept so "
        "that reopening the conversation tells them again.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    purged_at = models.DateTimeField(null=True, blank=True, help_text="Text removed by the retention purge.")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(name="message_conversation_created", fields=["conversation", "created_at"])]
        constraints = [
            models.CheckConstraint(
                name="message_question_only_on_answers",
                condition=Q(role="assistant") | Q(question__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.role} message {self.pk}"


class Citation(models.Model):
    """One numbered passage an answer cites: the exact chunk and document version it quoted."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="citations")
    n = models.PositiveSmallIntegerField(help_text="The [n] in the answer.")
    chunk = models.ForeignKey("documents.Chunk", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("documents.DocumentVersion", on_delete=models.PROTECT, related_name="+")
    quote = models.TextField(blank=True)
    highlights = models.JSONField(
        default=list, blank=True, help_text="[start, end] of the sentences of the passage the answer drew on."
    )

    class Meta:
        ordering = ["message", "n"]
        constraints = [models.UniqueConstraint(fields=["message", "n"], name="citation_unique_number")]

    def __str__(self) -> str:
        return f"[{self.n}] of message {self.message_id}"

    @property
    def highlight_query(self) -> str:
        return highlight_query(self.highlights)


class Rating(models.TextChoices):
    UP = "up", "Helpful"
    DOWN = "down", "Not helpful"


class Feedback(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="feedback_one_per_user")]

    def __str__(self) -> str:
        return f"{self.rating} on message {self.message_id}"
