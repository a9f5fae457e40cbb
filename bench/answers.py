"""Answer quality and the coverage gate's trade-off on the shared corpus: figures for docs/answers.md.

    python bench/answers.py [--corpus DIR (default: HUMPHREY_CORPUS_DIR, else ../shared/corpus)] [--keep]
                            [--reuse] [--dump FILE] [--glossary FILE]

In its own database (``humphrey_bench_answers`` on the embedded server, made afresh unless
``--reuse``; dropped at the end unless ``--keep``): ingests the corpus's documents as ``ingest --wait`` does,
then runs every question file through the steps chat uses, as ``evaluate_answers`` does (condense,
embed, retrieve as a temporary reader, the coverage gate, the configured answerer, the finishing
checks). Prints one JSON object on stdout:

- ``sets``: per question file, the ``evaluate_answers`` figures (answered, quote_in_answer,
  doc_cited, negatives_refused);
- ``curve``: for thresholds of ``HUMPHREY_ANSWER_MIN_EVIDENCE`` around the setting, the share of
  answerable questions answered (per file and all) against the share of uncovered ones refused,
  recomputed from each question's recorded evidence (so one run gives the whole curve; the
  scattered-passages margin, when set, on top of each threshold);
- ``evidence_ms``: p50 / p99 of the gate and the unit scoring per question (the work added before
  the first token; ``bench/chat_load.py`` measures the whole added time to first token under load).

``--glossary FILE`` gives the corpus collection that glossary first (``manage.py glossary --load``: the
words people ask with, put as the guidance puts them); without it the collection has none.

``--dump FILE`` also pickles what the gate saw for each question (its passages with their units and
unit vectors, its vector, the word weights, the corpus's chunks), so a change to the gate can be
measured offline with ``assistant.core.evidence.coverage`` in seconds (``bench/gate_ceiling.py`` reads
it too). The sets include the held-out files (``bench/questions-heldout*.jsonl``): keep them for
checking, never for tuning one question at a time (docs/answers.md says how each was used).

Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import harness
from harness import log

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "humphrey_bench_answers"
SETS = [
    "{corpus}/dev-questions.jsonl",
    "bench/questions-informal.jsonl",
    "bench/questions-answerable-extra.jsonl",
    "bench/questions-followups.jsonl",
    "bench/questions-negative.jsonl",
    "bench/questions-heldout.jsonl",
    "bench/questions-heldout2.jsonl",
    "bench/questions-heldout3.jsonl",
    "bench/questions-heldout4.jsonl",
    "bench/questions-heldout5.jsonl",
    "bench/questions-heldout6.jsonl",
    "bench/questions-heldout7.jsonl",
    "bench/questions-heldout8.jsonl",
    "bench/questions-heldout9.jsonl",
    "bench/questions-heldout10.jsonl",
    "bench/questions-heldout11.jsonl",
    "bench/questions-context.jsonl",
]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 2)


def claim_pairs(quote: str, sources: list, names: dict) -> list[tuple]:
    """The answer quote as a claim citing the passage that holds it, and the same claim wrongly citing
    a passage of another document among those retrieved (what a model citing the wrong source does)."""
    from documents.management.commands.evaluate_retrieval import fold

    holder = next((s for s in sources if fold(quote) in fold(s.text)), None)
    other = next((s for s in sources if holder and names.get(s.document_id) != names.get(holder.document_id)), None)
    return [(quote, holder, other)] if holder and other else []


def claim_check_rates(claims: list[tuple]) -> dict:
    """How the claim check treats verbatim claims: share of true citations it marks (false alarms)
    and share of wrong citations it catches. A model's paraphrase shares fewer words with its
    source, so false alarms on real answers run higher than this."""
    from dataclasses import replace

    from assistant.core.evidence import Weights, check_claims
    from assistant.services import check_settings
    from documents.embeddings import get_embedder
    from documents.vocabulary import word_shares

    share, floor = word_shares()
    weights = Weights(share=share, floor=floor)
    settings_ = check_settings()
    vectors = get_embedder().embed_documents([c for c, _, _ in claims]) if claims else []
    marked_true = caught_wrong = 0
    for (claim, holder, other), vector in zip(claims, vectors, strict=True):
        for source, wrong in ((holder, False), (other, True)):
            cited = replace(source, n=1)
            checks = check_claims(
                answer=f"{claim} [1]", sources=[cited], weights=weights, vectors={claim: vector}, settings=settings_
            )
            doubted = any(c.unsupported for c in checks)
            if wrong:
                caught_wrong += doubted
            else:
                marked_true += doubted
    n = len(claims)
    return {
        "claims": n,
        "true_citations_marked": round(marked_true / n, 3) if n else None,
        "wrong_citations_caught": round(caught_wrong / n, 3) if n else None,
        "settings": {"min_words": settings_.min_words, "min_similarity": settings_.min_meaning},
    }


def dump_row(set_name: str, record: dict, turns: list, out, model, names: dict) -> dict:
    """What the gate saw for one question (its vector embedded again), and how the answer did."""
    from assistant.core.condense import follow_up_subject
    from assistant.management.commands.evaluate_answers import answer_holds
    from assistant.models import Status
    from documents.embeddings import get_embedder
    from documents.retrieval import clean_query

    subject = follow_up_subject(record["question"], turns)
    query = clean_query(out.condensed)
    answered = out.status == Status.COMPLETE
    cited = {names.get(s.document_id) for s in out.sources if s.n in out.cited}
    return {
        "set": set_name,
        "record": record,
        "question": record["question"] if subject else out.condensed,
        "subject": subject,
        "vector": get_embedder().embed_query(query) if query else None,
        "sources": out.sources,
        "docs": [names.get(s.document_id) for s in out.sources],
        "coverage": out.coverage,
        "answered": answered,
        "holds": answered and bool(record.get("answer_quote")) and answer_holds(out.text, record["answer_quote"]),
        "doc_cited": answered and record.get("doc") in cited,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=harness.CORPUS)
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database (else ingest afresh)")
    parser.add_argument(
        "--words-only",
        action="store_true",
        help="as chat answers when the embedder is down: the question's words alone",
    )
    parser.add_argument(
        "--dump", type=Path, help="pickle each question's evidence inputs here (to study the gate offline)"
    )
    parser.add_argument("--glossary", type=Path, help="load this glossary into the corpus collection first")
    args = parser.parse_args()
    harness.setup_django(DB_NAME)
    if not args.reuse:
        harness.drop_database(DB_NAME, create=True)

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from assistant.core.evidence import GateSettings
    from assistant.core.types import Turn
    from assistant.management.commands import evaluate_answers as ev
    from assistant.providers import get_chat_model
    from documents.models import Collection, Document

    call_command("migrate", "--noinput", verbosity=0)
    if not Collection.objects.filter(slug="corpus", documents__isnull=False).exists():
        started = time.perf_counter()
        call_command(
            "ingest", str(args.corpus / "docs"), "--collection", "corpus", "--create", "--wait", "--no-progress",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
        log(f"ingested the corpus in {time.perf_counter() - started:.1f}s")
    collection = Collection.objects.get(slug="corpus")
    from documents.management.commands.glossary import read_entries
    from documents.services.glossary import glossary_replace

    glossary = read_entries(args.glossary) if args.glossary else []
    glossary_replace(collection=collection, user=None, entries=glossary)
    log(f"glossary: {len(glossary)} entries")
    names = dict(Document.objects.filter(collection=collection).values_list("pk", "source_name"))
    model = get_chat_model()
    command = ev.Command()
    sets, rows, evidence_ms = {}, [], []
    claims: list[tuple[str, object, object]] = []  # (a true sentence, its passage, a passage of another document)
    dumped: list[dict] = []
    for pattern in SETS:
        path = ROOT / pattern.format(corpus=args.corpus)
        records = ev.read_questions(path)
        results = []
        with transaction.atomic():
            reader = command._reader(collection)
            for record in records:
                turns: list = []
                if record.get("previous"):
                    first, _ = ev.answer_one(
                        user=reader,
                        model=model,
                        question=record["previous"],
                        turns=[],
                        collection="corpus",
                        words_only=args.words_only,
                    )
                    turns = [Turn("user", record["previous"]), Turn("assistant", first.text)]
                out, ms = ev.answer_one(
                    user=reader,
                    model=model,
                    question=record["question"],
                    turns=turns,
                    collection="corpus",
                    words_only=args.words_only,
                )
                evidence_ms.append(ms)
                if record.get("doc"):
                    claims.extend(claim_pairs(record["answer_quote"], out.sources, names))
                results.append((record, out, ms))
                if args.dump:
                    dumped.append(dump_row(path.name, record, turns, out, model, names))
                rows.append((path.name, record.get("doc") is not None, out.coverage))
            transaction.set_rollback(True)
        metrics, _ = command._score(results, names, show=False)
        sets[path.name] = metrics
        log(f"{path.name}: {json.dumps(metrics)}")

    gate = GateSettings(
        min_best_unit=settings.HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY,
        scattered_margin=getattr(settings, "HUMPHREY_ANSWER_SCATTERED_MARGIN", GateSettings.scattered_margin),
    )
    curve = []
    base = settings.HUMPHREY_ANSWER_MIN_EVIDENCE
    for step in range(-12, 13, 2):
        threshold = round(base + step / 100, 2)

        def answers(evidence: dict, threshold: float = threshold) -> bool:
            scattered = gate.scattered_documents and evidence.get("documents", 0) >= gate.scattered_documents
            return (
                evidence.get("score", 0) >= threshold + (gate.scattered_margin if scattered else 0.0)
                and (args.words_only or evidence.get("best_unit", 0) >= gate.min_best_unit)  # words alone: none
                and evidence.get("slot_filled") is not False
            )

        point = {"threshold": threshold}
        positives = [r for r in rows if r[1]]
        negatives = [r for r in rows if not r[1]]
        for name in sorted({r[0] for r in positives}):
            mine = [r for r in positives if r[0] == name]
            point[f"answered:{name}"] = round(sum(answers(r[2]) for r in mine) / len(mine), 3)
        point["answered:all"] = round(sum(answers(r[2]) for r in positives) / len(positives), 3)
        point["refused:all"] = round(sum(not answers(r[2]) for r in negatives) / len(negatives), 3)
        curve.append(point)
    if args.dump:
        from documents.models import Chunk
        from documents.vocabulary import word_shares

        chunks = [
            (text, heading, units, None if vectors is None else bytes(vectors), doc)
            for text, heading, units, vectors, doc in Chunk.objects.filter(
                version__document__collection=collection
            ).values_list("text", "heading_path", "units", "unit_vectors", "version__document__source_name")
        ]
        with args.dump.open("wb") as f:
            pickle.dump({"rows": dumped, "weights": word_shares(), "chunks": chunks}, f)
        log(f"dumped {len(dumped)} questions to {args.dump}")
    check = claim_check_rates(claims)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server = cursor.fetchone()[0].split(",")[0]
    out = {
        "sets": sets,
        "curve": curve,
        "settings": {
            "min_evidence": base,
            "words_weight": settings.HUMPHREY_ANSWER_WORDS_WEIGHT,
            "unit_weight": settings.HUMPHREY_ANSWER_UNIT_WEIGHT,
            "passage_weight": settings.HUMPHREY_ANSWER_PASSAGE_WEIGHT,
            "min_unit_similarity": settings.HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY,
            "quote_words": settings.HUMPHREY_ANSWER_QUOTE_WORDS,
        },
        "evidence_ms": {"p50": pct(evidence_ms, 50), "p99": pct(evidence_ms, 99)},
        "claim_check": check,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "database": server,
        },
    }
    print(json.dumps(out, indent=2))
    if not args.keep:
        harness.drop_database(DB_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
