"""Retrieval benchmark: latency and ANN recall of the hybrid query at scale, beside LangChain's PGVector.

    python bench/retrieval.py [--chunks 100000] [--collections 100] [--queries 200] [--keep]

What it does, in its own database (``humphrey_bench_retrieval`` on the embedded server, dropped at
the end unless ``--keep``), so nobody else's data is touched:

1. Parses and chunks the shared corpus and embeds it with the configured (local MiniLM) model; those
   real vectors and sentences shape the synthetic data: each synthetic chunk's vector is a noisy
   blend of two real chunk vectors and its text is sentences drawn from the same two chunks.
2. Bulk-loads ``--chunks`` chunks over ``--collections`` collections (ten documents each) with COPY
   (indexes dropped first and rebuilt after, as a bulk load should), then VACUUM ANALYZE. A document
   version's chunks are written together, versions in random order, as ingestion writes them.
3. Times ``documents.retrieval.retrieve`` (the hybrid SQL, the query vector given), warm (every
   question run once before the timed passes; ``--rounds`` passes, each question asked of every user
   and of LangChain in turn, so the VM's drift in speed falls on all alike), for three users:
   one who reads every collection, one who reads 10% and one who reads 1%; reports p50/p95/p99,
   the plans taken, and ANN recall@10 of the vector channel against an exact scan of the same rows.
   With ``--baseline DIR`` (another checkout, e.g. a git worktree of an older commit) that
   checkout's ``documents/retrieval`` is timed too, question by question beside this one's (which
   goes first alternates by round, and the second of a pair finds the caches the first warmed: use
   an even ``--rounds``), and their results are compared: the same passages, order and scores, or
   the differences are counted. This is how a change to retrieval is measured against
   the code before it in the same minutes (docs/retrieval.md).
4. Times the query embedding on its own (one question at a time, as chat does).
5. Copies the same rows into LangChain's ``langchain-postgres`` PGVector tables (with an HNSW index,
   its documented set-up) and times ``similarity_search_by_vector`` beside ours (step 3), with recall.

Prints one JSON object on stdout; progress goes to stderr. Needs the ``bench`` extra.
"""

# Over 400 lines by design: one self-contained script (load, plans, recall, the LangChain baseline and
# an old checkout side by side) to run or copy to another machine.

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import harness
from harness import log

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "humphrey_bench_retrieval"


def setup_django() -> None:
    harness.setup_django(DB_NAME)


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "mean": round(statistics.fmean(ordered), 3)}


def corpus_material(corpus: Path):
    """Real chunk texts and their real embeddings, from the shared corpus."""
    from documents.embeddings import get_embedder
    from documents.ingest.chunk import chunk_document
    from documents.ingest.parse import parse

    drafts = []
    for path in sorted((corpus / "docs").glob("*.md")):
        drafts.extend(chunk_document(parse(path.read_bytes(), path.name)))
    embedder = get_embedder()
    started = time.perf_counter()
    vectors = embedder.embed_documents([d.embed_text for d in drafts])
    log(f"embedded {len(drafts)} corpus chunks in {time.perf_counter() - started:.1f}s")
    questions = [json.loads(line) for line in (corpus / "dev-questions.jsonl").read_text().splitlines() if line]
    return [d.text for d in drafts], vectors, [q["question"] for q in questions], embedder


