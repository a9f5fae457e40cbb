"""``manage.py load_sample``: the fictional department's guidance and its glossary, readable by "All
staff" (idempotent)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from documents.management.commands.glossary import read_entries
from documents.management.commands.ingest import collect_files, ingest_files
from documents.models import Collection
from documents.services import collections
from documents.services.glossary import glossary_replace

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample"
GLOSSARY = SAMPLE_DIR / "glossary.jsonl"  # everyday words for what the sample guidance calls things
SLUG = "dde-guidance"
NAME = "Department for Digital Examples: staff guidance"
DESCRIPTION = (
    "Fictional guidance written for this project: travel and subsistence, expenses, hybrid working, "
    "leave and IT security at the Department for Digital Examples (DDE)."
)
READERS = "All staff"
CURATOR_EMAIL = "curator@example.gov.uk"


class Command(BaseCommand):
    help = "Load the sample collection (documents/sample) and let the 'All staff' group read it. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--queue", action="store_true", help="queue for the worker instead of ingesting here")

    def handle(self, *args, queue: bool = False, **options):
        readers, _ = Group.objects.get_or_create(name=READERS)
        curator = get_user_model().objects.filter(email__iexact=CURATOR_EMAIL).first()
        collection = Collection.objects.filter(slug=SLUG).first()
        if collection is None:
            collection = collections.collection_create(
                user=curator, name=NAME, slug=SLUG, description=DESCRIPTION, reader_groups=[readers]
            )
        elif not collection.reader_groups.filter(pk=readers.pk).exists():
            collections.collection_grant(collection=collection, group=readers, user=curator)
        if curator is not None and not collection.curators.filter(pk=curator.pk).exists():
            collection.curators.add(curator)
        files, _ = collect_files([str(SAMPLE_DIR)])
        if not files:
            raise CommandError(f"No sample documents found in {SAMPLE_DIR}.")
        summary = ingest_files(files, collection=collection, user=curator, wait=not queue, label=lambda p: p.name)
        self.stdout.write(
            f"Sample collection {SLUG!r}: ingested {len(summary.ingested)}, queued {len(summary.queued)}, "
            f"unchanged {len(summary.unchanged)}, failed {len(summary.failed)}"
        )
        for name, reason in summary.failed:
            self.stderr.write(f"  failed: {name}: {reason}")
        if not collection.glossary.exists():  # a curator's own edits are kept on a re-run
            entries = read_entries(GLOSSARY)
            glossary_replace(collection=collection, user=curator, entries=entries)
            self.stdout.write(f"Sample glossary: {len(entries)} entries")
        if summary.failed:
            raise CommandError("Some sample documents failed to load.", returncode=1)
