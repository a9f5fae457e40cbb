"""From the side of someone with the database alone: an answer a person rereads, the passage every
citation opens, who a conversation belongs to, what it cited and a rating can each be changed without
touching the audit chain. Verification compares each with what the trail recorded and names the event
that vouches for it."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from assistant.models import Citation, Conversation, Feedback, Message, Speaker
from assistant.services import feedback_record
from audit.integrity import audit_verify
from documents.models import Chunk

from .helpers import ask_once

pytestmark = pytest.mark.django_db(transaction=True)


def altered() -> list[str]:
    return [p.message for p in audit_verify().problems if p.kind == "record_altered"]


def test_records_changed_behind_the_trail_are_reported(guidance, staff, fake_model, make_user):
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.", delay=0.001)
    frames = async_to_sync(ask_once)(staff, "How many days of annual leave do full-time staff get?")
    assert frames[-1]["type"] == "done"
    answer = Message.objects.get(role=Speaker.ASSISTANT)
    feedback_record(user=staff, message=answer, rating="up")
    assert altered() == [], "an untouched conversation agrees with its trail"

    Message.objects.filter(pk=answer.pk).update(text="Full-time staff get 40 days of annual leave [1].")
    citation = Citation.objects.get(message=answer)
    Chunk.objects.filter(pk=citation.chunk_id).update(text="Full-time staff get 45 days of annual leave a year.")
    other = make_user("olive@example.gov.uk")
    Conversation.objects.filter(pk=answer.conversation_id).update(owner=other)
    Feedback.objects.filter(message=answer).update(rating="down")

    problems = altered()
    assert any(f"Answer message {answer.pk} was changed" in p and "40 days" in p for p in problems)
    assert any(f"Passage {citation.chunk_id} was changed" in p and "45 days" in p for p in problems)
    assert any(f"now belongs to user {other.pk}" in p for p in problems)
    assert any("rating of answer message" in p and "'down'" in p and "'up'" in p for p in problems)

    Citation.objects.filter(message=answer).delete()
    assert any("citations of answer message" in p for p in altered())
