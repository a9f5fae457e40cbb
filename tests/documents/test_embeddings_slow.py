"""The local embedder's ONNX backends against torch and fp32 (slow: loads the real model)."""

from __future__ import annotations

import pytest

from documents.local_embedder import LocalMiniLM

pytestmark = pytest.mark.slow

TEXTS = [
    "Travel and subsistence (T&S) policy\n3.1 Day subsistence rates\n\nTS2: away for more than 10 hours: up to £10.00",
    "How many days of annual leave can I carry over?",
    "x",
    "Lock your screen whenever you leave your device. " * 40,  # longer than the model's 256 word pieces
]


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_onnx_backend_matches_torch(tmp_path):
    """Same network, same pooling: every vector agrees with torch's to 4 decimal places of cosine."""
    torch_vectors = LocalMiniLM(backend="torch").embed_documents(TEXTS)
    onnx = LocalMiniLM(backend="onnx", cache_dir=str(tmp_path))
    onnx_vectors = onnx.embed_documents(TEXTS)
    assert onnx.backend == "onnx", "the ONNX export must work here, not fall back to torch"
    assert onnx.model_id == LocalMiniLM(backend="torch").model_id
    for a, b in zip(torch_vectors, onnx_vectors, strict=True):
        assert len(b) == 384
        assert cosine(a, b) > 0.9999
    assert list(tmp_path.glob("*.onnx")), "the export is cached for the next process"


def test_int8_backend_stays_close_to_fp32_under_its_own_model_id():
    """The default backend: quantised, so its own model id (switching means reembed), and each
    vector within 0.98 cosine of the fp32 network's (0.995 on the whole corpus, docs/chunking.md)."""
    fp32 = LocalMiniLM(backend="onnx").embed_documents(TEXTS)
    int8 = LocalMiniLM(backend="onnx-int8")
    vectors = int8.embed_documents(TEXTS)
    assert int8.backend == "onnx-int8"
    assert int8.model_id != LocalMiniLM(backend="onnx").model_id
    for a, b in zip(fp32, vectors, strict=True):
        assert len(b) == 384
        assert 0.98 < cosine(a, b) < 0.99999  # close (a one-word text moves most), and really quantised
