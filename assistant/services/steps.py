"""Step 2 of an answer, one synchronous step at a time: the passages retrieved, the evidence gate,
the chat request, and what the finished text becomes. ``AnswerRun`` (``assistant.services.pipeline``)
calls them around the model's stream; ``manage.py evaluate_answers`` and ``bench/answers.py`` call
them one by one, so both measure the steps chat really takes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from django.conf import settings

from assistant.core.citations import cited_numbers, strip_unshown
from assistant.core.condense import asked_and_context, condense, follow_up_subject, sentences, without_redacted
from assistant.core.evidence import (
    CheckSettings,
    Coverage,
    GateSettings,
    Weights,
    check_claims,
    coverage,
    missing_words,
    prefer_answer_form,
    score_units,
)
from assistant.core.prompt import render_messages
from assistant.core.types import ChatRequest, Source, Turn
from assistant.models import Status
from assistant.pii import REDACTED
from documents.access import readable_collections
from documents.embeddings import DIMENSIONS
from documents.glossary import Glossary, Term
from documents.ingest.units import split_units
from documents.models import Chunk
from documents.retrieval import retrieve
from documents.review import Review, review_date, review_status
from documents.vocabulary import word_shares

from .frames import caution_text, not_covered_text
from .record import Outcome

#: What a passage's document is reviewed by (``documents.review``), read with its answer units.
_REVIEW_COLUMNS = (
    "version__document_id",
    "version__document__review_by",
    "version__document__review_by_source",
    "version__document__current_version__review_by",
    "version__document__current_version__uploaded_at",
    "version__document__collection__review_months",
    "version__document__collection__expire_after_days",
)


@dataclasses.dataclass(frozen=True)
class Searched:
    """A question as it is searched and judged: condensed with what a follow-up leans on, and put
    in the guidance's words where the collections' glossaries say how (``documents.glossary``)."""

    condensed: str  # what retrieval searches for (by meaning and by words)
    question: str  # what the gate judges: a follow-up itself (its ``subject`` apart), else ``condensed``
    subject: str  # for a follow-up, the earlier question(s) it leans on; else ""
    terms: tuple[Term, ...] = ()  # the glossary entries applied


def question_searched(question: str, turns: list[Turn], glossary: Glossary | None = None) -> Searched:
    """``question`` (asked after ``turns``) as retrieval and the gate take it."""
    glossary = glossary or Glossary(())
    question = without_redacted(question, REDACTED)
    turns = [Turn(t.role, without_redacted(t.text, REDACTED)) for t in turns]
    condensed = condense(question, turns)
    subject = follow_up_subject(question, turns)
    asked, context = asked_and_context(question)
    searched = glossary.apply(condensed)
    if context:  # searched whole; judged, and quoted from, on what it asks
        return Searched(
            condensed=searched,
            question=glossary.apply(asked),
            subject=glossary.apply(subject),
            terms=glossary.find(condensed),
        )
    return Searched(
        condensed=searched,
        question=glossary.apply(question.strip()) if subject else searched,
        subject=glossary.apply(subject),
        terms=glossary.find(condensed),
    )


def _review(document_review_by, source, version_review_by, uploaded_at, months, expire_after_days) -> Review:
    review_by, came_from = review_date(
        document_review_by=document_review_by,
        document_source=source,
        version_review_by=version_review_by,
        uploaded_at=uploaded_at,
        review_months=months,
    )
    return review_status(review_by, came_from, expire_after_days)


def sources_retrieve(
    user, query: str, collections, k: int, max_marking: str, query_vector=None
) -> tuple[list[Source], Weights]:
    """The passages for the question, each with its answer units and their vectors, and the word
    weights the evidence is scored with (both read here, in the database thread). Without
    ``query_vector`` the question is searched by its words only: nothing here embeds it."""
    sources, weights, _ = sources_retrieve_reviewed(user, query, collections, k, max_marking, query_vector)
    return sources, weights


def sources_retrieve_reviewed(
    user, query: str, collections, k: int, max_marking: str, query_vector=None
) -> tuple[list[Source], Weights, dict[int, Review]]:
    """``sources_retrieve``, and each passage's document's review (document id -> ``Review``: how
    fresh the guidance is, for the frames and the audit), read in the same query as the units."""
    passages = retrieve(
        user=user,
        query=query,
        collections=collections,
        k=k,
        max_marking=max_marking,
        query_vector=query_vector,
        mode="keyword" if query_vector is None else "hybrid",
    ).passages
    units, reviews = {}, {}
    rows = Chunk.objects.filter(pk__in=[p.chunk_id for p in passages]).values_list(
        "pk", "units", "unit_vectors", *_REVIEW_COLUMNS
    )
    for pk, stored, vectors, document_id, *review in rows:
        units[pk] = (stored, vectors)
        reviews[document_id] = _review(*review)
    sources = []
    for i, p in enumerate(passages, start=1):
        stored, vectors = units.get(p.chunk_id, ([], None))
        if not stored:  # ingested before answer units existed (``manage.py reembed`` adds them)
            stored, vectors = [u.as_list() for u in split_units(p.text)], None
        sources.append(
            Source(
                n=i,
                chunk_id=p.chunk_id,
                text=p.text,
                document_id=p.document_id,
                document_title=p.document_title,
                version_id=p.version_id,
                version_number=p.version_number,
                version_sha256=p.version_sha256,
                collection_slug=p.collection_slug,
                marking=p.marking,
                heading_path=p.heading_path,
                anchor=p.anchor,
                page=p.page,
                vector_score=p.vector_score,
                keyword_score=p.keyword_score,
                score=p.score,
                units=tuple(tuple(u) for u in stored),
                unit_vectors=None
                if vectors is None
                else np.frombuffer(bytes(vectors), dtype=np.float16).reshape(-1, DIMENSIONS).astype(np.float32),
            )
        )
    share, floor = word_shares()
    return sources, Weights(share=share, floor=floor), reviews


def gate_settings() -> GateSettings:
    return GateSettings(
        min_score=settings.HUMPHREY_ANSWER_MIN_EVIDENCE,
        words_weight=settings.HUMPHREY_ANSWER_WORDS_WEIGHT,
        unit_weight=settings.HUMPHREY_ANSWER_UNIT_WEIGHT,
        passage_weight=settings.HUMPHREY_ANSWER_PASSAGE_WEIGHT,
        min_best_unit=settings.HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY,
        slot_units=settings.HUMPHREY_ANSWER_SLOT_UNITS,
        names=settings.HUMPHREY_ANSWER_NAME_SLOT,
        cases=settings.HUMPHREY_ANSWER_CASE_WORDS,
        top_passages=settings.HUMPHREY_ANSWER_GATE_PASSAGES,
        caution_margin=settings.HUMPHREY_ANSWER_CAUTION_MARGIN,
    )


def answer_evidence(
    *, question: str, vector, sources: list[Source], weights: Weights, subject: str = ""
) -> tuple[Coverage, list]:
    """Whether the passages cover the question (the gate every answer passes before any model is
    called), and their units scored against it (what the extractive answerer quotes from; with
    ``HUMPHREY_ANSWER_FORM_BONUS``, units holding the form of answer the question expects first).
    ``subject``: for a follow-up, the earlier question it leans on (its words count half)."""
    scored = score_units(question=question, vector=vector, sources=sources, weights=weights, subject=subject)
    gate = gate_settings()
    top = {s.chunk_id for s in sources[: gate.top_passages]}
    verdict = coverage(
        question=question,
        vector=vector,
        sources=sources,
        weights=weights,
        gate=gate,
        scored=[u for u in scored if u.source.chunk_id in top],
        subject=subject,
    )
    return verdict, prefer_answer_form(question, scored, settings.HUMPHREY_ANSWER_FORM_BONUS)


def answer_caution(verdict: Coverage, question: str) -> str:
    """What a borderline answer says first (``Coverage.caution``: answered, but only just), naming
    the question's words the closest passages never use; "" for any other answer."""
    return caution_text(missing_words(question, verdict.missing)) if verdict.covered and verdict.caution else ""


