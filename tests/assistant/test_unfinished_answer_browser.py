"""A real browser (Chromium via Playwright): an answer that did not finish (the model cut off, or
stopped by the person) is headed as not finished, worded the same live and reopened, offers "Ask again"
rather than "Copy answer", and gives the question back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import Message, Status
from tests.conftest import sign_in

from .test_a11y_chat_browser import FOCUSED, announced
from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "Must full-time staff\nbe in the office?"  # two lines, given back as two
REPLY = "Full-time staff must be in the office at least three days a week [1]."
FRAGMENT = "Full-time staff must be in the office at"
# What a cut-off answer says (chat.html's notes), live and reopened; its code in small print after it.
CUT_OFF_NOTE = (
    "Humphrey could not finish this answer because the language model stopped part-way through. "
    "The part written so far is below. It may be incomplete or wrong, so do not rely on it. "
    "Ask again for a full answer."
)


@pytest.fixture
def site(guidance, staff, openai_server):
    server = chat_site(openai_server, reply=REPLY, tokens_per_second=20)
    yield server
    server.stop()
    openai_server.configure()


def ask(page, text: str = QUESTION) -> None:
    page.get_by_label("Your question").fill(text)
    page.get_by_role("button", name="Ask").click()


def shown(answer) -> dict:
    """What an answer's box shows: its heading, its note (and the code in it), its words and buttons."""
    return {
        "heading": answer.get_by_role("heading", level=2).inner_text(),
        "note": answer.locator(".humphrey-answer__note").inner_text(),
        "code": answer.locator(".humphrey-answer__code").all_inner_texts(),
        "text": answer.locator(".humphrey-answer__body").inner_text(),
        "buttons": answer.locator(".humphrey-answer__actions button").all_inner_texts(),
    }


def test_a_cut_off_answer_is_not_finished_live_and_reopened_and_can_be_asked_again(site, page, staff, openai_server):
    """The model's server dies mid-answer: the fragment is headed "Answer not finished" with a plain
    note (its code only in small print), nothing to copy, the question back in the box and focus on
    the heading; reopened, it says the same; "Ask again" gives the question back and goes to the box."""
    openai_server.configure(merge=True, scenario="ends_early", stall_after=len(FRAGMENT.split(" ")))
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page)
    answer = page.locator(".humphrey-answer[data-status='stalled']")
    answer.wait_for()

    live = shown(answer)
    assert live == {
        "heading": "Answer not finished",
        "note": CUT_OFF_NOTE + " (code: model_cut_off)",
        "code": ["(code: model_cut_off)"],
        "text": FRAGMENT,
        "buttons": ["Ask again"],
    }
    assert answer.get_by_label("Yes, helpful").count() == 1, "feedback is still welcome, as on a failed answer"
    box = page.get_by_label("Your question")
    assert box.input_value() == QUESTION, "given back, ready to ask again"
    expect(answer.get_by_role("heading", level=2)).to_be_focused()
    said = announced(page, "Answer not finished")
    assert said == f"Answer not finished. {CUT_OFF_NOTE} Your question is back in the question box."

    page.reload()
    answer = page.locator(".humphrey-answer[data-status='stalled']")
    assert shown(answer) == live, "reopened, it says what it said live"
    assert Message.objects.get(pk=answer.get_attribute("data-answer")).status == Status.STALLED

    assert page.get_by_label("Your question").input_value() == ""
    answer.get_by_role("button", name="Ask again").click()
    assert page.get_by_label("Your question").input_value() == QUESTION
    assert page.evaluate(FOCUSED) == "question"
    page.get_by_role("button", name="Ask", exact=True).click()  # and it asks
    page.locator(".humphrey-answer").nth(1).wait_for()
    assert page.locator(".humphrey-question__text").nth(1).inner_text() == QUESTION
    assert not page.console_errors


def test_an_answer_stopped_part_way_says_so_live_and_reopened(site, page, staff, openai_server):
    """Stopped after its first words: "Answer not finished", why and that the words may be wrong, no
    "Copy answer" but "Ask again"; the same when reopened."""
    openai_server.configure(merge=True, tokens_per_second=4)
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page)
    page.wait_for_function("() => document.querySelector('.humphrey-streaming')?.textContent.length > 0")
    page.get_by_role("button", name="Stop answering").click()
    answer = page.locator(".humphrey-answer[data-status='stopped']")
    answer.wait_for()
    live = shown(answer)
    assert live["heading"] == "Answer not finished" and live["buttons"] == ["Ask again"]
    assert live["code"] == [], "stopped by the person: no error, so no code"
    assert live["note"] == (
        "You stopped this answer before it finished. The part written so far is below. "
        "It may be incomplete or wrong, so do not rely on it. Ask again for a full answer."
    )
    assert REPLY.startswith(live["text"]) and live["text"]
    assert announced(page, "Answer stopped") == "Answer stopped. Your question is back in the question box."
    page.reload()
    assert shown(page.locator(".humphrey-answer[data-status='stopped']")) == live
    assert not page.console_errors
