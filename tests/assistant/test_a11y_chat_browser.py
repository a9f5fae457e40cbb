"""The chat page from the keyboard and with a screen reader (the accessibility review's findings H1 to H4,
M3 and M6), in a real browser: what is announced, where focus goes, and that nothing reloads the page.

"Announced" is what the page puts in its live regions: ``#chat-announcer`` (polite) and ``#chat-status``
(``role=status``), which screen readers read out when their text changes.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import Message, Speaker, Status
from tests.conftest import sign_in

from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "How many days of annual leave do full-time staff get?"
FOCUSED = (
    "() => { const a = document.activeElement; return a ? (a.id || a.tagName + ':' + a.textContent.trim()) : null; }"
)
ANNOUNCED = "() => document.getElementById('chat-announcer').textContent"
# An element's text without what only screen readers are given.
SEEN = """(e) => {
  const c = e.cloneNode(true);
  c.querySelectorAll('.govuk-visually-hidden').forEach((h) => h.remove());
  return c.textContent;
}"""


@pytest.fixture
def site(guidance, staff, openai_server):
    server = chat_site(openai_server, reply="Full-time staff get **25 days** of annual leave a year [1].")
    yield server
    server.stop()


def open_chat(page, site, staff) -> None:
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")


def ask(page, text: str = QUESTION) -> None:
    page.get_by_label("Your question").fill(text)
    page.get_by_role("button", name="Ask").click()


def announced(page, starts: str) -> str:
    page.wait_for_function(f"() => document.getElementById('chat-announcer').textContent.startsWith({starts!r})")
    return page.evaluate(ANNOUNCED)


# --- H1: an answer still being written never reloads the page ------------------------------------------


def test_an_answer_still_being_written_appears_in_place_without_reloading_the_page(site, page, staff):
    """Reopened while its answer is written, the page used to reload itself every 4 seconds, wiping the
    question being typed and sending focus to the top. Now the answer's box alone is replaced once it is
    stored, and that is said once; the typed text and focus stay where they were."""
    open_chat(page, site, staff)
    ask(page)
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    answer = Message.objects.get(role=Speaker.ASSISTANT)
    finished_text = answer.text
    Message.objects.filter(pk=answer.pk).update(status=Status.STREAMING, text="")
    page.reload()
    assert page.locator(".humphrey-answer").get_attribute("data-status") == "streaming"
    page.evaluate("() => { window.notReloaded = true; }")
    box = page.get_by_label("Your question")
    box.click()
    box.type("And part-time staff?")

    page.wait_for_timeout(9_000)  # over two of the old reload's 4-second rounds
    assert page.evaluate("() => window.notReloaded === true"), "the page reloaded itself"
    assert box.input_value() == "And part-time staff?"
    assert page.evaluate(FOCUSED) == "question"
    assert page.locator(".humphrey-answer").get_attribute("data-status") == "streaming"

    Message.objects.filter(pk=answer.pk).update(status=Status.COMPLETE, text=finished_text)
    page.locator(".humphrey-answer[data-status='complete']").wait_for(timeout=15_000)
    assert page.evaluate("() => window.notReloaded === true"), "replaced in place, not by a reload"
    assert "25 days" in page.locator(".humphrey-answer__body").inner_text()
    assert page.locator(".humphrey-answer").get_by_role("button", name="Send feedback").is_visible()
    assert announced(page, "Humphrey answered") == "Humphrey answered. 1 source."
    assert box.input_value() == "And part-time staff?", "what was typed is kept"
    assert page.evaluate(FOCUSED) == "question", "focus stays in the question box"
    assert not page.console_errors


# --- H2: focus is never thrown to the top of the page -------------------------------------------------


def test_ask_from_the_keyboard_keeps_focus_and_then_goes_to_the_answer(site, page, staff, openai_server):
    """Ask was disabled as it was pressed, dropping focus to <body>; now it stays on Ask (marked
    aria-disabled) and, when the answer is done, moves to the answer's heading."""
    openai_server.configure(merge=True, ttft_ms=800, tokens_per_second=20)
    open_chat(page, site, staff)
    page.get_by_label("Your question").fill(QUESTION)
    page.focus("#ask-button")
    page.keyboard.press("Enter")
    page.locator(".humphrey-answer").wait_for()
    assert page.evaluate(FOCUSED) == "ask-button"
    assert page.get_attribute("#ask-button", "aria-disabled") == "true"
    assert not page.evaluate("() => document.getElementById('ask-button').disabled")

    page.keyboard.press("Enter")  # pressed again while the answer is written: it says why it waits
    expect(page.locator("#question-error")).to_contain_text("Wait for this answer to finish")
    assert (
        announced(page, "Error:")
        == "Error: Wait for this answer to finish, or stop it, before you ask another question"
    )

    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    expect(page.locator(".humphrey-answer h2")).to_be_focused()
    assert page.locator(".humphrey-answer h2").inner_text() == "Humphrey answered"
    assert page.get_attribute("#ask-button", "aria-disabled") == "false"
    assert not page.console_errors