def answer_not_covered(
    out: Outcome, verdict: Coverage, question: str, *, asked: str = "", unsearched: list[str] | None = None
) -> None:
    """``out`` made the honest reply to a question the gate found not covered: the nearest documents,
    the question's words the closest passages never use, or the detail they do not give; and, when
    the message as ``asked`` held several questions, or only some of the person's collections were
    searched (``unsearched`` names the others), what to do about it."""
    absent = missing_words(question, verdict.missing)
    detail = verdict.slot if verdict.slot_filled is False else None
    questions = sum(1 for sentence in sentences(asked or question) if sentence.rstrip().endswith("?"))
    out.status, out.text = (
        Status.NO_ANSWER,
        not_covered_text(out.sources, absent, detail, questions=questions, unsearched=unsearched),
    )


def collections_unsearched(user, searched: list[str]) -> list[str]:
    """The names of the collections ``user`` may read that a question did not search (they chose
    some), in name order; one query, made only for a question found not covered."""
    return list(readable_collections(user).exclude(slug__in=searched).order_by("name").values_list("name", flat=True))


def answer_request(model, out: Outcome, *, question: str, turns, scored: list, verdict: Coverage) -> ChatRequest:
    """The request for a question the gate let through: the versioned prompt (kept in ``out``), the
    scored units the extractive answerer quotes from, and the caution if it only just passed."""
    out.messages = render_messages(question=question, sources=out.sources, turns=turns)
    return chat_request(
        model,
        messages=out.messages,
        sources=out.sources,
        question=out.condensed,
        evidence=scored,
        caution=answer_caution(verdict, question),
    )


