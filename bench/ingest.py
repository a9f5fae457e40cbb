"""Ingestion throughput on the shared corpus with the local embedder; prints one JSON object.

Parses and chunks every file in the shared corpus's ``docs`` (``HUMPHREY_CORPUS_DIR``, else
``../shared/corpus``; as the ingestion task does), then embeds
the chunks' ``embed_text`` with ``LocalMiniLM`` on each backend asked for, and reports for each:
chunks per second and MB of source per minute for the whole parse -> chunk -> embed path, the
embedding time alone, and how close its vectors are to the torch backend's (cosine, min and mean,
on every chunk), so a faster backend is only taken if it gives the same vectors. Database writes are
not timed: they are a few milliseconds a batch next to seconds of embedding.

The load average is reported too: other work on this machine's 2 cores slows every figure.

    .venv/bin/python bench/ingest.py                        # torch and onnx
    .venv/bin/python bench/ingest.py --backends torch onnx onnx-int8 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("HUMPHREY_CORPUS_DIR") or ROOT.parent / "shared" / "corpus") / "docs"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humphrey.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(CORPUS), help="folder of documents")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: the library's choice)")
    parser.add_argument("--repeat", type=int, default=1, help="embed this many times; the best run is reported")
    parser.add_argument("--limit", type=int, default=0, help="only the first N chunks (quick look)")
    args = parser.parse_args()

    import django

    django.setup()
    import numpy as np

    from documents.ingest.chunk import chunk_document
    from documents.ingest.parse import parse
    from documents.ingest.units import embed_text as unit_embed_text
    from documents.ingest.units import split_units
    from documents.local_embedder import LocalMiniLM

    load_before = os.getloadavg()[0]
    files = sorted(p for p in Path(args.corpus).rglob("*") if p.is_file())
    total_bytes = sum(p.stat().st_size for p in files)
    started = time.perf_counter()
    texts: list[str] = []
    unit_texts: list[list[str]] = []  # per chunk, its answer units as ingestion embeds them
    tokens = 0
    for path in files:
        drafts = chunk_document(parse(path.read_bytes(), path.name))
        texts.extend(d.embed_text for d in drafts)
        for d in drafts:
            units = split_units(d.text)
            heading = d.heading_path[-1] if d.heading_path else ""
            unit_texts.append([unit_embed_text(d.text, units, i, heading) for i in range(len(units))])
        tokens += sum(d.token_count for d in drafts)
    parse_seconds = time.perf_counter() - started
    mean_tokens = tokens / max(1, len(texts))
    if args.limit:
        texts, unit_texts = texts[: args.limit], unit_texts[: args.limit]
    units_flat = [t for per_chunk in unit_texts for t in per_chunk]

    results: dict[str, dict] = {}
    reference = None
    for backend in args.backends:
        embedder = LocalMiniLM(batch_size=args.batch_size, threads=args.threads or None, backend=backend)
        load_started = time.perf_counter()
        embedder.embed_documents(["warm up: load the model, and export it the first time"])
        load_seconds = time.perf_counter() - load_started
        best = None
        best_cpu = None
        vectors = None
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            vectors = np.asarray(embedder.embed_documents(texts), dtype=np.float32)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            best = elapsed if best is None else min(best, elapsed)
            best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
        units_started = time.perf_counter()
        embedder.embed_documents(units_flat)
        units_seconds = time.perf_counter() - units_started
        pipeline = parse_seconds + best
        with_units = pipeline + units_seconds
        row = {
            "model_id": embedder.model_id,
            "load_seconds": round(load_seconds, 2),
            "embed_seconds": round(best, 2),
            "embed_chunks_per_second": round(len(texts) / best, 1),
            # CPU seconds are what this process got, whatever else ran: chunks per CPU second times
            # the cores is what the machine would do with nothing else on it.
            "embed_cpu_seconds": round(best_cpu, 2),
            "embed_chunks_per_cpu_second": round(len(texts) / best_cpu, 1),
            "projected_idle_chunks_per_second": round(len(texts) / best_cpu * (os.cpu_count() or 1), 1),
            "pipeline_chunks_per_second": round(len(texts) / pipeline, 1),
            "pipeline_mb_per_minute": round(total_bytes / 1e6 / (pipeline / 60), 2),
            # Ingestion also embeds each chunk's answer units (sentences, list items, table rows).
            "embed_units_seconds": round(units_seconds, 2),
            "embed_units_per_second": round(len(units_flat) / units_seconds, 1),
            "pipeline_with_units_chunks_per_second": round(len(texts) / with_units, 1),
            "pipeline_with_units_mb_per_minute": round(total_bytes / 1e6 / (with_units / 60), 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        }
        if reference is None and backend == "torch":
            reference = vectors
        elif reference is not None:
            cosine = (vectors * reference).sum(axis=1)
            row["cosine_to_torch_min"] = round(float(cosine.min()), 5)
            row["cosine_to_torch_mean"] = round(float(cosine.mean()), 5)
        results[backend] = row

    print(
        json.dumps(
            {
                "benchmark": "ingest",
                "corpus": str(args.corpus),
                "files": len(files),
                "source_mb": round(total_bytes / 1e6, 3),
                "chunks": len(texts),
                "answer_units": len(units_flat),
                "mean_tokens_per_chunk": round(mean_tokens, 1),
                "parse_and_chunk_seconds": round(parse_seconds, 2),
                "batch_size": args.batch_size,
                "cpu_count": os.cpu_count(),
                "load_average_before": round(load_before, 2),
                "python": platform.python_version(),
                "backends": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
