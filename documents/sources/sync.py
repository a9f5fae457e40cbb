"""One run over a source, and its schedule on the task worker.

``source_sync`` reads the source's listing first (``documents.sources.read``). If that fails, or the
source suddenly lists nothing while it held pages, the run fails and changes nothing: an unmounted
share or a broken sitemap must not retire a collection. Otherwise each item is read:

- unchanged (304, the same bytes, a folder file with the same size and time): nothing happens;
- new or changed: uploaded as a version of its document (``document_upload``, queued for ingestion
  like any upload, audited with the source named);
- gone (404/410, withdrawn, deleted, no longer listed): marked missing, and retired once it has been
  missing for ``HUMPHREY_SOURCE_GRACE_HOURS``; if it comes back it is restored;
- failed (a timeout, a 500, robots.txt): that item stays as it was and the run says why.

Runs are scheduled on the task worker (``source_sync_task``, ``run_after`` the next run), so no cron
is needed: each run queues the next. A source's ``schedule_token`` names the one queued task that
owns its schedule; any other exits at once. ``source_schedule_all`` re-arms every active source
(``manage.py source_sync --schedule``), for a worker queue that was emptied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actions import Action, subject
from audit.services import audit_record

from ..models import Document, DocumentVersion
from .credentials import credential_named
from .models import RunOutcome, Source, SourceItem, SourceRun
from .net import Fetcher, FetchError
from .read import Read, Reader, SourceError, settled

logger = logging.getLogger(__name__)

#: A run that started this long ago and never finished (a killed worker) no longer holds the source.
RUN_STALE_AFTER = dt.timedelta(hours=2)
#: How many changes one run keeps for its status page; the counts are always whole.
CHANGES_KEPT = 300
#: How many failed items' technical reasons one run's audit event keeps.
CAUSES_KEPT = 100
#: The clock a run's time budget is read from (a name of its own, so a test can move it alone).
_clock = time.monotonic


@dataclass
class RunReport:
    run: SourceRun
    versions: list[int] = field(default_factory=list)  # versions queued for ingestion
    #: Each item that failed: {"key", "detail" (the curator's words), "cause" (the technical reason),
    #: "unreached" (the host that could not be reached, or "")}.
    failures: list[dict] = field(default_factory=list)
    cause: str = ""  # the technical reason the whole run failed, for logs and the audit trail

    @property
    def ok(self) -> bool:
        return self.run.outcome == RunOutcome.OK


def _claim(source_id: int, now: dt.datetime) -> Source | None:
    with transaction.atomic():
        source = Source.objects.select_for_update().select_related("collection").get(pk=source_id)
        if source.running_since and now - source.running_since < RUN_STALE_AFTER:
            return None
        source.running_since = now
        source.save(update_fields=["running_since"])
    return source


def _fetcher(source: Source) -> Fetcher:
    """The run's fetcher, with the credential the source signs in with, if it has one."""
    if not source.credential:
        return Fetcher()
    credential = credential_named(source.credential)
    if credential is None:
        raise SourceError(
            f"The credential “{source.credential}” this source signs in with is no longer set up, so nothing "
            "was read. Ask the service team.",
            cause="not in HUMPHREY_SOURCE_CREDENTIALS",
        )
    try:
        return Fetcher(credential=credential)
    except FetchError as exc:
        raise SourceError(f"{exc.message} Nothing was read. Ask the service team.", cause=exc.cause) from None


