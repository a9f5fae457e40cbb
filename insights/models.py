"""Insights keep one thing of their own: a cache of question embeddings, keyed by audit event.

Everything else is read from the audit trail on demand. A question's embedding is derived from
its text, which is personal content the retention purge removes; so a cached embedding is
deleted as soon as its event's content is gone (``insights.services.question_embeddings_prune``),
and it is never shown to anyone.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from pgvector.django import VectorField

from documents.embeddings import DIMENSIONS


class QuestionEmbedding(models.Model):
    # No database foreign key: audit rows are append-only and never joined by a cascade.
    event = models.ForeignKey("audit.AuditEvent", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    model_id = models.CharField(max_length=200, help_text="The embedder that made it (a change of model re-embeds).")
    embedding = VectorField(dimensions=DIMENSIONS)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "model_id"], name="insights_embedding_unique_event_model")
        ]

    def __str__(self) -> str:
        return f"embedding of event {self.event_id}"