def check_settings() -> CheckSettings:
    return CheckSettings(
        min_words=settings.HUMPHREY_ANSWER_CHECK_MIN_WORDS, min_meaning=settings.HUMPHREY_ANSWER_CHECK_MIN_SIMILARITY
    )


def chat_request(model, **fields) -> ChatRequest:
    """The request for ``model``; for an extractive answerer its quotes chosen here, once, so the
    answer streamed and the passages highlighted afterwards are the same units."""
    request = ChatRequest(**fields)
    if hasattr(model, "quotes"):
        request = dataclasses.replace(request, quotes=model.quotes(request))
    return request


def answer_finish(out: Outcome, *, model, request: ChatRequest, weights: Weights, vectors: dict) -> None:
    """What the finished text of an answer becomes: not covered if it cites nothing; citations of
    passages never shown removed; a model's sentences checked against their citations; the units
    each cited passage was used for (highlighted on its page)."""
    shown = [s.n for s in out.sources]
    out.cited = cited_numbers(out.text, shown)
    if not out.cited:
        # Grounded or honest: an answer that cites nothing is not shown as an answer.
        out.model_output = out.text
        out.status, out.text = Status.NO_ANSWER, not_covered_text(out.sources)
        return
    cleaned = strip_unshown(out.text, shown)
    if cleaned != out.text:
        out.model_output, out.text = out.text, cleaned
    out.status = Status.COMPLETE
    by_n = {s.n: s for s in out.sources}
    used: dict[int, set[int]] = {}
    if model.uses_language_model:
        checks = check_claims(
            answer=out.text, sources=out.sources, weights=weights, vectors=vectors, settings=check_settings()
        )
        out.checks = [c.as_dict() for c in checks if c.cited or c.uncited]
        for check in checks:
            for n, units in check.support.items():
                used.setdefault(n, set()).update(units)
    elif hasattr(model, "quotes"):
        for quote in model.quotes(request):
            used.setdefault(quote.source.n, set()).update(quote.indexes)
    if request.caution and model.uses_language_model:
        # Above the model's words, from Humphrey, once the claim check has read the model's own.
        # An extractive answer says it in its notice, as it streams.
        out.text = f"**{request.caution}**\n\n{out.text}"
    out.highlights = {
        n: sorted([by_n[n].units[i][0], by_n[n].units[i][1]] for i in units)
        for n, units in used.items()
        if n in by_n and n in out.cited
    }
