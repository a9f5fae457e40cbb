"""Re-embedding: every chunk whose vector came from another model than the configured one
(``manage.py reembed``), from the stored text, as the pipeline (``documents.ingest.pipeline``) builds it;
and (``reembed --units``) every chunk whose answer units were cut by an older rule than
``documents.ingest.units`` applies now.

Chunks of collections marked above the embedder's ceiling (``documents.embeddings``) are left as they
are, and ``chunks_reembed_refused`` says how many and why.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from ..embeddings import embedder_max_marking, embeds_marking, get_embedder
from ..lifecycle import RUNNING
from ..models import Chunk, Marking, VersionStatus
from .chunk import chunk_embed_text
from .pipeline import HEADING_SEPARATOR, UNIT_FIELDS, _embed_hash, chunk_units_embed
from .units import RULE as UNITS_RULE
from .units import split_units


def chunks_reembed(*, batch_size: int | None = None, progress=None) -> int:
    """Re-embed every chunk whose vector came from another model than the configured one.

    Works from the stored text: title + heading path + text, as the chunker builds it. Each batch
    commits on its own, so an interrupted run resumes where it stopped. Returns the number done.
    Chunks of collections marked above the embedder's ceiling are left as they are
    (``chunks_reembed_refused`` counts them).
    """
    embedder = get_embedder()
    model_id = embedder.model_id
    batch_size = batch_size or settings.HUMPHREY_INGEST_BATCH
    # Filtered by the collections' markings as they are at each batch (one may be raised meanwhile).
    todo = _reembed_todo(model_id).filter(collection__marking__in=_embeddable_markings())
    done = 0
    while True:
        batch = list(todo.select_related("version__document").order_by("pk")[:batch_size])
        if not batch:
            return done
        texts = []
        for chunk in batch:
            title = chunk.version.title or chunk.version.document.title
            path = tuple(p for p in chunk.heading_path.split(HEADING_SEPARATOR) if p)
            texts.append(chunk_embed_text(title, path, chunk.text))
        vectors = embedder.embed_documents(texts)
        for chunk, vector, text in zip(batch, vectors, texts, strict=True):
            chunk.embedding = vector
            chunk.embedding_model = model_id
            chunk.embed_sha256 = _embed_hash(text)
        chunk_units_embed(batch, embedder)
        with transaction.atomic():
            Chunk.objects.bulk_update(batch, ["embedding", "embedding_model", "embed_sha256", *UNIT_FIELDS])
        done += len(batch)
        if progress is not None:
            progress(len(batch))


def chunks_recut(*, batch_size: int | None = None, progress=None) -> int:
    """Cut again, and embed, the answer units of every chunk stamped with an older cutting rule than
    ``units.RULE`` whose stored units differ from how ``split_units`` cuts its text now: units are made
    at ingestion, so a release that cuts them better (a PDF's headings found without blank lines)
    reaches documents ingested before it only this way. Chunks whose units come out the same are only
    stamped. Chunks above the embedder's ceiling are left, as by ``chunks_reembed``. Each batch commits
    on its own, so an interrupted run resumes where it stopped. Returns the number re-cut;
    ``progress`` gets the number checked."""
    embedder = get_embedder()
    batch_size = batch_size or settings.HUMPHREY_INGEST_BATCH
    todo = _recut_todo().only("pk", "text", "heading_path", "units").order_by("pk")
    done = last = 0
    while True:
        batch = list(todo.filter(pk__gt=last)[:batch_size])
        if not batch:
            return done
        last = batch[-1].pk
        stale = [c for c in batch if c.units != [u.as_list() for u in split_units(c.text)]]
        if stale:
            chunk_units_embed(stale, embedder)
        same = {c.pk for c in batch} - {c.pk for c in stale}
        with transaction.atomic():
            if stale:
                Chunk.objects.bulk_update(stale, list(UNIT_FIELDS))
            Chunk.objects.filter(pk__in=same).update(units_rule=UNITS_RULE)
        done += len(stale)
        if progress is not None:
            progress(len(batch))


def _recut_todo():
    return (
        Chunk.objects.filter(units_rule__lt=UNITS_RULE, collection__marking__in=_embeddable_markings())
        .exclude(unit_vectors__isnull=True)  # never embedded: chunks_reembed makes their units
        .exclude(version__status__in=[VersionStatus.QUEUED, *RUNNING])
    )


def chunks_upkeep_counts() -> tuple[int, int]:
    """What an upgrade or a new embedding model left to do: chunks not embedded by the configured model
    (or without answer-unit vectors), and chunks whose units an older rule cut; both left out where
    the embedder may not be sent them."""
    model_id = get_embedder().model_id
    markings = _embeddable_markings()
    return (
        _reembed_todo(model_id).filter(collection__marking__in=markings).count(),
        _recut_todo().count(),
    )


def chunks_upkeep(*, batch_size: int | None = None) -> tuple[int, int]:
    """Both jobs of ``chunks_upkeep_counts``, re-embedding first (it cuts units too); returns how many
    chunks each changed."""
    return chunks_reembed(batch_size=batch_size), chunks_recut(batch_size=batch_size)


def _reembed_todo(model_id: str):
    return Chunk.objects.filter(
        ~Q(embedding_model=model_id) | Q(embedding__isnull=True) | Q(unit_vectors__isnull=True)
    ).exclude(version__status__in=[VersionStatus.QUEUED, *RUNNING])


def _embeddable_markings() -> list[str]:
    return [m for m in Marking.values if embeds_marking(m)]


def chunks_reembed_refused() -> tuple[int, str]:
    """How many chunks ``chunks_reembed`` leaves because their collection is above the embedder's
    ceiling, and why ("" when none)."""
    todo = _reembed_todo(get_embedder().model_id).exclude(collection__marking__in=_embeddable_markings())
    count = todo.count()
    if not count:
        return 0, ""
    markings = " and ".join(sorted(set(todo.values_list("collection__marking", flat=True)), key=Marking.rank))
    return count, (
        f"{count} chunk(s) are in {markings} collections; the embedding endpoint is approved up to "
        f"{embedder_max_marking()}, so they are not sent to it."
    )
