"""A reopened answer that did not finish (stopped, stalled, or failed with its words kept) is headed as
not finished, says why in plain words with its code only in small print, and offers "Ask again" for its
question instead of "Copy answer". chat.js shows the same live, from the same notes
(test_unfinished_answer_browser.py watches both)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from assistant.models import Conversation, Message, Status

pytestmark = pytest.mark.django_db

FRAGMENT = "Full-time staff must be in the office at"
PARTIAL = (
    "The part written so far is below. It may be incomplete or wrong, so do not rely on it. "
    "Ask again for a full answer."
)


def stored(user, *, status: str, text: str = FRAGMENT, error_code: str = "") -> Message:
    conversation = Conversation.objects.create(owner=user, title="Office days")
    question = Message.objects.create(conversation=conversation, role="user", text="Must I be in\nthe office?")
    return Message.objects.create(
        conversation=conversation, role="assistant", text=text, status=status, error_code=error_code, question=question
    )


def reopened(client, user, answer: Message):
    client.force_login(user)
    page = client.get(reverse("assistant:conversation", args=[answer.conversation_id]))
    return BeautifulSoup(page.content, "html.parser").find(id=f"answer-{answer.pk}")


def said(node) -> str:
    return " ".join(node.get_text(" ").split())


@pytest.mark.parametrize(
    ("status", "error_code", "why"),
    [
        (
            Status.STALLED,
            "model_cut_off",
            "Humphrey could not finish this answer because the language model stopped part-way through.",
        ),
        (Status.FAILED, "internal_error", "Humphrey could not finish this answer because something went wrong."),
        (Status.STOPPED, "", "You stopped this answer before it finished."),
    ],
)
def test_a_reopened_unfinished_answer_says_so_and_offers_to_ask_again(client, staff, status, error_code, why):
    """Headed "Answer not finished" (never "Humphrey answered"), the note says why and that the words
    may be wrong; the code is small print only; "Ask again" names the question's box; nothing to copy."""
    answer = stored(staff, status=status, error_code=error_code)
    box = reopened(client, staff, answer)
    assert box.h2.get_text() == "Answer not finished"
    note = box.select_one(".humphrey-answer__note")
    codes = note.select(".humphrey-answer__code")
    assert [said(c) for c in codes] == ([f"(code: {error_code})"] if error_code else [])
    assert all("govuk-body-s" in c["class"] for c in codes)
    for code in codes:
        code.extract()
    assert said(note) == f"{why} {PARTIAL}"
    assert said(box.select_one(".humphrey-answer__body")) == FRAGMENT
    buttons = box.select(".humphrey-answer__actions button")
    assert [said(b) for b in buttons] == ["Ask again"]
    assert buttons[0]["data-question"] == f"question-{answer.question_id}"
    page = box.find_parent("html")
    assert said(page.find(id=f"question-{answer.question_id}").select_one(".humphrey-question__text")) == (
        "Must I be in the office?"
    )


def test_a_reopened_answer_that_failed_with_nothing_written_is_not_answered(client, staff):
    """Failed before any words: "Not answered", why, its code in small print, nothing to copy or ask
    again from (it may have been refused, for a limit that asking again will not lift)."""
    answer = stored(staff, status=Status.FAILED, text="", error_code="model_unavailable")
    box = reopened(client, staff, answer)
    assert box.h2.get_text() == "Not answered"
    # Worded as it was live (the error's own message), not a generic "could not be completed".
    assert said(box.select_one(".humphrey-answer__note")) == (
        "The language model is not available at the moment. Try again in a few minutes. (code: model_unavailable)"
    )
    assert said(box.select_one(".humphrey-answer__code")) == "(code: model_unavailable)"
    assert box.select(".humphrey-answer__actions button") == []


def test_a_reopened_failure_of_unknown_code_says_it_could_not_be_completed(client, staff):
    answer = stored(staff, status=Status.FAILED, text="", error_code="something_new")
    note = said(reopened(client, staff, answer).select_one(".humphrey-answer__note"))
    assert note == "This answer could not be completed. (code: something_new)"


def test_a_finished_answer_is_still_offered_to_copy(client, staff):
    """A complete answer keeps "Copy answer" and its heading; no "Ask again"."""
    answer = stored(staff, status=Status.COMPLETE, text="Full-time staff get 25 days [1].")
    box = reopened(client, staff, answer)
    assert box.h2.get_text() == "Humphrey answered"
    assert [said(b) for b in box.select(".humphrey-answer__actions button")] == ["Copy answer"]
    assert box.select_one(".humphrey-answer__note") is None
