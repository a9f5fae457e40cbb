"""The trace says where a question went (the model service's host, its kind, what it is approved
for) and, when personal data was replaced, that the question shown is not the person's own words."""

from __future__ import annotations

import pytest

from audit.services import audit_record

from .conftest import answer_content, answer_data

pytestmark = pytest.mark.django_db


def test_the_trace_names_the_service_and_says_the_question_was_redacted(client, auditor, civil_servant):
    data = answer_data(conversation_id=7, message_id=8, outcome="answered", collections=["hr"], model="gpt-4o")
    data["model"] = {
        "endpoint": "default",
        "name": "gpt-4o",
        "params": {},
        "provider": "openai-compatible",
        "host": "vllm.dept.internal:8000",
        "max_marking": "OFFICIAL",
        "attempts": 3,
        "failed_attempts": [503, "timeout"],
    }
    data["personal_data"] = ["National Insurance number"]
    event = audit_record(
        action="answer",
        actor=civil_servant,
        outcome="answered",
        subject="conversation:7",
        data=data,
        content=answer_content(question="My NI number is [National Insurance number]. How do I claim?", answer="x"),
    )
    client.force_login(auditor)
    page = client.get(f"/audit/event/{event.seq}/").content.decode()
    assert "sent to <code>vllm.dept.internal:8000</code> (openai-compatible, approved up to OFFICIAL)" in page
    assert "Requests sent: 3 (failed: 503, timeout)" in page
    assert "Question as sent on, with the personal data found (National Insurance number) replaced" in page
    assert "Question as asked" not in page
