"""The real task worker (``manage.py db_worker``) in a child process: it ingests queued uploads, and
killing it mid-file leaves a version that is not searchable and that a retry completes."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from documents import services
from documents.models import Chunk, DocumentVersion, VersionStatus
from tests.conftest import ROOT, server_environment

pytestmark = pytest.mark.django_db(transaction=True)

BODY = (
    "# Guide\n\n" + "\n\n".join(f"## Part {i}\n\n" + f"Rule {i} says something useful. " * 30 for i in range(10))
).encode()


def worker(media, *extra: str, embedder: str = "fake") -> subprocess.Popen:
    env = server_environment(
        HUMPHREY_EMBEDDINGS_PROVIDER=embedder,
        HUMPHREY_MEDIA_ROOT=str(media),
        HUMPHREY_INGEST_BATCH="2",
        DJANGO_DEBUG="0",
    )
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--queue-name",
            "*",
            "--no-startup-delay",
            "--interval",
            "0.2",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_the_worker_ingests_a_queued_upload(make_collection, curator, media):
    """An upload queues a task in the database; the worker process picks it up and publishes the version."""
    collection = make_collection()
    version = services.document_upload(collection=collection, filename="guide.md", data=BODY, user=curator)
    version.refresh_from_db()
    assert version.status == VersionStatus.QUEUED and version.task_id
    process = worker(media, "--batch")
    assert process.wait(timeout=120) == 0
    version.refresh_from_db()
    assert version.status == VersionStatus.READY
    assert version.chunks.filter(searchable=True).count() == version.chunks.count() > 0


def test_killing_the_worker_mid_file_then_retrying(make_collection, curator, media):
    """SIGKILL during embedding leaves nothing searchable; once stale, a retry finishes the version."""
    collection = make_collection()
    version = services.document_upload(collection=collection, filename="guide.md", data=BODY, user=curator)
    process = worker(media, embedder="tests.documents.slow_embedder.SlowFakeEmbeddings")
    try:
        wait_for(
            lambda: DocumentVersion.objects.filter(
                pk=version.pk, status=VersionStatus.EMBEDDING, progress_done__gte=2
            ).exists()
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    version.refresh_from_db()
    assert version.status == VersionStatus.EMBEDDING
    assert version.progress_done < version.progress_total
    assert not Chunk.objects.filter(collection=collection, searchable=True).exists()
    assert version.document.current_version_id is None

    DocumentVersion.objects.filter(pk=version.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    services.version_retry(version=version, user=curator)
    process = worker(media, "--batch")
    assert process.wait(timeout=120) == 0
    version.refresh_from_db()
    assert version.status == VersionStatus.READY
    assert version.chunks.filter(searchable=True).count() == version.chunks.count() == version.progress_total


def test_after_an_upgrade_the_worker_re_embeds_and_cuts_again_what_it_left(make_collection, curator, media):
    """The worker's start queues (``reembed --queue``, as docker-entrypoint.sh and make run do) what an
    upgrade or a new embedding model left: a chunk embedded by another model and a chunk whose units an
    older rule cut are both brought up to date by the worker, and nothing is queued twice."""
    import io

    from django.core.management import call_command

    from documents.ingest.units import RULE, split_units

    collection = make_collection()
    version = services.document_upload(collection=collection, filename="guide.md", data=BODY, user=curator)
    assert worker(media, "--batch").wait(timeout=120) == 0
    first, second = version.chunks.order_by("ordinal")[:2]
    cut_now = first.units
    model_id = first.embedding_model
    Chunk.objects.filter(pk=first.pk).update(units=[[0, len(first.text), "heading", -1]], units_rule=0)
    Chunk.objects.filter(pk=second.pk).update(embedding_model="old/model")

    def queue() -> str:
        out = io.StringIO()
        call_command("reembed", "--queue", stdout=out)
        return out.getvalue()

    assert "1 chunk(s) to re-embed, 1 chunk(s) whose answer units an older rule cut: queued" in queue()
    assert "already queued" in queue()
    assert worker(media, "--batch").wait(timeout=120) == 0
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.units == cut_now == [u.as_list() for u in split_units(first.text)]
    assert first.units_rule == RULE
    assert second.embedding_model == model_id
    assert set(Chunk.objects.values_list("units_rule", flat=True)) == {RULE}
    assert queue().startswith("Every chunk is embedded by the configured model")