def synthetic_rows(n: int, texts: list[str], vectors, seed: int):
    """(vector, text) pairs shaped like the corpus: blends of two real chunks, plus noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    base = np.asarray(vectors, dtype=np.float32)
    sentences = [[s.strip() + "." for s in t.split(". ") if len(s.strip()) > 20] or [t[:300]] for t in texts]
    picks = rng.integers(0, len(base), size=(n, 2))
    mix = rng.uniform(0.55, 1.0, size=(n, 1)).astype(np.float32)
    noise = rng.normal(0, 1, size=(n, base.shape[1])).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    out = mix * base[picks[:, 0]] + (1 - mix) * base[picks[:, 1]] + 0.45 * noise
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    pyrand = random.Random(seed)
    for i in range(n):
        a, b = picks[i]
        pool = sentences[a] * 2 + sentences[b]
        text = " ".join(pyrand.sample(pool, k=min(len(pool), pyrand.randint(3, 7))))[:1400]
        yield out[i], text


def load(n_chunks: int, n_collections: int, texts, vectors, seed: int) -> dict:
    """Collections, documents, versions, then chunks by COPY; returns the collection ids."""
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from documents.models import Chunk, Collection, Document, DocumentVersion

    layout = "document-contiguous-v1"  # bump when the synthetic data changes: a kept database is reloaded
    with connection.cursor() as cursor:
        cursor.execute("SELECT obj_description('documents_chunk'::regclass, 'pg_class')")
        loaded_layout = cursor.fetchone()[0]
    if loaded_layout == layout and Chunk.objects.count() == n_chunks and Collection.objects.count() == n_collections:
        log("data already loaded (--keep from an earlier run)")
        return {"collections": list(Collection.objects.order_by("id").values_list("id", flat=True))}
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE documents_chunk, documents_documentversion, documents_document CASCADE")
        cursor.execute("TRUNCATE documents_collection CASCADE")
    docs_per_collection = 10
    with transaction.atomic():
        collections, versions = [], []
        for c in range(n_collections):
            collection = Collection.objects.create(name=f"Bench {c}", slug=f"bench-{c}")
            collection.reader_groups.add(Group.objects.get_or_create(name=f"bench-{c}")[0])
            collections.append(collection)
            for d in range(docs_per_collection):
                document = Document.objects.create(collection=collection, title=f"Doc {c}.{d}", source_name=f"{d}.md")
                version = DocumentVersion.objects.create(
                    document=document,
                    number=1,
                    file=f"bench/{c}/{d}.md",
                    original_filename=f"{d}.md",
                    sha256=f"{c:032x}{d:032x}",
                    size_bytes=1,
                    status="ready",
                )
                document.current_version = version
                document.save(update_fields=["current_version"])
                versions.append((collection.pk, version.pk))
    # One transaction from dropping the indexes to building them again: a load that fails part
    # way leaves the table as it was, indexes and all (a kept database is reused as it is).
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Foreign keys checked as rows arrive: deferred checks would still be pending at CREATE INDEX.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'documents_chunk' "
                "AND indexname IN ('chunk_embedding_hnsw', 'chunk_search_vector_gin', 'chunk_search_simple_gin')"
            )
            indexes = cursor.fetchall()
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        rng = random.Random(seed)
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg 3 cursor: COPY
            columns = (
                "version_id, collection_id, searchable, ordinal, text, heading_path, anchor, page, char_start, "
                "char_end, token_count, embedding, embedding_model, embed_sha256, units"
            )
            ordinals: dict[int, int] = {}
            # Each chunk belongs to a random document version, and the rows are written a version at a
            # time, versions in random order (collections interleaved): ingestion writes a version's
            # chunks together (one bulk insert), so a document's chunks lie together in the table.
            owners = [versions[rng.randrange(len(versions))] for _ in range(n_chunks)]
            place = {version: i for i, version in enumerate(rng.sample(versions, len(versions)))}
            owners.sort(key=place.__getitem__)
            with raw.copy(f"COPY documents_chunk ({columns}) FROM STDIN") as copy:
                for (vector, text), (collection_id, version_id) in zip(
                    synthetic_rows(n_chunks, texts, vectors, seed), owners, strict=True
                ):
                    ordinal = ordinals.get(version_id, 0)
                    ordinals[version_id] = ordinal + 1
                    literal = "[" + ",".join(f"{x:.6f}" for x in vector) + "]"
                    copy.write_row(
                        (
                            version_id,
                            collection_id,
                            True,
                            ordinal,
                            text,
                            "",
                            "",
                            None,
                            0,
                            len(text),
                            0,
                            literal,
                            "bench",
                            "",
                            "[]",  # no answer units: retrieval never reads them
                        )
                    )
        log(f"copied {n_chunks} chunks in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            # Enough for the HNSW graph to be built in memory (about 3 kB a chunk); a graph that does not fit
            # spills and builds several times slower.
            cursor.execute(f"SET maintenance_work_mem = '{max(1, -(-n_chunks * 3 // 1_000_000))}GB'")
            cursor.execute("SET max_parallel_maintenance_workers = 1")
            for name, definition in indexes:
                cursor.execute(definition)
                log(f"built {name} ({time.perf_counter() - started:.1f}s)")
            cursor.execute(f"COMMENT ON TABLE documents_chunk IS '{layout}'")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE documents_chunk")
    return {"collections": [c.pk for c in collections], "index_build_s": round(time.perf_counter() - started, 1)}


def make_reader(name: str, collection_ids: list[int]):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user, _ = get_user_model().objects.get_or_create(username=name, defaults={"email": f"{name}@bench.invalid"})
    groups = Group.objects.filter(readable_collections__id__in=collection_ids).distinct()
    user.groups.set(groups)
    return user


def exact_top(collection_ids: list[int], vector_literal: str, k: int = 10) -> list[int]:
    """Ground truth: a sequential scan, distance computed for every readable chunk."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM documents_chunk WHERE searchable AND collection_id = ANY(%s) "
            "ORDER BY (embedding <=> %s::vector) + 0, id LIMIT %s",
            [collection_ids, vector_literal, k],
        )
        return [row[0] for row in cursor.fetchall()]


