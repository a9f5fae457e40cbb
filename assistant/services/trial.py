"""One question through chat's steps, outside any conversation: ``evaluate_answers``, the answer
benchmark and the curators' "Try a question" page (``answer_preview``) answer exactly as chat does.

Nothing here is stored or audited as an answer: no conversation, no message, no model call for the
preview (it quotes, as the answerer without a language model does; with a model the gate's verdict,
which decides whether anything is answered, is the same).
"""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings

from assistant.core.condense import condense
from assistant.core.evidence import citing_sentences
from assistant.core.types import ChatRequest, TextDelta, Turn
from assistant.models import Status
from assistant.providers import get_chat_model
from assistant.providers.extractive import NOTICE, ExtractiveAnswerer
from documents.embeddings import get_embedder, query_embedding_refusal
from documents.glossary import glossary_for
from documents.retrieval import clean_query

from .frames import DETAIL_WORDS, answer_html
from .record import Outcome
from .steps import (
    answer_evidence,
    answer_finish,
    answer_not_covered,
    answer_request,
    question_searched,
    sources_retrieve,
)

logger = logging.getLogger(__name__)


async def _stream(model, request: ChatRequest) -> str:
    parts = []
    async for item in model.stream(request):
        if isinstance(item, TextDelta):
            parts.append(item.text)
    return "".join(parts)


def answer_one(
    *, user, model, question: str, turns: list[Turn], collection: str, words_only: bool = False
) -> tuple[Outcome, float]:
    """One question through chat's steps; returns the outcome and the ms the evidence took.
    ``words_only``: as chat answers when the embedder is down (or the collection is above its
    marking): nothing embedded, searched and judged by the question's words alone."""
    out = Outcome()
    searched = question_searched(question, turns, glossary_for(user, [collection], condense(question, turns)))
    out.condensed, out.glossary = searched.condensed, [t.as_dict() for t in searched.terms]
    query = clean_query(out.condensed)
    vector = get_embedder().embed_query(query) if query and not words_only else None
    out.sources, weights = sources_retrieve(
        user, out.condensed, [collection], settings.HUMPHREY_CHAT_PASSAGES, model.max_marking, vector
    )
    started = time.perf_counter()
    verdict, scored = answer_evidence(
        question=searched.question, vector=vector, sources=out.sources, weights=weights, subject=searched.subject
    )
    evidence_ms = (time.perf_counter() - started) * 1000
    out.coverage = verdict.as_dict()
    if not verdict.covered:
        answer_not_covered(out, verdict, searched.question, asked=question)
        return out, evidence_ms
    request = answer_request(model, out, question=question, turns=turns, scored=scored, verdict=verdict)
    out.text = asyncio.run(_stream(model, request))
    vectors = {}
    if model.uses_language_model and not words_only:
        sentences = citing_sentences(out.text, [s.n for s in out.sources])
        vectors = dict(zip(sentences, get_embedder().embed_documents(sentences), strict=True))
    answer_finish(out, model=model, request=request, weights=weights, vectors=vectors)
    return out, evidence_ms


def answer_preview(user, question: str, collection: str) -> dict:
    """What chat would answer ``user`` asking ``question`` of ``collection`` alone, for the curators'
    "Try a question" page: the gate's verdict and its evidence, and the answer as the quoting answerer
    gives it (sanitised HTML, citations linked to their passages). Retrieval is as the configured chat
    model's (its marking ceiling), and by words alone where chat would not embed the question."""
    model = get_chat_model()
    # With a model configured the page says that chat's answer is the model's; the quotes below it
    # must not then open by saying that no model is configured.
    lead = "" if model.uses_language_model else NOTICE
    quoting = ExtractiveAnswerer(max_words=settings.HUMPHREY_ANSWER_QUOTE_WORDS, notice=lead)
    quoting.max_marking = model.max_marking
    words_only = bool(query_embedding_refusal(user=user, collections=[collection], max_marking=model.max_marking))
    embedder_down = False
    try:
        out, _ = answer_one(
            user=user, model=quoting, question=question, turns=[], collection=collection, words_only=words_only
        )
    except Exception:  # as chat does when the embedding service fails: the question's words alone
        if words_only:
            raise
        logger.warning("the answer preview could not embed the question; judged by its words alone", exc_info=True)
        embedder_down = words_only = True
        out, _ = answer_one(
            user=user, model=quoting, question=question, turns=[], collection=collection, words_only=True
        )
    return {
        "covered": out.status == Status.COMPLETE,
        "html": answer_html(out.text, out.sources, out.cited, highlights=out.highlights),
        "evidence": out.coverage,
        "detail": DETAIL_WORDS.get(out.coverage.get("slot") or "", ""),  # what the question asks for, in words
        "min_evidence": settings.HUMPHREY_ANSWER_MIN_EVIDENCE,
        "language_model": model.uses_language_model,
        "words_only": words_only,
        "embedder_down": embedder_down,
        "passages": out.sources,  # what chat retrieved for it, the glossary applied
        "glossary": out.glossary,  # the entries that put the question in the guidance's words
    }
