"""``manage.py source_sync [--collection SLUG] [--source ID] [--wait] [--schedule]``: read sources now.

Prints what changed in each; exits non-zero when a source, or a page in it, could not be read.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from documents.ingest.pipeline import version_ingest
from documents.models import Collection, RunOutcome, Source
from documents.sources.sync import source_schedule_all, source_sync


class Command(BaseCommand):
    help = "Read synced sources now and print what changed (non-zero exit on errors)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--collection", help="only this collection's sources")
        parser.add_argument("--source", type=int, help="only this source (its number)")
        parser.add_argument("--wait", action="store_true", help="ingest what changed here instead of queueing it")
        parser.add_argument(
            "--schedule", action="store_true", help="only make sure every active source has its next run queued"
        )

    def handle(self, *args, collection, source, wait, schedule, **options) -> None:
        if schedule:
            armed = source_schedule_all()
            self.stdout.write(f"{armed} source(s) given a next run; the others were already scheduled.")
            return
        sources = Source.objects.select_related("collection").order_by("collection__slug", "pk")
        if collection:
            if not Collection.objects.filter(slug=collection).exists():
                raise CommandError(f"No collection with the slug {collection!r}.")
            sources = sources.filter(collection__slug=collection)
        if source:
            sources = sources.filter(pk=source)
        sources = list(sources)
        if not sources:
            raise CommandError("No sources to read.")
        errors = 0
        for item in sources:
            report = source_sync(item, trigger="command")
            if report is None:
                self.stdout.write(f"{item.collection.slug} source {item.pk}: another run is reading it; skipped.")
                continue
            run = report.run
            self.stdout.write(
                f"{item.collection.slug} source {item.pk} ({item.summary}): {run.get_outcome_display()}: "
                f"{run.added} added, {run.changed} changed, {run.unchanged} unchanged, {run.missing} missing, "
                f"{run.retired} retired, {run.failed} failed"
            )
            if run.error:
                self.stdout.write(f"  error: {run.error}")
            for change in run.changes:
                version = f" (version {change['version']})" if change.get("version") else ""
                detail = change["detail"]
                if detail.startswith(change["key"]):  # the reason already names it
                    self.stdout.write(f"  {change['what']}: {detail}")
                else:
                    self.stdout.write(
                        f"  {change['what']}: {change['key']}{version}" + (f": {detail}" if detail else "")
                    )
            if run.outcome != RunOutcome.OK:
                errors += 1
            if wait:
                for version_id in report.versions:
                    outcome = version_ingest(version_id)
                    if outcome.error:
                        errors += 1
                        self.stdout.write(f"  ingestion failed: version {version_id}: {outcome.error}")
        if errors:
            raise CommandError(f"{errors} problem(s) reading sources; see above.")
