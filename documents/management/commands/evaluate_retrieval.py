"""Measure retrieval on a question set: ``manage.py evaluate_retrieval QUESTIONS.jsonl --collection SLUG``.

Each line of the file is JSON with ``question``, ``doc`` (the source file's name as ingested) and
``answer_quote`` (words of that document that answer it); lines whose ``doc`` is null (questions the
corpus cannot answer) are skipped. For every question the command retrieves through the same
selector chat uses (``documents.retrieval``), prints each miss, and ends with one line of JSON:

- ``recall_at_1/5/10``: the source document is among the top 1/5/10 passages' documents;
- ``mrr``: mean reciprocal rank of the first passage from the source document (top 10);
- ``passage_recall_at_5/10``: a top-5/10 passage contains the answer quote (whitespace and case
  folded). This is the one that matters: the model can only cite what it is shown.

The questions file defaults to the shared corpus's ``dev-questions.jsonl``; a relative name not found
here is looked for in the corpus too. The corpus is ``HUMPHREY_CORPUS_DIR``, else ``../shared/corpus``
beside the checkout (where the tests and ``bench/`` look for it as well).

The search runs as ``--user`` (an existing account, by email) or, by default, as a temporary reader
of the collection created inside a transaction that is rolled back: nothing is left behind and the
access-control path is the real one.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from documents.embeddings import get_embedder
from documents.models import Chunk, Collection
from documents.retrieval import RetrievalParams, retrieve

DEPTH = 10  # passages fetched per question: enough for every metric reported


class _Rollback(Exception):
    """Raised to undo the temporary reader once the run is over."""


def corpus_dir() -> Path:
    """The shared corpus: ``HUMPHREY_CORPUS_DIR``, else ``../shared/corpus`` beside the checkout."""
    named = os.environ.get("HUMPHREY_CORPUS_DIR")
    return Path(named) if named else Path(settings.BASE_DIR).parent / "shared" / "corpus"


def questions_path(path: Path | None) -> Path:
    """The question file named (a relative name not found here is looked for in the corpus), or by
    default the corpus's dev questions; a missing one is a clear error naming where it was sought."""
    if path is None:
        path = corpus_dir() / "dev-questions.jsonl"
    elif not path.is_absolute() and not path.exists() and (corpus_dir() / path).exists():
        path = corpus_dir() / path
    if not path.is_file():
        raise CommandError(f"No such file: {path} (the shared corpus is HUMPHREY_CORPUS_DIR, else ../shared/corpus)")
    return path