def test_stop_answering_from_the_keyboard_leaves_focus_on_the_stopped_answer(site, page, staff, openai_server):
    """Stop answering was hidden while it had focus; focus now goes to the stopped answer's heading."""
    openai_server.configure(merge=True, ttft_ms=10_000)
    open_chat(page, site, staff)
    ask(page)
    page.get_by_text("Writing an answer…").wait_for()
    page.focus("#stop-button")
    page.keyboard.press("Enter")
    page.locator(".humphrey-answer[data-status='stopped']").wait_for()
    expect(page.locator(".humphrey-answer h2")).to_be_focused()
    assert not page.get_by_role("button", name="Stop answering").is_visible()
    assert announced(page, "Answer stopped") == "Answer stopped. Your question is back in the question box."
    page.keyboard.press("Tab")  # and the next Tab goes on from the answer, not from the top of the page
    assert page.evaluate(FOCUSED) not in ("BODY:", None)
    assert page.evaluate("() => document.activeElement.closest('.humphrey-answer, #ask-form') !== null")


def test_send_feedback_from_the_keyboard_keeps_focus_on_the_button(site, page, staff):
    """Sending feedback disabled every control of the form, the focused button too."""
    open_chat(page, site, staff)
    ask(page)
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    answer.get_by_label("Yes, helpful").check()
    send = answer.get_by_role("button", name="Send feedback")
    send.focus()
    page.keyboard.press("Enter")
    answer.get_by_text("Thank you for your feedback.").wait_for()
    expect(send).to_be_focused()
    assert not send.is_disabled() and not answer.get_by_label("No, not helpful").is_disabled()


# --- H3: errors and state changes are said; signing out ends the pending answer ---------------------------


def test_an_empty_question_is_said_to_be_an_error(site, page, staff):
    """Enter in an empty box showed the error silently: the box already had focus, so its new
    description was never read. It is now said through the announcer."""
    open_chat(page, site, staff)
    page.get_by_label("Your question").press("Enter")
    assert announced(page, "Error:") == "Error: Enter your question"
    assert page.locator("#question-error-text").inner_text() == "Enter your question"


def test_signed_out_mid_conversation_the_question_is_kept_and_the_page_says_why(site, page, staff):
    """The socket closed with 4401: the answer box stayed "Humphrey is answering" and busy for good, the
    status went into a region hidden until then, every later Enter said "wait for this answer", and the
    question, never stored, was gone. Now it is back in the box, with no answer box left for it."""
    open_chat(page, site, staff)
    page.evaluate("() => { window.statusAtLoad = document.getElementById('chat-status'); }")
    assert page.evaluate("() => getComputedStyle(window.statusAtLoad).display") != "none", (
        "a live region from the start"
    )
    staff.is_active = False  # as good as signed out everywhere: the next frame is refused with 4401
    staff.save(update_fields=["is_active"])
    ask(page)

    status = page.locator("#chat-status")
    expect(status).to_contain_text("You have been signed out. Sign in again to keep asking questions.")
    assert page.evaluate("() => window.statusAtLoad === document.getElementById('chat-status')")
    assert status.get_attribute("role") == "status"
    assert "/accounts/login/?next=" in status.get_by_role("link", name="Sign in again").get_attribute("href")
    assert page.get_by_label("Your question").input_value() == QUESTION
    assert page.locator(".humphrey-answer").count() == 0 and page.locator(".humphrey-question").count() == 0
    assert "Question sent" not in page.evaluate(ANNOUNCED), "no answer is on its way"

    page.get_by_label("Your question").fill("Anything else?")
    page.get_by_label("Your question").press("Enter")
    assert announced(page, "Error:") == "Error: You have been signed out. Sign in again to keep asking questions."
    assert "Wait for this answer" not in page.locator("#question-error").inner_text()


