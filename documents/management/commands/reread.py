"""``manage.py reread``: read again with today's readers the current version of every document an older
release read (``--all``: of every document), and store as a new version each one they read otherwise
(after an upgrade that reads a format better)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from documents.ingest.reread import documents_reread
from documents.models import Collection
from documents.services import version_ingest


class Command(BaseCommand):
    help = (
        "Read each active document's current version again with this release's readers; where they cut "
        "it into other chunks, store the same file as a new version (audited; unchanged chunks keep "
        "their vectors). Reads every stored file, OCR included."
    )

    def add_arguments(self, parser):
        parser.add_argument("--collection", default="", help="only this collection (its slug)")
        parser.add_argument("--dry-run", action="store_true", help="only say which documents would change")
        parser.add_argument("--wait", action="store_true", help="ingest the new versions here, instead of queueing")
        parser.add_argument(
            "--all",
            action="store_true",
            dest="everything",
            help="read every current version again, not only those an older release read",
        )

    def handle(
        self,
        *args,
        collection: str = "",
        dry_run: bool = False,
        wait: bool = False,
        everything: bool = False,
        **options,
    ):
        if collection and not Collection.objects.filter(slug=collection).exists():
            raise CommandError(f"There is no collection {collection!r}.")
        results = documents_reread(
            collection=collection or None, store=not dry_run, enqueue=not wait, everything=everything
        )
        changed = [r for r in results if r.changed]
        for r in results:
            state = "would be read again" if r.changed and dry_run else "read again" if r.changed else "unchanged"
            if r.error:
                state = f"cannot be read now: {r.error}"
            self.stdout.write(f"{r.document.collection.slug}/{r.document.source_name}: {state}")
        if wait and not dry_run:
            for r in changed:
                version_ingest(r.stored.pk)
        verb = "would be stored again" if dry_run else "stored again as new versions"
        self.stdout.write(f"{len(changed)} of {len(results)} document(s) {verb}.")
