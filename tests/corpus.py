"""The shared corpus, for the tests that need it: found, skipped with the reason, or (in CI) required.

The corpus is read where it lies, never copied in: ``HUMPHREY_CORPUS_DIR``, else ``../shared/corpus``
beside this checkout (the ``evaluate_*`` commands and ``bench/`` look in the same places). A clone
with neither skips these tests and says why; with ``CI`` set a missing corpus is an error, because CI
must run them. A ``HUMPHREY_CORPUS_DIR`` that names no corpus is always an error: it is a typo.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from documents.management.commands.evaluate_retrieval import corpus_dir

VARIABLE = "HUMPHREY_CORPUS_DIR"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def problem(path: Path) -> str:
    """Why ``path`` is not a usable corpus, or "" when it is."""
    if not path.is_dir():
        return f"no shared corpus at {path}"
    missing = [name for name in ("docs", "dev-questions.jsonl") if not (path / name).exists()]
    return f"the corpus at {path} has no {' or '.join(missing)}" if missing else ""


def require_corpus() -> Path:
    """The corpus folder, or skip (locally) / fail (in CI, or when the variable names a wrong place)."""
    path = corpus_dir()
    reason = problem(path)
    if not reason:
        return path
    if os.environ.get(VARIABLE):
        pytest.fail(f"{VARIABLE}={os.environ[VARIABLE]}: {reason}", pytrace=False)
    if in_ci():
        pytest.fail(f"{reason}; CI is set, so the corpus tests must run: set {VARIABLE}", pytrace=False)
    pytest.skip(f"{reason} (set {VARIABLE}=/path/to/corpus to run this test)")
