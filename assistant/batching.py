"""Work that arrives at once, done together: one call for every item waiting at that moment.

A burst of 100 questions would otherwise make 100 single-text model calls, and 100 small database
transactions, one after another. Batched, the model pads and multiplies once per batch and the
database does a handful of set-based statements per batch. While one batch is being worked on the
next one gathers, so batching needs no fixed waiting window and adds no delay to a lone item.

``Batcher`` is the mechanism (one per event loop and kind of work); ``query_embedder()`` embeds
questions in a worker thread, outside the database threads and the event loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from documents.embeddings import get_embedder

MAX_BATCH = 64


class Batcher:
    """Items submitted while no batch is running start one at the next turn of the loop; items
    submitted while one runs make up the next. ``run`` takes a list of items and returns one result
    per item, in order: a result, or an exception instance raised to that item's caller alone. An
    exception raised by ``run`` itself is given to every item of that batch."""

    def __init__(self, run: Callable[[list], Awaitable[list]], *, max_batch: int = MAX_BATCH) -> None:
        self.run = run
        self.max_batch = max_batch
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self.worker: asyncio.Task | None = None
        self.batches = 0  # for tests and the benchmark

    async def submit(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((item, future))
        if self.worker is None or self.worker.done():
            self.worker = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let items arriving in the same instant join the first batch
        while self.pending:
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            batch = [(item, future) for item, future in batch if not future.done()]  # callers gone
            if not batch:
                continue
            try:
                results = await self.run([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


_per_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def per_loop(name: str, make: Callable[[], Batcher]) -> Batcher:
    """This event loop's batcher called ``name`` (futures belong to one loop)."""
    loop = asyncio.get_running_loop()
    batchers = _per_loop.setdefault(loop, {})
    if name not in batchers:
        batchers[name] = make()
    return batchers[name]


#: HTTP statuses an embedding endpoint gives for what it was sent (too long, malformed), not for being
#: down: a batch refused with one is tried again text by text, so one question cannot fail the others.
INPUT_REFUSED = frozenset({400, 413, 422})


async def _embed(texts: list[str]) -> list[list[float] | BaseException]:
    embed = get_embedder().embed_documents
    try:
        return await asyncio.to_thread(embed, texts)
    except Exception as exc:
        if len(texts) == 1 or getattr(exc, "status_code", None) not in INPUT_REFUSED:
            raise  # down, slow or failing for everything: each caller falls back on its own
    return [await _embed_alone(embed, text) for text in texts]


async def _embed_alone(embed, text: str) -> list[float] | BaseException:
    try:
        return (await asyncio.to_thread(embed, [text]))[0]
    except Exception as exc:
        return exc


class QueryEmbedder(Batcher):
    def __init__(self, *, max_batch: int = MAX_BATCH) -> None:
        super().__init__(_embed, max_batch=max_batch)

    async def embed(self, text: str) -> list[float]:
        return await self.submit(text)


def query_embedder() -> QueryEmbedder:
    """This event loop's question embedder."""
    return per_loop("embed", QueryEmbedder)
