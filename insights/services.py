"""Writes of the insights app: only its cache of question embeddings.

(The audit events recording each dashboard view and export are written by the views, through
``audit.services.audit_record``, the one way into the audit trail.)
"""

from __future__ import annotations

from collections.abc import Sequence

from documents.embeddings import get_embedder
from insights.models import QuestionEmbedding

BATCH = 256


def question_embeddings_prune() -> int:
    """Delete cached embeddings whose question text the retention purge has removed; returns how many."""
    deleted, _ = QuestionEmbedding.objects.filter(event__content__isnull=True).delete()
    return deleted


def question_embeddings_ensure(questions: Sequence[tuple[int, str]]) -> dict[int, list[float]]:
    """The embedding of each ``(event_id, text)``, from the cache or made now (and cached).

    The caller guarantees each text is the question stored in that audit event's content.
    """
    embedder = get_embedder()
    keys = [key for key, _ in questions]
    found = {
        row.event_id: list(row.embedding)
        for row in QuestionEmbedding.objects.filter(event_id__in=keys, model_id=embedder.model_id).only(
            "event_id", "embedding"
        )
    }
    missing = [(key, text) for key, text in questions if key not in found]
    for start in range(0, len(missing), BATCH):
        batch = missing[start : start + BATCH]
        vectors = embedder.embed_documents([text for _, text in batch])
        QuestionEmbedding.objects.bulk_create(
            [
                QuestionEmbedding(event_id=key, model_id=embedder.model_id, embedding=vector)
                for (key, _), vector in zip(batch, vectors, strict=True)
            ],
            ignore_conflicts=True,  # another request cached the same question meanwhile
        )
        found.update({key: list(vector) for (key, _), vector in zip(batch, vectors, strict=True)})
    return found
