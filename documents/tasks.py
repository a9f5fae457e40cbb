"""Background work for documents, on Django's tasks API (queue ``ingest``).

The worker is ``python manage.py db_worker --queue-name "*"``; ``HUMPHREY_TASKS_IMMEDIATE=1`` runs
tasks inline instead. The task is a thin wrapper: ``documents.ingest.pipeline.version_ingest`` does
the work, in whichever process calls it, and is safe to run twice.
"""

from __future__ import annotations

from django_tasks import task

from .ingest.pipeline import version_ingest


@task(queue_name="ingest")
def version_ingest_task(version_id: int) -> dict:
    """Queued ``version_ingest`` of one document version; returns a summary (no document text)."""
    outcome = version_ingest(version_id)
    return {
        "version_id": outcome.version_id,
        "status": str(outcome.status),
        "chunks": outcome.chunks,
        "embedded": outcome.embedded,
        "reused": outcome.reused,
    }


# Jobs queued before the task's rename name it by its old path: they still run after an upgrade.
ingest_version = version_ingest_task