def langchain_search(cases: dict, k: int):
    """The same rows in langchain-postgres's tables, HNSW (cosine) index as its docs suggest; returns
    ``search(label, vector, k)`` or None when the ``bench`` extra is not installed."""
    try:
        from langchain_core.embeddings import Embeddings
        from langchain_postgres import PGVector
    except ImportError:
        return None
    from django.db import connection

    class Given(Embeddings):
        """The query vector is already known: hand it over (so only the search is timed)."""

        vector: list[float] = []

        def embed_documents(self, texts):
            raise NotImplementedError

        def embed_query(self, text):
            return self.vector

    db = connection.settings_dict
    url = f"postgresql+psycopg://{db['USER']}@/{db['NAME']}?host={db['HOST']}" + (
        f"&port={db['PORT']}" if db.get("PORT") else ""
    )
    store = PGVector(embeddings=Given(), connection=url, collection_name="bench", embedding_length=384, use_jsonb=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT uuid FROM langchain_pg_collection WHERE name = 'bench'")
        collection_uuid = cursor.fetchone()[0]
        cursor.execute(
            "SELECT (SELECT count(*) || '/' || coalesce(max(id::bigint), 0) FROM langchain_pg_embedding), "
            "(SELECT count(*) || '/' || coalesce(max(id), 0) FROM documents_chunk)"
        )
        copied, total = cursor.fetchone()
        if copied != total:  # not yet copied, or copied from an earlier load
            cursor.execute("TRUNCATE langchain_pg_embedding")
            started = time.perf_counter()
            cursor.execute(
                "INSERT INTO langchain_pg_embedding (id, collection_id, embedding, document, cmetadata) "
                "SELECT ch.id::text, %s, ch.embedding, ch.text, jsonb_build_object('collection', ch.collection_id) "
                "FROM documents_chunk ch",
                [collection_uuid],
            )
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute(
                "CREATE INDEX IF NOT EXISTS langchain_embedding_hnsw ON langchain_pg_embedding "
                "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
            )
            cursor.execute("VACUUM ANALYZE langchain_pg_embedding")
            log(f"langchain tables loaded and indexed in {time.perf_counter() - started:.1f}s")
    filters = {
        label: None if label == "all" else {"collection": {"$in": collection_ids}}
        for label, (_, collection_ids) in cases.items()
    }

    def search(label: str, vector: list[float], k: int):
        return store.similarity_search_by_vector(vector, k=k, filter=filters[label])

    return search


def load_baseline(checkout: Path):
    """``retrieve`` from another checkout's ``documents/retrieval`` (a module or a package), loaded
    under a name of its own beside this checkout's; the models are this checkout's."""
    import importlib.util

    package = checkout / "documents" / "retrieval" / "__init__.py"
    path = package if package.exists() else checkout / "documents" / "retrieval.py"
    locations = [str(path.parent)] if package.exists() else None
    spec = importlib.util.spec_from_file_location("baseline_retrieval", path, submodule_search_locations=locations)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # before running it: dataclasses look their module up
    spec.loader.exec_module(module)
    return module.retrieve


def same_passages(ours, theirs) -> bool:
    """The same passages in the same order with the same scores (to float tolerance)."""

    def close(a, b) -> bool:
        return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-6 * max(1, abs(b)))

    return len(ours) == len(theirs) and all(
        p.chunk_id == q.chunk_id
        and close(p.score, q.score)
        and close(p.vector_score, q.vector_score)
        and close(p.keyword_score, q.keyword_score)
        for p, q in zip(ours, theirs, strict=True)
    )


