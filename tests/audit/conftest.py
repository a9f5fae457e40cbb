"""Audit fixtures: answer and feedback events exactly as the chat engineer's pipeline writes them."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from audit.services import audit_record

_ids = itertools.count(1000)


def answer_data(*, conversation_id: int, message_id: int, outcome: str, collections, model: str, groups=()) -> dict:
    passages = [
        {
            "n": n,
            "chunk_id": 500 + n,
            "version_id": 70 + n,
            "version_sha256": f"{n:064x}",
            "document_id": 30 + n,
            "collection": collections[0] if collections else "",
            "vector_score": 0.8123456789 - n / 10,
            "keyword_score": 0.25,
            "score": 1 / (60 + n),
        }
        for n in (1, 2)
    ]
    return {
        "conversation_id": conversation_id,
        "message_id": message_id,
        "question_message_id": message_id - 1,
        "user_groups": list(groups),
        "collections": list(collections),
        "prompt_version": "answer_v1",
        "model": {
            "endpoint": "http://127.0.0.1:9/v1",
            "name": model,
            "params": {"temperature": 0.0, "max_tokens": 800},
        },
        "usage": {"prompt_tokens": 1200, "completion_tokens": 150, "total_tokens": 1350},
        "cost": {"currency": "GBP", "amount": 0.0042},
        "timings_ms": {"retrieval": 41.5, "first_token": 380, "total": 2210},
        "error_code": "model_unavailable" if outcome == "error" else "",
        "citations": [{"n": 1, "chunk_id": 501, "version_id": 71}] if outcome == "answered" else [],
        "passages": passages if outcome != "refused" else [],
        "personal_data": [],
        "coverage": {
            "covered": outcome == "answered",
            "score": 0.712,
            "words": 0.8,
            "words_union": 0.9,
            "missing": ["jury"],
            "best_unit": 0.734,
            "best_passage": 0.71,
            "agree": True,
        },
        "claims": {"checked": 2, "unsupported": 1, "uncited": 0} if outcome == "answered" else {},
    }


def answer_content(*, question: str, answer: str) -> dict:
    return {
        "question": question,
        "condensed_question": f"Condensed: {question}",
        "messages": [
            {"role": "system", "content": "Answer only from the numbered passages."},
            {"role": "user", "content": f"[1] Passage one text.\n[2] Passage two text.\n\nQuestion: {question}"},
        ],
        "passages": [
            {
                "n": n,
                "chunk_id": 500 + n,
                "document_title": f"Guidance document {n}",
                "heading_path": ["Part 1", f"Section {n}"],
                "anchor": f"section-{n}",
                "text": f"Passage {n} text about annual leave.",
            }
            for n in (1, 2)
        ],
        "answer": answer,
        "claims": [
            {"sentence": answer, "cited": [1], "unsupported": [], "uncited": False, "support": {"1": [0]}},
            {
                "sentence": "Jury service is paid leave [2].",
                "cited": [2],
                "unsupported": [2],
                "uncited": False,
                "support": {"2": []},
            },
        ],
    }


@pytest.fixture
def record_answer(db) -> Callable:
    """``record_answer(user, question=..., outcome=...)`` writes one answer event; returns it."""

    def record(
        user,
        *,
        question: str = "How many days of annual leave do I get?",
        answer: str = "You get 25 days of annual leave [1].",
        outcome: str = "answered",
        conversation_id: int | None = None,
        collections=("hr-policies",),
        model: str = "gpt-4o-mini",
    ):
        conversation_id = conversation_id or next(_ids)
        message_id = next(_ids)
        return audit_record(
            action="answer",
            actor=user,
            outcome=outcome,
            subject=f"conversation:{conversation_id}",
            data=answer_data(
                conversation_id=conversation_id,
                message_id=message_id,
                outcome=outcome,
                collections=collections,
                model=model,
                groups=["HR"],
            ),
            content=answer_content(question=question, answer=answer),
        )

    return record


@pytest.fixture
def record_feedback(db) -> Callable:
    """``record_feedback(user, answer_event, "up"|"down", comment)`` writes one feedback event."""

    def record(user, answer_event, rating: str, comment: str = ""):
        data = answer_event.data
        return audit_record(
            action="feedback",
            actor=user,
            outcome=rating,
            subject=f"message:{data['message_id']}",
            data={"message_id": data["message_id"], "conversation_id": data["conversation_id"]},
            content={"comment": comment},
        )

    return record
