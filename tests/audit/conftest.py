"""Audit fixtures: answer and feedback events exactly as the chat engineer's pipeline writes them."""

from __future__ import annotations

import contextlib
import itertools
import types
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
            "missing_count": 1,  # the words themselves are content (``coverage_missing``)
            "best_unit": 0.734,
            "best_passage": 0.71,
            "agree": True,
            "slot": "duration",
            "slot_filled": True,
            "caution": outcome == "answered",
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
                "heading_path": f"Part 1 > {n} Passwords and sign-in",  # one string, as chunks hold it
                "anchor": f"Section {n} Passwords and sign-in",
                "text": f"Passage {n} text about annual leave.",
            }
            for n in (1, 2)
        ],
        "answer": answer,
        "coverage_missing": ["jury"],
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


@pytest.fixture(autouse=True)
def audit_anchor(tmp_path, settings, monkeypatch):
    """Each test gets a head anchor of its own; returns its path.

    Checkpoints are written when the transaction holding the event commits. In a test that is not
    transactional the test's own transaction never commits, so just before verification reads the
    anchor, the checkpoints still waiting on it are written, as a commit would (the ones of
    rolled-back savepoints are already gone: Django drops them on rollback).
    """
    import audit.integrity

    path = tmp_path / "audit-anchor" / "anchor.json"
    settings.HUMPHREY_AUDIT_ANCHOR_PATH = path
    settings.HUMPHREY_AUDIT_EXPORT_KEY_PATH = tmp_path / "audit-export-key" / "ed25519.pem"
    real_read = audit.integrity.anchor_read

    def read_after_commit(*args, **kwargs):
        anchor_commit_pending()
        return real_read(*args, **kwargs)

    monkeypatch.setattr(audit.integrity, "anchor_read", read_after_commit)
    return path


def anchor_commit_pending() -> None:
    """Run the anchor checkpoints waiting for the (test's) transaction to commit."""
    from django.db import connection

    pending = [entry for entry in connection.run_on_commit if getattr(entry[1], "audit_checkpoint", False)]
    connection.run_on_commit = [entry for entry in connection.run_on_commit if entry not in pending]
    for _, write, _ in pending:
        write()


@pytest.fixture
def retention_days(settings, db):
    """``retention_days(30)``: HUMPHREY_RETENTION_DAYS and the floor the purge function enforces,
    as ``migrate`` would record them after the setting changed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT days FROM audit_retention_floor WHERE id = 1")
        original = cursor.fetchone()[0]

    def set_days(days: int) -> None:
        settings.HUMPHREY_RETENTION_DAYS = days
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_retention_floor SET days = %s WHERE id = 1", [days])

    yield set_days
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_retention_floor SET days = %s WHERE id = 1", [original])


@contextlib.contextmanager
def written_at(when):
    """Audit events written inside are dated ``when`` (to make old events without waiting)."""
    from unittest import mock

    import audit.services

    with mock.patch.object(audit.services, "timezone", types.SimpleNamespace(now=lambda: when)):
        yield


@contextlib.contextmanager
def tampering():
    """A cursor with every trigger off, as a database superuser could (full compromise of the database).

    ``session_replication_role = replica`` is for superusers only; it is put back before leaving,
    since SET LOCAL would otherwise outlive the block in a test's own transaction.
    """
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            yield cursor
        finally:
            cursor.execute("SET LOCAL session_replication_role = origin")


def unsigned_event(*, seq: int, prev: str, action: str, data: dict, created_at=None) -> tuple[dict, str]:
    """The fields of a well-chained event after ``prev`` that no one signed, and the text its digest is
    of: what someone without the audit key could append (tests then write it their own way)."""
    from django.utils import timezone

    from audit.services import NO_CONTENT, event_payload

    fields = dict(
        seq=seq,
        created_at=created_at or timezone.now(),
        action=action,
        outcome="done",
        actor_id=None,
        actor_label="",
        subject="",
        data=data,
        content_sha256=NO_CONTENT,
        prev_sha256=prev,
    )
    return fields, event_payload(**fields)
