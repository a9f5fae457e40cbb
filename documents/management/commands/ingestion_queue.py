"""``manage.py ingestion_queue``: versions queued, being ingested, stalled or failed."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.utils import timezone

from documents.lifecycle import RUNNING, version_is_stale
from documents.models import DocumentVersion, VersionStatus
from documents.services.documents import version_retry


class Command(BaseCommand):
    help = "List document versions that are queued, being ingested (stalled ones marked) or failed."

    def add_arguments(self, parser):
        parser.add_argument("--failed", action="store_true", help="only failed versions")
        parser.add_argument("--retry-stale", action="store_true", help="queue stalled versions again")
        parser.add_argument("--retry-failed", action="store_true", help="queue failed versions again")

    def handle(self, *args, failed: bool = False, retry_stale: bool = False, retry_failed: bool = False, **options):
        statuses = [VersionStatus.FAILED] if failed else [*RUNNING, VersionStatus.QUEUED, VersionStatus.FAILED]
        versions = list(
            DocumentVersion.objects.filter(status__in=statuses)
            .select_related("document__collection")
            .order_by("uploaded_at")
        )
        if not versions:
            self.stdout.write("Nothing queued, running or failed.")
            return
        now = timezone.now()
        self.stdout.write(f"{'id':>6}  {'status':<10} {'progress':>9}  {'age':>7}  collection / document")
        retried = 0
        for version in versions:
            stale = version_is_stale(version, now=now)
            age = int((now - version.uploaded_at).total_seconds() // 60)
            progress = f"{version.progress_done}/{version.progress_total}" if version.progress_total else "-"
            label = version.status + (" (stalled)" if stale else "")
            self.stdout.write(
                f"{version.pk:>6}  {label:<10} {progress:>9}  {age:>5}m  "
                f"{version.document.collection.slug} / {version.document.source_name} v{version.number}"
            )
            if version.status == VersionStatus.FAILED and version.error:
                self.stdout.write(f"{'':>8}{version.error}")
            if (retry_stale and stale) or (retry_failed and version.status == VersionStatus.FAILED):
                try:
                    version_retry(version=version, user=None)
                    retried += 1
                except ValidationError as exc:
                    self.stdout.write(f"{'':>8}not retried: {'; '.join(exc.messages)}")
        if retry_stale or retry_failed:
            self.stdout.write(f"Queued {retried} version(s) again.")
