"""Background work for documents, on Django's tasks API (queue ``ingest``).

The worker is ``python manage.py db_worker --queue-name "*"``; ``HUMPHREY_TASKS_IMMEDIATE=1`` runs
tasks inline instead. The task is a thin wrapper: ``documents.services.version_ingest`` does the
work and is safe to run twice.
"""

from __future__ import annotations

from django_tasks import task


@task(queue_name="ingest")
def ingest_version(version_id: int) -> dict:
    """Parse, chunk, embed and publish one document version; returns a summary (no document text)."""
    from .services import version_ingest

    outcome = version_ingest(version_id)
    return {
        "version_id": outcome.version_id,
        "status": str(outcome.status),
        "chunks": outcome.chunks,
        "embedded": outcome.embedded,
        "reused": outcome.reused,
    }