def measure(
    cases: dict, queries: list[tuple[str, list[float]]], k: int, rounds: int, langchain, baseline=None
) -> tuple[dict, dict]:
    """Latency of ours (and LangChain's, and the baseline checkout's, when given) for every case,
    interleaved: each question is asked of every case and every system in turn, ``rounds`` times, so
    the VM's drift in speed (it moves by tens of percent within minutes) falls on all of them alike.
    Then recall, untimed."""
    from collections import Counter

    from documents.retrieval import retrieve

    for label, (user, _) in cases.items():  # warm: every question once (caches, the connection)
        for text, vector in queries:
            retrieve(user=user, query=text, query_vector=vector, k=k)
            if baseline:
                baseline(user=user, query=text, query_vector=vector, k=k)
            if langchain:
                langchain(label, vector, k)
    ours_ms = {label: [] for label in cases}
    theirs_ms = {label: [] for label in cases}
    baseline_ms = {label: [] for label in cases}
    differ = Counter()
    plans = {label: Counter() for label in cases}
    short = Counter()
    for round_number in range(rounds):
        for text, vector in queries:
            for label, (user, _) in cases.items():
                if baseline and round_number % 2:  # the baseline first in odd rounds
                    started = time.perf_counter()
                    before = baseline(user=user, query=text, query_vector=vector, k=k)
                    baseline_ms[label].append(1000 * (time.perf_counter() - started))
                started = time.perf_counter()
                found = retrieve(user=user, query=text, query_vector=vector, k=k)
                ours_ms[label].append(1000 * (time.perf_counter() - started))
                plans[label][found.plan] += 1
                if baseline and not round_number % 2:
                    started = time.perf_counter()
                    before = baseline(user=user, query=text, query_vector=vector, k=k)
                    baseline_ms[label].append(1000 * (time.perf_counter() - started))
                if baseline:
                    differ[label] += before.plan != found.plan or not same_passages(found.passages, before.passages)
                if langchain:
                    started = time.perf_counter()
                    docs = langchain(label, vector, k)
                    theirs_ms[label].append(1000 * (time.perf_counter() - started))
                    short[label] += round_number == 0 and len(docs) < k
    ours, theirs = {}, {}
    for label, (user, collection_ids) in cases.items():
        recalls, their_recalls = [], []
        for text, vector in queries:
            truth = set(exact_top(collection_ids, "[" + ",".join(map(str, vector)) + "]"))
            got = [
                p.chunk_id for p in retrieve(user=user, query=text, query_vector=vector, k=10, mode="vector").passages
            ]
            recalls.append(len(set(got) & truth) / max(1, len(truth)))
            if langchain:
                theirs_got = {int(d.id) for d in langchain(label, vector, 10) if d.id is not None}
                their_recalls.append(len(theirs_got & truth) / max(1, len(truth)))
        ours[label] = {
            "readable_collections": len(collection_ids),
            "hybrid_sql_ms": percentiles(ours_ms[label]),
            "plans": dict(plans[label]),
            "ann_recall_at_10": round(statistics.fmean(recalls), 4),
            "min_recall_at_10": round(min(recalls), 4),
        }
        if baseline:
            ours[label]["baseline_hybrid_sql_ms"] = percentiles(baseline_ms[label])
            ours[label]["baseline_results_differ"] = differ[label]
        log(f"ours {label}: {ours[label]}")
        if langchain:
            theirs[label] = {
                "vector_search_ms": percentiles(theirs_ms[label]),
                "ann_recall_at_10": round(statistics.fmean(their_recalls), 4),
                "queries_short_of_k": short[label],
            }
            log(f"langchain {label}: {theirs[label]}")
    return ours, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--collections", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corpus", type=Path, default=harness.CORPUS)  # HUMPHREY_CORPUS_DIR or ../shared/corpus
    parser.add_argument("--keep", action="store_true", help="keep the bench database for another run")
    parser.add_argument("--skip-langchain", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the questions (interleaved)")
    parser.add_argument("--baseline", type=Path, help="another checkout whose retrieval to time beside this one")
    args = parser.parse_args()
    if args.collections < 100:
        parser.error("--collections must be at least 100 (the 1% case needs one whole collection)")

    setup_django()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    texts, vectors, questions, embedder = corpus_material(args.corpus)

    # Query embedding, on its own: one question at a time, warm.
    for question in questions[:5]:
        embedder.embed_query(question)
    embed_ms = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed_query(question)
        embed_ms.append(1000 * (time.perf_counter() - started))

    loaded = load(args.chunks, args.collections, texts, vectors, args.seed)
    ids = loaded["collections"]
    rng = random.Random(args.seed)
    cases = {
        "all": (make_reader("bench-all", ids), ids),
        "10%": (make_reader("bench-10", ids[: len(ids) // 10]), ids[: len(ids) // 10]),
        "1%": (make_reader("bench-1", ids[: max(1, len(ids) // 100)]), ids[: max(1, len(ids) // 100)]),
    }
    # Real questions with their real vectors, then nearby variants to reach --queries.
    question_vectors = embedder.embed_documents(questions)
    queries = list(zip(questions, question_vectors, strict=True))
    while len(queries) < args.queries:
        text, vector = queries[rng.randrange(len(questions))]
        jitter = [x + rng.gauss(0, 0.02) for x in vector]
        norm = sum(x * x for x in jitter) ** 0.5
        queries.append((text, [x / norm for x in jitter]))

    search = None if args.skip_langchain else langchain_search(cases, args.k)
    baseline = load_baseline(args.baseline) if args.baseline else None
    ours, langchain = measure(cases, queries, args.k, args.rounds, search, baseline)
    if search is None and not args.skip_langchain:
        langchain = {"skipped": "pip install -e '.[bench]' for langchain-postgres"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT version(), (SELECT extversion FROM pg_extension WHERE extname = 'vector'), "
            "current_setting('shared_buffers')"
        )
        server, pgvector_version, shared_buffers = cursor.fetchone()
    from django.conf import settings

    report = {
        "chunks": args.chunks,
        "collections": args.collections,
        "queries": len(queries),
        "rounds": args.rounds,
        **({"baseline": str(args.baseline)} if args.baseline else {}),
        "k": args.k,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "postgres": server.split(",")[0],
            "pgvector": pgvector_version,
            "shared_buffers": shared_buffers,
        },
        "settings": {name: getattr(settings, name) for name in dir(settings) if name.startswith("HUMPHREY_RETRIEVAL_")},
        "query_embedding_ms": percentiles(embed_ms),
        "ours": ours,
        "langchain_pgvector": langchain,
    }
    if "all" in langchain and "vector_search_ms" in langchain["all"]:
        report["ratio_langchain_p50_over_ours_p50"] = {
            label: round(langchain[label]["vector_search_ms"]["p50"] / ours[label]["hybrid_sql_ms"]["p50"], 2)
            for label in ours
        }
    if "index_build_s" in loaded:
        report["index_build_s"] = loaded["index_build_s"]
    print(json.dumps(report, indent=2))

    connection.close()
    if not args.keep:
        harness.drop_database(DB_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