def fold(text: str) -> str:
    """Case- and whitespace-folded, for "does this passage contain the quote"."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip().casefold()


def read_questions(path: Path, *, keep_uncovered: bool = False) -> tuple[list[dict], int]:
    """The answerable questions (with ``keep_uncovered``, those with ``doc`` null too), and how many
    were skipped; a malformed line is a clear error."""
    if not path.is_file():
        raise CommandError(f"No such file: {path}")
    questions, skipped = [], 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("question"), str) or not record["question"]:
            raise CommandError(f"{path}:{number}: each line needs a non-empty 'question'")
        if record.get("doc") is None and not keep_uncovered:
            skipped += 1
            continue
        if record.get("previous") is not None and not isinstance(record["previous"], str):
            raise CommandError(f"{path}:{number}: 'previous' must be text")
        if record.get("doc") is None:
            record.setdefault("id", f"line-{number}")
            questions.append(record)
            continue
        if not isinstance(record.get("doc"), str) or not isinstance(record.get("answer_quote"), str):
            raise CommandError(f"{path}:{number}: 'doc' and 'answer_quote' must be text (or doc null)")
        record.setdefault("id", f"line-{number}")
        questions.append(record)
    return questions, skipped


def score(questions: list[dict], results: list[list], k: int) -> tuple[dict, list[str]]:
    """The metrics over ``results`` (one ranked passage list per question), and the miss lines."""
    n = len(questions)
    totals = {"recall_at_1": 0, "recall_at_5": 0, "recall_at_10": 0, "recall_at_k": 0}
    totals |= {"passage_recall_at_1": 0, "passage_recall_at_5": 0, "passage_recall_at_10": 0}
    totals["passage_recall_at_k"] = 0
    reciprocal, misses = 0.0, []
    for question, passages in zip(questions, results, strict=True):
        doc_rank = next((i for i, p in enumerate(passages, 1) if p.source_name == question["doc"]), None)
        quote = fold(question["answer_quote"])
        quote_rank = next((i for i, p in enumerate(passages, 1) if quote in fold(p.text)), None)
        for cut in (1, 5, 10):
            totals[f"recall_at_{cut}"] += doc_rank is not None and doc_rank <= cut
            totals[f"passage_recall_at_{cut}"] += quote_rank is not None and quote_rank <= cut
        totals["recall_at_k"] += doc_rank is not None and doc_rank <= k
        totals["passage_recall_at_k"] += quote_rank is not None and quote_rank <= k
        reciprocal += 1 / doc_rank if doc_rank else 0.0
        if quote_rank is None or quote_rank > k:
            where = f"document at rank {doc_rank}" if doc_rank else "document not in top 10"
            quote_where = f"quote at rank {quote_rank}" if quote_rank else "quote not in top 10"
            misses.append(f"MISS {question['id']}: {where}, {quote_where}: {question['question']}")
    metrics = {"n": n, "k": k}
    metrics |= {key: round(value / n, 4) if n else 0.0 for key, value in totals.items()}
    metrics["mrr"] = round(reciprocal / n, 4) if n else 0.0
    return metrics, misses


class Command(BaseCommand):
    help = "Measure retrieval on a JSONL question set against one collection; last line is JSON metrics."

    def add_arguments(self, parser):
        parser.add_argument(
            "questions",
            type=Path,
            nargs="?",
            help="JSONL file: question, doc, answer_quote per line (default: the corpus's dev-questions.jsonl)",
        )
        parser.add_argument("--collection", required=True, help="slug of the collection to search")
        parser.add_argument("--k", type=int, default=5, help="passages an answer would be given (default 5)")
        parser.add_argument("--mode", choices=["hybrid", "vector", "keyword"], default="hybrid")
        parser.add_argument("--user", help="search as this user (email); default: a temporary reader")
        parser.add_argument("--quiet", action="store_true", help="print only the JSON line")

    def handle(self, *args, questions: Path | None, collection: str, k: int, mode: str, user: str | None, **options):
        if k < 1 or k > DEPTH:
            raise CommandError(f"--k must be between 1 and {DEPTH}")
        questions = questions_path(questions)
        records, skipped = read_questions(questions)
        if not records:
            raise CommandError(f"{questions} has no answerable questions")
        try:
            target = Collection.objects.get(slug=collection)
        except Collection.DoesNotExist:
            raise CommandError(f"No collection with the short name {collection!r}") from None

        vectors: list[list[float] | None] = [None] * len(records)
        embed_seconds = 0.0
        if mode != "keyword":
            started = time.perf_counter()
            vectors = get_embedder().embed_documents([r["question"] for r in records])
            embed_seconds = time.perf_counter() - started

        results, timings = [], []
        try:
            with transaction.atomic():
                reader = self._reader(target, user)
                params = RetrievalParams.from_settings()
                for record, vector in zip(records, vectors, strict=True):
                    started = time.perf_counter()
                    found = retrieve(
                        user=reader,
                        query=record["question"],
                        collections=[target.slug],
                        k=DEPTH,
                        query_vector=vector,
                        params=params,
                        mode=mode,
                    )
                    timings.append(time.perf_counter() - started)
                    results.append(found.passages)
                if user is None:
                    raise _Rollback
        except _Rollback:
            pass

        metrics, misses = score(records, results, k)
        if not options["quiet"]:
            for line in misses:
                self.stdout.write(line)
        chunks = Chunk.objects.filter(collection=target, searchable=True)
        texts = list(chunks.values_list("text", flat=True))
        timings.sort()
        metrics |= {
            "mode": mode,
            "collection": target.slug,
            "skipped": skipped,
            "chunks": len(texts),
            "avg_chunk_chars": round(sum(map(len, texts)) / len(texts), 1) if texts else 0,
            "retrieval_ms_p50": round(1000 * timings[len(timings) // 2], 2),
            "embedding_ms_per_question": round(1000 * embed_seconds / len(records), 2),
        }
        self.stdout.write(json.dumps(metrics))

    def _reader(self, collection: Collection, email: str | None):
        if email is not None:
            try:
                return get_user_model().objects.get(email__iexact=email)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user with the email {email!r}") from None
        return temporary_reader(collection, "evaluate-retrieval")


def temporary_reader(collection: Collection, purpose: str):
    """A throwaway reader of ``collection``, to be rolled back with the caller's transaction: the
    selector's access control is the real one, and no account or grant outlives the run."""
    group = Group.objects.create(name=f"{purpose}-{time.time_ns()}")
    collection.reader_groups.add(group)
    reader = get_user_model().objects.create(username=group.name, email=f"{group.name}@invalid")
    reader.groups.add(group)
    return reader
