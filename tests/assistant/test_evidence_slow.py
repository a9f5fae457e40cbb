"""The coverage gate with the real local embedder (slow: loads MiniLM): a question asking for a detail
the guidance lacks is refused, the same kind of question whose detail is there is answered."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.core.evidence import GateSettings, Weights, coverage
from documents.ingest.units import embed_text, split_units
from documents.local_embedder import LocalMiniLM
from tests.assistant.helpers import make_source

pytestmark = pytest.mark.slow

# Two passages of the MHRA parental leave policy in the shared corpus (08-mhra-parental-leave-policy.md):
# they name Statutory Sick Pay but give no rate, and give SMP's length and rate.
SICKNESS = """If you are not entitled to contractual sick pay, you may be entitled to Statutory Sick Pay (SSP), but \
you will be disqualified from receiving Statutory Sick Pay (SSP) during the 26 weeks starting with the week your \
maternity pay period begins. SSP should be considered if the pregnancy ends before the 25th week."""
SMP = """SMP is payable for a maximum of 39 weeks. SMP is paid at the rate of 90% of earnings for the first six \
weeks and, for the remaining 33 weeks, the lesser of the standard flat rate or 90% of earnings."""

LEAVE = """Annual leave must be booked with your line manager in advance. Leave not taken by the end of the \
leave year is lost unless your manager agrees to carry it over."""


@pytest.fixture(scope="module")
def embedder():
    return LocalMiniLM(backend="onnx-int8")


def passages(embedder, question: str, texts: dict[str, str]):
    query = np.asarray(embedder.embed_query(question), dtype=np.float32)
    sources = []
    for n, (heading, text) in enumerate(texts.items(), 1):
        units = split_units(text)
        vectors = np.asarray(
            embedder.embed_documents([embed_text(text, units, i, heading) for i in range(len(units))]), dtype=np.float32
        )
        passage = np.asarray(embedder.embed_documents([text])[0], dtype=np.float32)
        sources.append(
            make_source(
                n,
                text,
                title="Maternity, paternity and shared parental leave policy",
                heading_path=heading,
                vector_score=float(passage @ query),
                keyword_score=0.1,
                units=tuple(tuple(u.as_list()) for u in units),
                unit_vectors=vectors,
            )
        )
    sources.sort(key=lambda s: -s.vector_score)
    return query, sources


@pytest.mark.parametrize(
    ("question", "passage", "slot", "covered"),
    [
        ("What is the current weekly rate of Statutory Sick Pay?", SICKNESS, "money", False),
        ("ssp weekly rate", SICKNESS, "money", False),
        ("For how many weeks is SMP paid at most?", SMP, "duration", True),
        ("What percentage of earnings is SMP paid at for the first six weeks?", SMP, "money", True),
    ],
)
def test_a_detail_the_guidance_lacks_is_not_covered_with_the_real_embedder(embedder, question, passage, slot, covered):
    query, sources = passages(embedder, question, {"Sickness and pay": passage, "Annual leave": LEAVE})
    verdict = coverage(question=question, vector=query, sources=sources, weights=Weights(), gate=GateSettings())
    assert verdict.slot == slot
    assert verdict.slot_filled is covered and verdict.covered is covered, verdict.as_dict()


def test_without_the_detail_check_the_same_question_would_be_answered(embedder):
    """The sick pay passage is close in words and meaning: only the missing figure refuses it."""
    question = "What is the current weekly rate of Statutory Sick Pay?"
    query, sources = passages(embedder, question, {"Sickness and pay": SICKNESS, "Annual leave": LEAVE})
    verdict = coverage(
        question=question, vector=query, sources=sources, weights=Weights(), gate=GateSettings(slot_units=0)
    )
    assert verdict.covered, verdict.as_dict()