# --- H4: the finished answer is announced in brief -----------------------------------------------------


def test_a_finished_answer_is_announced_in_brief_not_read_out_whole(doubtful_site, page, staff):
    """The whole answer (with its claim-check tags glued into the prose) went through one atomic live
    region; now only its outcome, its sources and how many sentences to check are said."""
    open_chat(page, doubtful_site, staff)
    ask(page)
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    said = announced(page, "Humphrey answered")
    assert said == "Humphrey answered. 1 source. 2 sentences are marked for checking."
    assert "first passage" not in said and "may not support" not in said


# --- M3: the feedback form's "no rating" error is a GOV.UK error at the radios ---------------------------


def test_feedback_without_a_rating_shows_a_gov_uk_error_at_the_radios(site, page, staff):
    open_chat(page, site, staff)
    ask(page)
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    answer.get_by_role("button", name="Send feedback").click()
    error = answer.locator(".js-feedback-error[data-field='rating']")
    expect(error).to_be_visible()
    assert " ".join(error.text_content().split()) == "Error: Choose helpful or not helpful"
    fieldset = answer.locator("fieldset")
    assert error.get_attribute("id") in fieldset.get_attribute("aria-describedby").split()
    assert "govuk-form-group--error" in fieldset.locator("xpath=..").get_attribute("class")
    expect(answer.get_by_label("Yes, helpful")).to_be_focused()
    assert answer.locator(".js-feedback-result").inner_text() == "", "said once, at the field"

    answer.get_by_label("Yes, helpful").check()
    answer.get_by_role("button", name="Send feedback").click()
    answer.get_by_text("Thank you for your feedback.").wait_for()
    assert not error.is_visible() and fieldset.get_attribute("aria-describedby") is None


# --- M6: citations name their document and lead back to the conversation ---------------------------------


def test_an_inline_citation_names_its_document_and_its_passage_leads_back(site, page, staff):
    """The inline [1] was "Source 1" whatever it cited, and opened its passage without the way back
    (noreferrer on every link); it now says which document it cites, as streamed and reopened."""
    open_chat(page, site, staff)
    ask(page)
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    for when in ("streamed", "reopened"):
        citation = answer.get_by_role("link", name="Source [1] (Leave policy)", exact=True)
        expect(citation).to_have_count(1)
        assert citation.evaluate(SEEN) == "[1]", f"{when}: seen as before"
        assert "noreferrer" not in (citation.get_attribute("rel") or ""), when
        if when == "streamed":
            page.reload()
            answer.wait_for()
    conversation = page.url
    with page.expect_navigation():
        answer.locator("a.humphrey-citation").first.click()
    back = page.get_by_role("link", name="Back to your conversation")
    expect(back).to_be_visible()
    assert back.get_attribute("href") == conversation.replace(site.url, "")


# --- A question refused before it is stored is given back ----------------------------------------------


def test_a_question_refused_before_it_is_stored_goes_back_in_the_box_with_the_error_there(site, page, staff):
    """A collection chosen on the page is retired before the question is asked: the question was never
    stored, so it must not vanish with a reload. It is put back in the box, the error is shown and said
    at the box, and no "You asked" or answer box is left for a question that was not taken."""
    from documents.models import Collection

    open_chat(page, site, staff)
    page.get_by_text("Choose which guidance to search").click()
    choice = page.locator('input[name="collections"]').first
    choice.check()
    Collection.objects.filter(slug=choice.get_attribute("value")).update(is_active=False)
    ask(page, "A long, carefully typed question about carrying annual leave over?")
    expect(page.locator("#question-error")).to_contain_text("not available to you")
    box = page.get_by_label("Your question")
    assert box.input_value() == "A long, carefully typed question about carrying annual leave over?"
    assert page.locator(".humphrey-question").count() == 0 and page.locator(".humphrey-answer").count() == 0
    assert page.evaluate(FOCUSED) == "question"
    assert "Error:" in page.evaluate(ANNOUNCED)
