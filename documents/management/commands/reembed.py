"""``manage.py reembed``: re-embed chunks made by another embedding model than the configured one;
``--units``: cut again the answer units of chunks ingested under an older cutting rule; ``--queue``:
both, by the task worker, and only when there is something to do (run as the worker starts, so an
upgrade or a new embedding model needs no one to remember this command), and say how many documents
an older release read (``manage.py reread``, not queued: it reads their files again)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand
from django.db.models import Q

from documents.embeddings import get_embedder
from documents.ingest.reembed import chunks_recut, chunks_reembed, chunks_reembed_refused, chunks_upkeep_counts
from documents.models import Chunk


class Command(BaseCommand):
    help = (
        "Re-embed every chunk whose embedding_model differs from the configured embedder's model id "
        "(after switching HUMPHREY_EMBEDDINGS_PROVIDER), or that has no answer-unit vectors yet "
        "(chunks ingested before they existed). Resumable: each batch commits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count what would be re-embedded")
        parser.add_argument("--batch-size", type=int, default=0, help="chunks per batch (default: the setting)")
        parser.add_argument(
            "--units",
            action="store_true",
            help="also cut again the answer units of every chunk cut by an older rule (after an upgrade that "
            "changes how sentences and headings are found; reads every chunk)",
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="queue both jobs for the task worker, if either has anything to do and none is queued yet",
        )

    def handle(self, *args, dry_run: bool = False, batch_size: int = 0, units: bool = False, **options):
        if options["queue"]:
            return self.queue()
        model_id = get_embedder().model_id
        todo = Chunk.objects.filter(
            ~Q(embedding_model=model_id) | Q(embedding__isnull=True) | Q(unit_vectors__isnull=True)
        ).count()
        self.stdout.write(f"{todo} chunk(s) not embedded by {model_id} (or without answer-unit vectors).")
        refused, reason = chunks_reembed_refused()
        if refused:
            self.stderr.write(self.style.WARNING(f"{refused} of them will be left as they are: {reason}"))
        if dry_run:
            return
        from tqdm import tqdm

        if todo:
            with tqdm(total=todo, unit="chunk", file=sys.stderr, disable=None) as bar:
                done = chunks_reembed(batch_size=batch_size or None, progress=bar.update)
            self.stdout.write(f"Re-embedded {done} chunk(s) with {model_id}.")
        if units:
            with tqdm(total=chunks_upkeep_counts()[1], unit="chunk", file=sys.stderr, disable=None) as bar:
                done = chunks_recut(batch_size=batch_size or None, progress=bar.update)
            self.stdout.write(f"Cut the answer units of {done} chunk(s) again.")

    def queue(self) -> None:
        from documents.ingest.reread import documents_to_reread
        from documents.tasks import chunks_upkeep_pending, chunks_upkeep_task

        older = documents_to_reread().count()
        if older:  # not queued: it reads every such file again, OCR included, which is for a quiet hour
            self.stdout.write(
                f"{older} document(s) were read by an older release's readers: `manage.py reread` reads them "
                "again and stores those it reads otherwise as new versions (run it in a quiet hour)."
            )
        reembed, recut = chunks_upkeep_counts()
        if not reembed and not recut:
            self.stdout.write("Every chunk is embedded by the configured model and cut by the current rule.")
            return
        todo = f"{reembed} chunk(s) to re-embed, {recut} chunk(s) whose answer units an older rule cut"
        if chunks_upkeep_pending():
            self.stdout.write(f"{todo}: already queued for the task worker.")
            return
        chunks_upkeep_task.enqueue()
        self.stdout.write(f"{todo}: queued for the task worker.")
