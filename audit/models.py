"""Append-only, hash-chained audit events.

An event's *metadata* (who, when, what kind, outcome, digests) lives in ``AuditEvent`` forever. Its
*content* (question, prompt, passages, answer: personal and sensitive) lives in ``AuditContent``
and may be purged after the retention period; ``AuditEvent.content_sha256`` keeps its digest, so
the chain still verifies after a purge. The database refuses UPDATE and DELETE on both tables
(pgtrigger); the only exception is the purge command, which deletes content inside
``pgtrigger.ignore``.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone


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

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(name="audit_event_actor_time", fields=["actor", "created_at"])]
        triggers = [
            pgtrigger.Protect(name="audit_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome}".strip()


class AuditContent(models.Model):
    event = models.OneToOneField(AuditEvent, on_delete=models.DO_NOTHING, primary_key=True, related_name="content")
    body = models.JSONField(help_text="Question, prompt, passages, answer: purged after retention.")

    class Meta:
        triggers = [
            pgtrigger.Protect(name="audit_content_no_update", operation=pgtrigger.Update),
            pgtrigger.Protect(name="audit_content_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"content of event {self.event_id}"
