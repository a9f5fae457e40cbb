"""Searching your conversations shows why each one was found: the first question or answer holding the
words, with them marked, linking to that message; Humphrey's own "not covered" wording is not searched
(it names nearby guidance, which made unrelated conversations match)."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message, Status

pytestmark = pytest.mark.django_db


def converse(user, title: str, question: str, answer: str, status: str = Status.COMPLETE) -> tuple[Message, Message]:
    conversation = Conversation.objects.create(owner=user, title=title)
    asked = Message.objects.create(conversation=conversation, role="user", text=question)
    answered = Message.objects.create(
        conversation=conversation, role="assistant", text=answer, status=status, question=asked
    )
    return asked, answered


def test_each_match_shows_where_the_words_are(client, staff):
    asked, _ = converse(
        staff, "How much holiday do I get?", "<b>What</b> is the mileage rate for my car? <script>x</script>", "45p."
    )
    _, answered = converse(staff, "Travel", "What can I claim?", "You can claim mileage at 45p a mile [1].")
    client.force_login(staff)
    page = client.get("/chat/history/", {"q": "mileage"}).content.decode()
    assert f'href="/chat/c/{asked.conversation_id}/#question-{asked.pk}"' in page
    assert "What is the <mark>mileage</mark> rate for my car?" in page  # marked (PostgreSQL's parser drops tags)
    assert f'href="/chat/c/{answered.conversation_id}/#answer-{answered.pk}"' in page
    assert "You can claim <mark>mileage</mark> at 45p a mile [1]." in page
    assert "<b>What</b>" not in page and "<script>x" not in page


def test_humphreys_not_covered_wording_is_not_searched(client, staff):
    converse(
        staff,
        "Work email on my phone",
        "Can I check my work email on my personal phone?",
        "The guidance you can search does not cover this. Nearest: Annual leave and other absence.",
        status=Status.NO_ANSWER,
    )
    converse(staff, "Leave", "How much annual leave do I get?", "25 days of annual leave [1].")
    client.force_login(staff)
    page = client.get("/chat/history/", {"q": '"annual leave"'}).content.decode()
    assert "1 conversation matches" in page and "Work email on my phone" not in page


def test_a_snippet_shows_an_answers_words_not_its_markdown(client, staff):
    """A quoting answer is Markdown: its snippet reads as the answer does on the page, without the
    "**", ">" and "|" that mark labels, quotes and tables."""
    answer = (
        "No language model is configured.\n\n**Annual leave and other absence**\n\n"
        "> If you are ill, tell your manager before 10am. [1]\n\n> | Type | Days |\n> |---|---|\n> | Sick | 5 |"
    )
    converse(staff, "Off sick", "What if I am ill?", answer)
    client.force_login(staff)
    page = client.get("/chat/history/", {"q": "manager"}).content.decode()
    snippet = page.split("<mark>manager</mark>", 1)
    assert len(snippet) == 2, page
    around = snippet[0][-200:] + snippet[1][:200]
    assert "**" not in around and "&gt;" not in around and "|" not in around
    assert "If you are ill, tell your" in around and "before 10am. [1]" in around
