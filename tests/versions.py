"""A newer version of a document, published as ingestion publishes one (test data written straight in)."""

from __future__ import annotations

import hashlib

from django.db import transaction

from documents.embeddings import FakeEmbeddings
from documents.lifecycle import document_searchable_refresh
from documents.models import Chunk, Document, DocumentVersion, VersionStatus

FAKE = FakeEmbeddings()


def publish_version(
    document: Document, texts: list[str], *, headings: list[str] | None = None, status: str = VersionStatus.READY
) -> DocumentVersion:
    """Version n+1 of ``document`` with chunks ``texts`` (under ``headings``); when ready it becomes the
    current version and the only one searched, as publishing a version makes it."""
    body = "\n\n".join(texts)
    number = (document.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = DocumentVersion.objects.create(
        document=document,
        number=number,
        file=f"documents/{document.source_name}.v{number}",
        original_filename=document.source_name,
        sha256=hashlib.sha256(body.encode()).hexdigest(),
        size_bytes=len(body),
        status=status,
    )
    offset = 0
    Chunk.objects.bulk_create(
        Chunk(
            version=version,
            collection_id=document.collection_id,
            ordinal=i,
            text=text,
            heading_path=headings[i] if headings else "",
            anchor=f"section {i + 1}",
            char_start=(start := body.index(text, offset)),
            char_end=(offset := start + len(text)),
            embedding=vector,
            embedding_model=FAKE.model_id,
        )
        for i, (text, vector) in enumerate(zip(texts, FAKE.embed_documents(texts), strict=True))
    )
    if status == VersionStatus.READY:
        with transaction.atomic():
            document.current_version = version
            document.save(update_fields=["current_version"])
            document_searchable_refresh(document)
    return version