def source_sync(source: Source, *, trigger: str = "command", now: dt.datetime | None = None) -> RunReport | None:
    """Read the source once and bring its collection in line; None if another run holds it."""
    now = now or timezone.now()
    claimed = _claim(source.pk, now)
    if claimed is None:
        return None
    source = claimed
    run = SourceRun.objects.create(source=source, started_at=now, trigger=trigger)
    report = RunReport(run=run)
    try:
        if not source.collection.is_active:
            raise SourceError("The collection is retired: its sources are not read.")
        with _fetcher(source) as fetcher:
            reader = Reader(source, fetcher)
            keys = reader.listing()
            items = {item.key: item for item in source.items.select_related("document")}
            if not keys and any(i.retired_at is None for i in items.values()):
                raise SourceError("The source lists nothing now; nothing was retired in case that is a mistake.")
            # Least recently read first, so a run cut short by its time budget leaves different
            # items for the next run to start with.
            never = dt.datetime.min.replace(tzinfo=dt.UTC)
            keys_ordered = sorted(keys, key=lambda k: (items[k].last_seen_at or never) if k in items else never)
            deadline = _clock() + settings.HUMPHREY_SOURCE_RUN_MINUTES * 60
            for done, key in enumerate(keys_ordered):
                if _clock() > deadline:
                    run.failed += len(keys_ordered) - done
                    run.error = (
                        f"Stopped after {settings.HUMPHREY_SOURCE_RUN_MINUTES} minutes, the most one run may take: "
                        f"{len(keys_ordered) - done} of {len(keys_ordered)} pages were not read this time and stay "
                        "as they were; the next run reads them first."
                    )
                    break
                item = items.get(key) or SourceItem(source=source, key=key, first_seen_at=now)
                _item_sync(reader, item, report, now)
            for key, item in items.items():
                if key not in keys:
                    _item_gone(item, report, now, f"{key} is no longer listed by the source.")
        if run.failed and not _read_any(run):
            # Every page failed and nothing else happened: the run failed, however it failed, and it
            # says why; "synced, with errors" would claim something was read.
            run.outcome = RunOutcome.FAILED
            run.error = run.error or _nothing_read(report)
        else:
            run.outcome = RunOutcome.PARTIAL if run.failed else RunOutcome.OK
    except SourceError as exc:
        run.outcome, run.error, report.cause = RunOutcome.FAILED, str(exc), exc.cause
        logger.info("source %s: the run failed: %s", source.pk, exc.cause or "-")
    except Exception as exc:
        logger.exception("source %s: the run failed", source.pk)
        run.outcome = RunOutcome.FAILED
        run.error = "Something went wrong reading the source, so nothing was read. Tell the service team."
        report.cause = f"{type(exc).__name__}: {exc}"[:2000]
    finally:
        _finish(source, run, report)
    return report


def _read_any(run: SourceRun) -> bool:
    """Whether the run found out anything about any item: read it, found it unchanged, or gone."""
    return bool(run.added or run.changed or run.unchanged or run.missing or run.retired)


def _nothing_read(report: RunReport) -> str:
    """Why a run in which every item failed read nothing, in a sentence or two for the curator."""
    failures = report.failures
    hosts = sorted({f["unreached"] for f in failures})
    if failures and all(hosts):  # every failure was a site that could not be reached
        return f"Humphrey could not reach {' or '.join(hosts)}, so nothing was read."
    details = list(dict.fromkeys(f["detail"] for f in failures))
    if len(details) == 1:
        return f"Nothing could be read. {details[0]}"
    return (
        f"Nothing could be read: none of its {report.run.failed} pages or files could be read. "
        "“What changed”, under the run, says why for each."
    )


def _failed(report: RunReport, item: SourceItem, detail: str, cause: str = "", unreached: str = "") -> None:
    """An item that could not be read this run: counted, noted for the page, its reason kept."""
    report.run.failed += 1
    report.failures.append({"key": item.key, "detail": detail, "cause": cause, "unreached": unreached})
    _note(report, item, "error", detail)


def _note(report: RunReport, item: SourceItem, what: str, detail: str = "", version: DocumentVersion | None = None):
    if len(report.run.changes) < CHANGES_KEPT:
        report.run.changes.append(
            {
                "key": item.key,
                "what": what,
                "detail": detail,
                "document_id": item.document_id,
                "version": version.number if version is not None else None,
            }
        )


