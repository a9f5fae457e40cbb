"""Background work for documents, on Django's tasks API (queues ``ingest`` and ``default``).

The worker is ``python manage.py db_worker --queue-name "*"``; ``HUMPHREY_TASKS_IMMEDIATE=1`` runs
tasks inline instead. The tasks are thin wrappers: ``documents.ingest.pipeline.version_ingest`` does
the ingestion, in whichever process calls it, and is safe to run twice;
``documents.services.review.review_reminders_send`` sends the day's review reminders, at most once a
day per owner, and the task queues itself again for the next day (started once by
``manage.py send_review_reminders --schedule``); ``source_sync_task`` runs a synced source and
queues its next run the same way; ``chunks_upkeep_task`` re-embeds and re-cuts what an upgrade or a
new embedding model left (``manage.py reembed --queue``, run as the worker starts).
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


@task(queue_name="default")
def review_reminders_task() -> dict:
    """The day's review reminders, then the same task again tomorrow (``run_after``)."""
    from .services.review import review_reminders_schedule, review_reminders_send

    try:
        run = review_reminders_send()
    finally:  # a failed day must not stop the next one
        review_reminders_schedule(from_task=True)
    return {"sent": len(run.sent), "already_sent": len(run.already_sent), "no_owner": run.no_owner}


@task(queue_name="default")
def source_sync_task(source_id: int, token: str, trigger: str = "schedule") -> dict:
    """A synced source's scheduled run, which queues the next (``documents.sources.sync``)."""
    from .sources.sync import source_sync_scheduled

    return source_sync_scheduled(source_id, token, trigger)


@task(queue_name="ingest")
def chunks_upkeep_task() -> dict:
    """What an upgrade or a new embedding model left to do (``documents.ingest.reembed.chunks_upkeep``),
    queued by ``manage.py reembed --queue`` as the worker starts."""
    from .ingest.reembed import chunks_upkeep

    reembedded, recut = chunks_upkeep()
    return {"reembedded": reembedded, "recut": recut}


def chunks_upkeep_pending() -> bool:
    """Whether an upkeep task is already waiting or running in the database backend's queue."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    statuses = [TaskResultStatus.READY, TaskResultStatus.RUNNING]
    return DBTaskResult.objects.filter(task_path=chunks_upkeep_task.module_path, status__in=statuses).exists()


# Jobs queued before the task's rename name it by its old path: they still run after an upgrade.
ingest_version = version_ingest_task
