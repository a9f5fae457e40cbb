"""Append-only, hash-chained audit events, and the legal holds that stop their purge.

An event's *metadata* (who, when, what kind, outcome, digests) lives in ``AuditEvent`` forever. Its
*content* (question, prompt, passages, answer: personal and sensitive) lives in ``AuditContent``
and may be purged after the retention period; ``AuditEvent.content_sha256`` keeps its digest, so
the chain still verifies after a purge. The database refuses UPDATE, DELETE and TRUNCATE on both
tables with plain SQL triggers (migration 0004), whatever the session has set: the one exception is
content deleted by ``audit_purge_content``, a SECURITY DEFINER function that refuses cutoffs newer
than the retention period and spares anything under a legal hold. They are not pgtrigger triggers
because every pgtrigger trigger obeys ``pgtrigger.ignore``, which any session may set.

Each row also keeps the exact JSON text that was hashed (``canonical``). PostgreSQL's ``jsonb``
rewrites numbers (``1e20`` comes back as ``100000000000000000000``, ``-0.0`` as ``0.0``), so a digest
recomputed from the ``jsonb`` column could differ from the one written. ``verify_audit`` hashes the
stored text and then checks that every column says what the hashed text says.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KT, KeyTransform
from django.utils import timezone

from audit.actions import Action, subject
from audit.selectors import AuditEventQuerySet

#: The text fields of an answer's content that free-text search looks in.
SEARCHED_CONTENT_KEYS = ("question", "condensed_question", "answer")


def content_search_vector() -> SearchVector:
    """The expression the full-text index is built on; searches must use the same one to use it."""
    return SearchVector(*(KT(f"body__{key}") for key in SEARCHED_CONTENT_KEYS), config="english")


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True, help_text="Position in the chain, from 1, without gaps.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, db_index=True, help_text='What happened, e.g. "answer".')
    outcome = models.CharField(max_length=64, blank=True, db_index=True)
    # No database foreign key: deleting a user must not touch (UPDATE) audit rows.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, blank=True, help_text="Who, as they were called at the time.")
    subject = models.CharField(max_length=200, blank=True, db_index=True, help_text='e.g. "conversation:12".')
    data = models.JSONField(default=dict, blank=True, help_text="Non-personal facts: ids, timings, model, usage.")
    content_sha256 = models.CharField(max_length=64, help_text="Digest of the event's content (kept after purge).")
    prev_sha256 = models.CharField(max_length=64, help_text="Digest of the previous event.")
    sha256 = models.CharField(max_length=64, unique=True, help_text="Digest of this event, chaining it.")
    canonical = models.TextField(
        blank=True,
        default="",
        help_text="The exact JSON text whose SHA-256 is sha256 (empty only on events written before it was kept).",
    )
    mac = models.CharField(
        max_length=64,
        blank=True,
        db_default="",
        help_text="HMAC-SHA-256 of sha256 under the audit key, which the database does not hold (empty only on "
        "events written before events were signed).",
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(name="audit_event_actor_time", fields=["actor", "created_at"]),
            # Filters on collections, model, conversation: data @> '{...}'.
            GinIndex(name="audit_event_data", fields=["data"], opclasses=["jsonb_path_ops"]),
            # Joining feedback to the answer it rates.
            models.Index(
                KeyTransform("message_id", "data"),
                name="audit_feedback_message",
                condition=Q(action=Action.FEEDBACK),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}".strip()


class AuditContent(models.Model):
    event = models.OneToOneField(AuditEvent, on_delete=models.DO_NOTHING, primary_key=True, related_name="content")
    body = models.JSONField(help_text="Question, prompt, passages, answer: purged after retention.")
    canonical = models.TextField(
        blank=True,
        default="",
        help_text="The exact JSON text whose SHA-256 is the event's content_sha256.",
    )

    class Meta:
        indexes = [GinIndex(content_search_vector(), name="audit_content_search")]

    def __str__(self) -> str:
        return f"content of event {self.event_id}"


class LegalHoldQuerySet(models.QuerySet):
    def active(self) -> LegalHoldQuerySet:
        return self.filter(released_at__isnull=True)


class LegalHold(models.Model):
    """While active, the retention purge keeps everything about one user or one conversation.

    Holds are released (``released_at`` set), never deleted: the database refuses DELETE, and
    UPDATE of anything but an active hold's release (whose time it sets from the database's clock).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # A person under legal hold cannot be deleted out from under it.
        on_delete=models.PROTECT,
        related_name="legal_holds",
    )
    conversation_id = models.BigIntegerField(null=True, blank=True, help_text="assistant conversation id")
    reason = models.TextField(help_text="Why: the case, request or instruction that requires the hold.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    created_by_label = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    released_by_label = models.CharField(max_length=254, blank=True)

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="legal_hold_one_target",
                condition=Q(user__isnull=False, conversation_id__isnull=True)
                | Q(user__isnull=True, conversation_id__isnull=False),
            ),
            models.CheckConstraint(
                name="legal_hold_reason_given",
                condition=~Q(reason=""),
            ),
        ]
        indexes = [models.Index(name="legal_hold_conversation", fields=["conversation_id"])]

    def __str__(self) -> str:
        target = f"user {self.user_id}" if self.user_id else f"conversation {self.conversation_id}"
        return f"legal hold on {target}" + (" (released)" if self.released_at else "")

    @property
    def target(self) -> str:
        return subject("user", self.user_id) if self.user_id else subject("conversation", self.conversation_id)