def _item_sync(reader: Reader, item: SourceItem, report: RunReport, now: dt.datetime) -> None:
    run = report.run
    came_back = item.pk is not None and (item.missing_since is not None or item.retired_at is not None)
    document_gone = item.document is not None and not item.document.is_active
    read = reader.read(item, force=not settled(item))
    if read.state == "gone":
        if item.pk is None:
            _failed(report, item, read.detail, "gone before it was first read")
            return
        _item_gone(item, report, now, read.detail)
        return
    if read.state == "content" and not read.data:  # refused at upload; its document keeps what it has
        read = Read("error", detail="The file is empty.")
    if read.state == "error":
        item.last_error = read.detail
        _failed(report, item, read.detail, read.cause, read.unreached)
        if item.pk is None:
            return  # a page never read is not kept until it can be
        item.save(update_fields=["last_error"])
        return
    item.last_seen_at, item.missing_since, item.retired_at, item.last_error = now, None, None, ""
    item.etag = read.etag or item.etag
    item.last_modified = read.last_modified or item.last_modified
    item.stamp = read.stamp or item.stamp
    if "children" in read.extra:
        item.children = read.extra["children"]
    if read.state == "unchanged":
        run.unchanged += 1
        item.save()
        return
    digest = hashlib.sha256(read.data).hexdigest()
    if digest == item.sha256 and not (came_back or document_gone):
        run.unchanged += 1
        item.save()
        return
    try:
        version = _upload(reader.source, item, read)
    except ValidationError as exc:
        # Refused outright (too large, a type never read, password-protected...): nothing was stored
        # and its document, if it has one, keeps what it had. Said like a page that could not be read,
        # and read again next run (the refusal audited each time), not taken as seen.
        detail = "; ".join(exc.messages)
        _failed(report, item, detail, f"upload refused: {getattr(exc, 'code', None) or '-'}")
        if item.pk is None:
            return  # a page never stored is not kept until it can be
        SourceItem.objects.filter(pk=item.pk).update(last_error=detail)
        return
    item.sha256 = digest
    item.document_id = version.document_id
    item.save()
    if version.duplicate and not version.restored:
        run.unchanged += 1
        return
    if came_back or version.restored:
        run.changed += 1
        what = "back"
    elif version.number == 1:
        run.added += 1
        what = "added"
    else:
        run.changed += 1
        what = "changed"
    if not version.duplicate:
        report.versions.append(version.pk)
    _note(report, item, what, read.origin_url if read.origin_url not in ("", item.key) else "", version)


def _upload(source: Source, item: SourceItem, read) -> DocumentVersion:
    from ..services.documents import document_upload

    # The same document while it is the same kind of file; a page that became a PDF is another one.
    same_kind = item.document is not None and (
        PurePath(item.document.source_name).suffix.lower() == PurePath(read.filename).suffix.lower()
    )
    filename = item.document.source_name if same_kind else read.filename
    version = document_upload(
        collection=source.collection,
        filename=filename,
        data=read.data,
        user=None,
        via={"source_id": source.pk, "source_key": item.key[:500]},
    )
    if read.origin_url:
        Document.objects.filter(pk=version.document_id).exclude(origin_url=read.origin_url).update(
            origin_url=read.origin_url[:2000]
        )
    return version


def _item_gone(item: SourceItem, report: RunReport, now: dt.datetime, detail: str) -> None:
    from ..services.documents import document_retire

    if item.retired_at is not None:
        return
    if item.missing_since is None:
        item.missing_since = now
        report.run.missing += 1
        _note(report, item, "missing", detail)
    grace = dt.timedelta(hours=settings.HUMPHREY_SOURCE_GRACE_HOURS)
    if now - item.missing_since >= grace:
        if item.document is not None and item.document.is_active:
            document_retire(document=item.document, user=None)
        item.retired_at = now
        report.run.retired += 1
        _note(report, item, "retired", f"gone since {item.missing_since:%Y-%m-%d %H:%M}")
    item.save(update_fields=["missing_since", "retired_at"])


