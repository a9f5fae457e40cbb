"""A fake embedder that takes its time, so a test can kill a real worker part-way through a file."""

from __future__ import annotations

import time

from documents.embeddings import FakeEmbeddings


class SlowFakeEmbeddings(FakeEmbeddings):
    """The fake embedder's vectors (same ``model_id``), half a second per batch."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        time.sleep(0.5)
        return super().embed_documents(texts)
