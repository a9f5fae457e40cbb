"""Retrieval's results on the shared corpus, recorded once and compared afterwards: a tool for a
change meant to leave results alone (a refactor, a faster statement), not part of the suite (its name
keeps pytest from collecting it). Run it by name, on a fresh test database each time::

    HUMPHREY_RETRIEVAL_SNAPSHOT=/tmp/before.json .venv/bin/pytest --create-db tests/documents/snapshot_retrieval.py

on the old code (it records), then the same on the new code (it compares: the same passages in the
same order with the same scores, to float tolerance). ``--create-db`` matters: rows added and rolled
back by earlier runs change the table's physical order, and where a plan takes rows without a full
sort (ties, capped scans) that alone changes results. The corpus is ingested with the fake embedder
into two collections, and every dev and informal question is asked of two readers under each plan
and mode the statement can take.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from documents.retrieval import RetrievalParams, planner_statistics_refresh, retrieve
from tests.conftest import ROOT

SNAPSHOT = os.environ.get("HUMPHREY_RETRIEVAL_SNAPSHOT")

pytestmark = pytest.mark.django_db

if not SNAPSHOT:
    raise pytest.UsageError("set HUMPHREY_RETRIEVAL_SNAPSHOT=path to record or compare (see the docstring)")

# (name, params, mode, index scans forced): every plan and every way into the words and codes
# channels. Forced cases have sizes of their own, so their statement is planned with the knobs off.
NARROW = {"exact_below": 1, "ef_search": 10, "ef_search_min": 10, "vector_depth": 5}
CASES = [
    ("default-hybrid", {}, "hybrid", False),
    ("default-vector", {}, "vector", False),
    ("default-keyword", {}, "keyword", False),
    ("hnsw-iterative", {"exact_below": 1}, "hybrid", False),
    ("hnsw-keyword", {"exact_below": 1}, "keyword", False),
    ("tight-budget", {"keyword_budget": 20, "keyword_scan_limit": 10, "code_scan_limit": 5}, "hybrid", False),
    ("weights", {"rrf_k": 60, "vector_weight": 0.3, "keyword_weight": 1.0, "code_weight": 2.0}, "hybrid", False),
    ("forced-iterative", NARROW, "hybrid", True),
    ("forced-fallback", {**NARROW, "iterative_scan": False}, "hybrid", True),
]
KNOBS = ("enable_seqscan", "enable_bitmapscan", "enable_sort")


def questions(corpus: Path) -> list[str]:
    lines = (corpus / "dev-questions.jsonl").read_text().splitlines()
    lines += (ROOT / "bench" / "questions-informal.jsonl").read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def results(readers: dict, corpus: Path) -> dict:
    from tests.factories import FAKE

    out = {}
    for name, overrides, mode, forced in CASES:
        params = RetrievalParams.from_settings(**overrides)
        with connection.cursor() as cursor:
            for knob in KNOBS:
                cursor.execute(f"SET LOCAL {knob} = {'off' if forced else 'on'}")
        for reader, user in readers.items():
            for question in questions(corpus):
                found = retrieve(
                    user=user,
                    query=question,
                    k=8,
                    params=params,
                    mode=mode,
                    query_vector=FAKE.embed_query(question),
                )
                out[f"{name}|{reader}|{question}"] = {
                    "plan": found.plan,
                    "population": found.population,
                    "passages": [
                        [
                            p.source_name,
                            p.char_start,
                            p.rank,
                            p.score,
                            p.vector_score,
                            p.keyword_score,
                        ]
                        for p in found.passages
                    ],
                }
    return out


def test_results_match_the_recorded_snapshot(corpus, settings, make_user, tmp_path):
    """The same passages, order and scores as the recorded run, for every question, reader and plan."""
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}
    settings.MEDIA_ROOT = str(tmp_path / "media")
    docs = sorted(p for p in (corpus / "docs").iterdir() if p.is_file())
    for slug, part in (("few", docs[:3]), ("most", docs[3:])):
        call_command(
            "ingest",
            *map(str, part),
            "--collection",
            slug,
            "--create",
            "--wait",
            "--group",
            slug,
            "--no-progress",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    readers = {
        "all": make_user("all@example.gov.uk", groups=["few", "most"]),
        "few": make_user("few@example.gov.uk", groups=["few"]),
    }
    got = {"before-analyze": results(readers, corpus)}
    planner_statistics_refresh()
    got["after-analyze"] = results(readers, corpus)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM documents_chunk")
        got["chunks"] = cursor.fetchone()[0]

    path = Path(SNAPSHOT)
    if not path.exists():
        path.write_text(json.dumps(got, indent=0, sort_keys=True))
        pytest.skip(f"recorded {path}")
    expected = json.loads(path.read_text())
    assert got["chunks"] == expected["chunks"]
    differences = []
    for phase in ("before-analyze", "after-analyze"):
        for key, want in expected[phase].items():
            have = got[phase][key]
            same = (
                have["plan"] == want["plan"]
                and have["population"] == want["population"]
                and len(have["passages"]) == len(want["passages"])
                and all(
                    h[:3] == w[:3] and all(_close(a, b) for a, b in zip(h[3:], w[3:], strict=True))
                    for h, w in zip(have["passages"], want["passages"], strict=True)
                )
            )
            if not same:
                differences.append(f"{phase} {key}")
    assert not differences, f"{len(differences)} differ, e.g. {differences[:5]}"


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-6, abs=1e-9)
