"""The whole shared corpus through the real pipeline with the real local embedder (slow)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from documents.embeddings import get_embedder
from documents.models import Chunk, Collection, Document, VersionStatus
from documents.retrieval import passages_for_user

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_the_whole_corpus_ingested_with_the_real_embedder_is_found_and_answered(corpus, settings, media, make_user):
    """The corpus is ingested once (with MiniLM, a minute or two) for both checks: what ingestion
    made of it and what chat answers from it."""
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "local", "CONFIG": {"backend": "onnx-int8"}}  # the default
    settings.HUMPHREY_CHAT_MODELS = {"extractive": {"CLASS": "extractive", "CONFIG": {"max_words": 120}}}
    settings.HUMPHREY_CHAT_MODEL_ALIAS = "extractive"
    ingested_and_found(corpus, make_user)
    answers_quote_what_answers_and_refuse_what_is_not_covered(corpus)


def ingested_and_found(corpus: Path, make_user) -> None:
    """Every corpus file becomes a ready, searchable version embedded by MiniLM; questions find their documents."""
    docs = sorted(p for p in (corpus / "docs").iterdir() if p.is_file())
    out = io.StringIO()
    call_command(
        "ingest",
        str(corpus / "docs"),
        "--collection",
        "corpus",
        "--create",
        "--wait",
        "--group",
        "Staff",
        "--no-progress",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert f"ingested {len(docs)}" in out.getvalue() and "failed 0" in out.getvalue()
    collection = Collection.objects.get(slug="corpus")
    documents = Document.objects.filter(collection=collection).select_related("current_version")
    assert documents.count() == len(docs)
    assert all(d.current_version and d.current_version.status == VersionStatus.READY for d in documents)
    model_id = get_embedder().model_id
    chunks = Chunk.objects.filter(collection=collection)
    assert chunks.exists() and not chunks.exclude(embedding_model=model_id).exists()
    assert not chunks.filter(searchable=False).exists()
    assert not Document.objects.filter(
        collection=collection, title__startswith="0"
    ).exists()  # titles from front matter

    reader = make_user("reader@example.gov.uk", groups=["Staff"])
    questions = [json.loads(line) for line in (corpus / "dev-questions.jsonl").read_text().splitlines() if line.strip()]
    by_source = {d.source_name: d.pk for d in documents}
    found = 0
    for q in questions[:20]:
        passages = passages_for_user(user=reader, query=q["question"], collections=["corpus"], k=8)
        found += any(p.document_id == by_source.get(q["doc"]) for p in passages)
    assert found >= 16, f"only {found} of 20 questions retrieved their document in the top 8"
    assert Group.objects.filter(name="Staff").exists()


def answers_quote_what_answers_and_refuse_what_is_not_covered(corpus: Path) -> None:
    """With the real embedder and the corpus ingested, the extractive answers hold the sentence that
    answers most dev questions, and most questions the guidance does not cover are refused
    (docs/answers.md has the figures; these floors leave room for CPUs whose int8 kernels differ)."""
    bench = Path(__file__).resolve().parents[2] / "bench"

    def evaluate(path) -> dict:
        out = io.StringIO()
        call_command("evaluate_answers", str(path), "--collection", "corpus", "--quiet", stdout=out)
        return json.loads(out.getvalue().strip().splitlines()[-1])

    dev = evaluate(corpus / "dev-questions.jsonl")
    assert dev["answered"] >= 0.9 and dev["doc_cited"] >= 0.9, dev
    assert dev["quote_in_answer"] >= 0.8, dev
    negatives = evaluate(bench / "questions-negative.jsonl")
    assert negatives["negatives_refused"] >= 0.7, negatives
    assert negatives["answerable"] == 0
