"""How well the coverage gate's evidence can tell answerable questions from uncovered ones, on
questions it was not tuned on: figures for docs/answers.md ("Ninth round").

    python bench/answers.py --dump /tmp/answers.pkl     # the evidence each question met
    python bench/gate_ceiling.py /tmp/answers.pkl

Reads the dump of ``bench/answers.py`` (each question's recorded ``Coverage``). Prints one JSON object:

- ``auc``: for each number the gate records (the evidence score, the share of the question's words
  found, the best unit's and passage's similarity...), the chance that an answerable question scores
  higher than an uncovered one, on the held-out files and on the files the gate was tuned on;
- ``learned``: a logistic regression over all of them, fitted on the tuned files only and scored on
  the held-out ones (its AUC, and answered / refused along its thresholds), beside the gate's own
  answered / refused on the same questions. If a classifier fitted to the same evidence does no
  better than the hand-set gate, the limit is the evidence, not the thresholds.

numpy only; nothing here is used by the site.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the dump holds the pipeline's own types

FEATURES = ("score", "words", "words_union", "best_unit", "best_passage", "documents", "agree", "caution")


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """The chance that a random positive scores above a random negative (ties count half)."""
    above = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(above / (len(positive) * len(negative)))


def features(rows: list[dict]) -> np.ndarray:
    return np.array(
        [
            [float(r["coverage"].get(name) or 0) for name in FEATURES]
            + [float(r["coverage"].get("slot_filled") is False)]
            for r in rows
        ]
    )


def logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, steps: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression (L2-penalised, fitted by Newton's method on standardised features).
    Returns its weights and bias on the raw features."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = z.T @ (z * (p * (1 - p))[:, None]) + penalty
        w -= np.linalg.solve(hessian, gradient)
    weights = w[:-1] / std
    return weights, w[-1] - float(weights @ mean)


def main() -> int:
    dump = pickle.loads(Path(sys.argv[1]).read_bytes())  # noqa: S301 - our own file, from bench/answers.py --dump
    rows = [r for r in dump["rows"] if r.get("coverage")]
    held = [r for r in rows if "heldout" in r["set"]]
    tuned = [r for r in rows if "heldout" not in r["set"]]

    def labels(subset: list[dict]) -> np.ndarray:
        return np.array([1.0 if r["record"].get("doc") else 0.0 for r in subset])

    report: dict = {"questions": {"held_out": len(held), "tuned": len(tuned)}, "auc": {}}
    for name, subset in (("held_out", held), ("tuned", tuned)):
        x, y = features(subset), labels(subset)
        report["auc"][name] = {feature: round(auc(x[y == 1, i], x[y == 0, i]), 3) for i, feature in enumerate(FEATURES)}
    weights, bias = logistic(features(tuned), labels(tuned))
    y = labels(held)
    p = 1 / (1 + np.exp(-(features(held) @ weights + bias)))
    gate = np.array([bool(r["answered"]) for r in held])
    report["learned"] = {
        "held_out_auc": round(auc(p[y == 1], p[y == 0]), 3),
        "curve": [
            {
                "threshold": round(float(t), 2),
                "answered": round(float((p[y == 1] >= t).mean()), 3),
                "refused": round(float((p[y == 0] < t).mean()), 3),
            }
            for t in np.linspace(0.1, 0.9, 9)
        ],
        "gate": {"answered": round(float(gate[y == 1].mean()), 3), "refused": round(float((~gate)[y == 0].mean()), 3)},
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