def _finish(source: Source, run: SourceRun, report: RunReport) -> None:
    finished = timezone.now()
    run.finished_at = finished
    run.save()
    source.last_run_at, source.last_outcome, source.running_since = finished, run.outcome, None
    source.last_error = run.error or (
        "; ".join(c["detail"] for c in run.changes if c["what"] == "error")[:2000] if run.failed else ""
    )
    source.save(update_fields=["last_run_at", "last_outcome", "last_error", "running_since"])
    audit_record(
        action=Action.SOURCE_SYNC,
        outcome=run.outcome,
        subject=subject(source),
        data={
            "collection_id": source.collection_id,
            "source_id": source.pk,
            "run_id": run.pk,
            "trigger": run.trigger,
            **{k: getattr(run, k) for k in ("added", "changed", "unchanged", "missing", "retired", "failed")},
            "error": run.error,
            # The technical reasons the page leaves out (the library's error, the rule applied).
            "cause": report.cause,
            "failures": [{"key": f["key"][:500], "cause": f["cause"][:500]} for f in report.failures[:CAUSES_KEPT]],
        },
    )


# --- the schedule -------------------------------------------------------------------------------


def source_schedule(
    source: Source, *, run_after: dt.datetime | None = None, trigger: str = "schedule"
) -> dt.datetime | None:
    """Queue the source's next run (``run_after``, default one interval after its last run) as the one
    task that owns its schedule; returns when, or None when it is paused or the backend cannot defer
    (``HUMPHREY_TASKS_IMMEDIATE``: then runs happen only when asked). ``trigger`` says who asked for
    that run (the schedule, or a curator's "sync now")."""
    from ..tasks import source_sync_task

    if not source.is_active or not source_sync_task.get_backend().supports_defer:
        Source.objects.filter(pk=source.pk).update(next_run_at=None, schedule_token="")
        return None
    if run_after is None:
        base = source.last_run_at or timezone.now()
        run_after = max(base + dt.timedelta(hours=source.every_hours), timezone.now())
    task = source_sync_task.using(run_after=run_after)
    token = uuid.uuid4().hex
    Source.objects.filter(pk=source.pk).update(next_run_at=run_after, schedule_token=token)
    transaction.on_commit(lambda: task.enqueue(source.pk, token, trigger))
    return run_after


def source_sync_scheduled(source_id: int, token: str, trigger: str = "schedule") -> dict:
    """The task's work: run the source if this task still owns its schedule, then queue the next run."""
    source = Source.objects.filter(pk=source_id).select_related("collection").first()
    if source is None or not source.is_active or source.schedule_token != token:
        return {"source_id": source_id, "skipped": "not scheduled by this task"}
    if not source.collection.is_active:  # retired since it was queued: no more runs
        Source.objects.filter(pk=source_id).update(is_active=False, next_run_at=None, schedule_token="")
        return {"source_id": source_id, "skipped": "its collection is retired"}
    try:
        report = source_sync(source, trigger=trigger)
    finally:  # a failed run must not stop the next one
        source.refresh_from_db()
        source_schedule(source)
    if report is None:
        return {"source_id": source_id, "skipped": "another run holds the source"}
    return {"source_id": source_id, "outcome": report.run.outcome, "run_id": report.run.pk}


def source_schedule_all() -> int:
    """Give every active source whose schedule is missing (never queued, or its task gone) a next run."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from ..tasks import source_sync_task

    waiting = DBTaskResult.objects.filter(
        task_path=source_sync_task.module_path, status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
    ).values_list("args_kwargs", flat=True)
    tokens = {(a.get("args") or [None, None])[1] for a in waiting if isinstance(a, dict)}
    armed = 0
    for source in Source.objects.filter(is_active=True, collection__is_active=True):
        if source.schedule_token and source.schedule_token in tokens:
            continue
        source_schedule(source)
        armed += 1
    return armed
