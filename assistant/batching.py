"""Question embeddings computed together: one model call for every question waiting at that moment.

A burst of 100 questions would otherwise run 100 single-text model calls one after another; batched,
the model pads and multiplies once per batch, and the event loop never blocks on it (the model runs
in a worker thread, outside the database thread). While one batch is being embedded the next one
gathers, so batching needs no fixed waiting window and adds no delay to a lone question.
"""

from __future__ import annotations

import asyncio
import weakref

from documents.embeddings import get_embedder

MAX_BATCH = 64


class QueryEmbedder:
    def __init__(self, *, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self.pending: list[tuple[str, asyncio.Future]] = []
        self.worker: asyncio.Task | None = None
        self.batches = 0  # for tests and the benchmark

    async def embed(self, text: str) -> list[float]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((text, future))
        if self.worker is None or self.worker.done():
            self.worker = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let questions arriving in the same instant join the first batch
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            embedder = get_embedder()
            try:
                vectors = await asyncio.to_thread(embedder.embed_documents, [text for text, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)


_per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def query_embedder() -> QueryEmbedder:
    """This event loop's batcher (futures belong to one loop)."""
    loop = asyncio.get_running_loop()
    batcher = _per_loop.get(loop)
    if batcher is None:
        batcher = _per_loop[loop] = QueryEmbedder()
    return batcher
