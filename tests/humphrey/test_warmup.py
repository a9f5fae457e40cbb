"""Warm start: the embedder is loaded and used before the first question, then the heap is frozen."""

from __future__ import annotations

import gc

import pytest

from documents import embeddings
from documents.local_embedder import LocalMiniLM
from humphrey.warmup import warm_up


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def test_warm_up_loads_the_local_embedder_and_freezes_the_heap(settings, monkeypatch, unfrozen):
    used = []

    class Local(LocalMiniLM):
        def embed_documents(self, texts):
            used.append(texts)
            return [[0.0] * embeddings.DIMENSIONS for _ in texts]

    local = Local(backend="onnx")
    monkeypatch.setattr(embeddings, "get_embedder", lambda: local)
    settings.HUMPHREY_CHAT_MODELS = {"extractive": {"CLASS": "extractive", "CONFIG": {}}}
    settings.HUMPHREY_CHAT_MODEL_ALIAS = "extractive"
    gc.unfreeze()
    warm_up()
    assert used == [["warm up"]]
    assert gc.get_freeze_count() > 10_000


def test_a_failing_warm_up_is_logged_and_the_process_still_starts(monkeypatch, caplog, unfrozen):
    def broken():
        raise RuntimeError("model files missing")

    monkeypatch.setattr(embeddings, "get_embedder", broken)
    warm_up()
    assert "warm start failed" in caplog.text
    assert gc.get_freeze_count() > 0
