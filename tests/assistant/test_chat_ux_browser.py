"""A real browser (Chromium via Playwright): what the chat page shows while a slow answer is on its
way, feedback shown again on a reopened answer, a long question counted rather than cut, claim-check
marks each after its own sentence, and the current conversation marked in the list."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import Conversation, Feedback, Message, Status
from tests.conftest import sign_in

from .conftest import add_document
from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "How many days of annual leave do full-time staff get?"
PHONE = {"width": 375, "height": 740}


@pytest.fixture
def site(guidance, staff, openai_server):
    server = chat_site(openai_server, reply="Full-time staff get **25 days** of annual leave a year [1].")
    yield server
    server.stop()


def ask(page, text: str = QUESTION) -> None:
    page.get_by_label("Your question").fill(text)
    page.get_by_role("button", name="Ask").click()


def newest_answer(page):
    return page.locator(".humphrey-answer").last


# Each text the new answer's progress line shows, in order, and each text of its heading.
WATCH = """() => {
  window.seen = {progress: [], heading: []};
  const note = (list, text) => { if (text && list[list.length - 1] !== text) list.push(text); };
  new MutationObserver(() => {
    const box = [...document.querySelectorAll('.humphrey-answer')].pop();
    if (!box) return;
    const progress = box.querySelector('.humphrey-answer__progress');
    if (progress) note(window.seen.progress, progress.textContent);
    note(window.seen.heading, box.querySelector('h2').textContent);
  }).observe(document.getElementById('chat-log'), {childList: true, subtree: true, characterData: true});
}"""


def test_a_slow_answer_says_what_it_is_doing_until_its_first_words(site, page, staff, openai_server):
    """While the model is slow to start, the new answer's box says so where it can be seen (searching,
    then writing once the passages are found) and its heading does not say "answered" until it has."""
    openai_server.configure(merge=True, ttft_ms=2500, tokens_per_second=5)
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    page.evaluate(WATCH)
    ask(page)

    answer = newest_answer(page)
    progress = answer.locator(".humphrey-answer__progress")
    page.wait_for_function("() => window.seen.progress.includes('Writing an answer…')")
    assert progress.is_visible() and progress.inner_text() == "Writing an answer…"
    assert answer.get_by_role("heading", level=2).inner_text() == "Humphrey is answering"
    assert page.locator(".humphrey-streaming").inner_text() == ""  # no words yet

    page.wait_for_function("() => document.querySelector('.humphrey-streaming')?.textContent.length > 0")
    assert progress.count() == 0, "gone once the words arrive"
    assert answer.get_by_role("heading", level=2).inner_text() == "Humphrey is answering"
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    assert answer.get_by_role("heading", level=2).inner_text() == "Humphrey answered"
    seen = page.evaluate("() => window.seen")
    assert seen["progress"] == ["Searching the guidance…", "Writing an answer…"]
    assert seen["heading"] == ["Humphrey is answering", "Humphrey answered"]

    # Stopped before its first words: the progress line goes, and the stopped answer says it was not answered.
    openai_server.configure(merge=True, ttft_ms=10_000)
    ask(page, "How many days of annual leave do part-time staff get?")
    second = newest_answer(page)
    second.get_by_text("Writing an answer…").wait_for()
    page.get_by_role("button", name="Stop answering").click()
    page.locator(".humphrey-answer[data-status='stopped']").wait_for()
    assert second.get_by_role("heading", level=2).inner_text() == "Not answered"
    assert second.get_by_text("You stopped this answer before it finished.").is_visible()
    assert second.locator(".humphrey-answer__progress").count() == 0

    # Reopened while one is still being written, its heading says so, as it did while streaming.
    Message.objects.filter(pk=second.get_attribute("data-answer")).update(status=Status.STREAMING)
    page.reload()
    headings = page.locator(".humphrey-answer h2").all_inner_texts()
    assert headings == ["Humphrey answered", "Humphrey is answering"]
    assert not page.console_errors


def test_enter_while_an_answer_is_being_written_asks_nothing_and_keeps_the_text(site, page, staff, openai_server):
    """Ask is disabled while an answer is written, but Enter still submitted: the second question was
    refused as busy and the rest of the first answer was written into its box."""
    openai_server.configure(merge=True, ttft_ms=1500, tokens_per_second=20)
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page)
    newest_answer(page).get_by_text("Writing an answer…").wait_for()
    box = page.get_by_label("Your question")
    box.fill("And part-time staff?")
    box.press("Enter")
    expect(page.locator("#question-error")).to_contain_text("Wait for this answer to finish, or stop it")
    assert box.input_value() == "And part-time staff?", "kept for when the answer is done"
    assert page.locator(".humphrey-question").count() == 1 and page.locator(".humphrey-answer").count() == 1
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    assert "25 days" in newest_answer(page).inner_text()
    assert not page.locator("#question-error").is_visible(), "the wait is over: so is the error"
    box.press("Enter")  # now it asks
    page.locator(".humphrey-question").nth(1).wait_for()
    assert page.locator(".humphrey-answer").count() == 2
    assert not page.console_errors


def test_feedback_is_shown_again_on_a_reopened_answer_and_can_be_changed(site, page, staff):
    """After rating an answer, reopening the conversation says what the person said, with their
    comment, and lets them change it, the form filled in with what they said."""
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page)
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    assert answer.locator(".humphrey-feedback-given").count() == 0, "nothing given yet: just the form"
    answer.get_by_label("Yes, helpful").check()
    answer.get_by_label("Tell us more (optional)").fill("Clear and quick")
    answer.get_by_role("button", name="Send feedback").click()
    answer.get_by_text("Thank you for your feedback.").wait_for()

    page.reload()
    answer = page.locator(".humphrey-answer[data-status='complete']")
    given = answer.locator(".humphrey-feedback-given")
    assert given.get_by_text("You said this answer was helpful.").is_visible()
    assert given.get_by_text("Your comment: “Clear and quick”").is_visible()
    assert not answer.get_by_label("Yes, helpful").is_visible(), "the form waits behind “Change your feedback”"

    answer.get_by_text("Change your feedback").click()
    assert answer.get_by_label("Yes, helpful").is_checked()
    assert answer.get_by_label("Tell us more (optional)").input_value() == "Clear and quick"
    answer.get_by_label("No, not helpful").check()
    answer.get_by_label("Tell us more (optional)").fill("It missed part-time staff")
    answer.get_by_role("button", name="Send feedback").click()
    answer.get_by_text("Thank you for your feedback.").wait_for()
    assert answer.get_by_text("You said this answer was helpful.").count() == 0, "what no longer holds goes"
    assert answer.get_by_label("No, not helpful").is_checked()
    feedback = Feedback.objects.get(user=staff)
    assert (feedback.rating, feedback.comment) == ("down", "It missed part-time staff")

    page.reload()
    given = page.locator(".humphrey-feedback-given")
    assert given.get_by_text("You said this answer was not helpful.").is_visible()
    assert given.get_by_text("Your comment: “It missed part-time staff”").is_visible()
    assert not page.console_errors


def test_a_long_feedback_comment_is_counted_near_the_limit_not_cut(site, page, staff):
    """The comment box cut at 2,000 characters without a word; now, on a new answer's form (made by the
    page) and on a reopened one's alike, it is counted once near the limit and kept whole."""
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page)
    for reopened in (False, True):
        if reopened:
            page.reload()
        answer = page.locator(".humphrey-answer[data-status='complete']")
        answer.wait_for()
        comment = answer.get_by_label("Tell us more (optional)")
        comment.fill("Short.")
        assert not answer.get_by_text("characters remaining").first.is_visible(), "no count far from the limit"
        comment.fill("x" * 2100)
        assert comment.input_value() == "x" * 2100
        expect(answer.get_by_text("You have 100 characters too many").first).to_be_visible()
        answer.get_by_label("No, not helpful").check()
        answer.get_by_role("button", name="Send feedback").click()
        answer.get_by_text("Keep your comment under 2,000 characters").wait_for()
    assert not Feedback.objects.exists()
    # The two refusals are the only errors: the server's 400 for each comment over the limit.
    assert (
        page.console_errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"] * 2
    )


def test_a_long_question_is_counted_and_kept_not_cut(site, page, staff):
    """A paste over the limit is kept whole; the count under the box says by how much it is over, and
    asking says to shorten it instead of sending it; a question within the limit is then asked."""
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    count = page.locator("#question-group .govuk-character-count__status")
    assert count.inner_text() == "You have 2,000 characters remaining", "the limit is shown before typing"

    box = page.get_by_label("Your question")
    box.fill("a" * 12_290)
    expect(count).to_have_text("You have 10,290 characters too many")
    assert "govuk-error-message" in count.get_attribute("class"), "in red, as an error"
    assert len(box.input_value()) == 12_290, "nothing cut"
    page.get_by_role("button", name="Ask").click()
    error = page.locator("#question-error")
    assert error.is_visible()
    assert page.locator("#question-error-text").inner_text() == "Your question must be 2,000 characters or less"
    assert "question-error" in box.get_attribute("aria-describedby").split()
    box.press("Enter")  # asking with Enter is refused the same way
    assert page.locator(".humphrey-question").count() == 0, "not sent"
    assert len(box.input_value()) == 12_290
    assert not Message.objects.exists()

    box.fill(QUESTION)
    page.get_by_role("button", name="Ask").click()
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    assert not error.is_visible()
    assert box.get_attribute("aria-describedby") == "question-info question-hint"
    expect(count).to_have_text("You have 2,000 characters remaining")  # the emptied box is counted again
    assert not page.console_errors


# For each claim-check mark: the boxes of its pieces (one per line it is on), of the last character
# before it (the end of its sentence) and of the first character after it (the start of the next).
MARKS = """() => [...document.querySelectorAll('.humphrey-answer .humphrey-check')].map((mark) => {
  const charBox = (node, last) => {
    while (node && !(node.textContent || '').trim()) node = last ? node.previousSibling : node.nextSibling;
    if (!node) return null;
    const walker = document.createTreeWalker(node.parentNode, NodeFilter.SHOW_TEXT);
    let text = null;
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      if (node.contains(t) && t.textContent.trim()) { text = t; if (!last) break; }
    }
    const chars = text.textContent;
    const at = last ? chars.trimEnd().length - 1 : chars.length - chars.trimStart().length;
    const range = document.createRange();
    range.setStart(text, at);
    range.setEnd(text, at + 1);
    return range.getBoundingClientRect().toJSON();
  };
  return {
    pieces: [...mark.getClientRects()].map((r) => r.toJSON()),
    before: charBox(mark.previousSibling, true),
    after: charBox(mark.nextSibling, false),
    body: mark.closest('.humphrey-answer__body').getBoundingClientRect().toJSON(),
  };
})"""


def same_line(a: dict, b: dict) -> bool:
    overlap = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return overlap > 0.5 * min(a["height"], b["height"])


def comes_after(first: dict, second: dict) -> bool:
    """``second`` is later in reading order: further along the same line, or on a later line."""
    if same_line(first, second):
        return second["left"] >= first["right"] - 1
    return second["top"] >= first["bottom"] - 4


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_claim_check_marks_each_start_right_after_their_sentence(doubtful_site, page, staff, viewport):
    """Two "source 1 may not support this" marks in a row: each starts on the line where its sentence
    ends, whole, right after it; then the next sentence follows. Never stacked at the start of a line
    before the sentence it is about."""
    if viewport:
        page.set_viewport_size(viewport)
    sign_in(page, doubtful_site.url, staff.email)
    page.goto(doubtful_site.url + "/")
    ask(page)
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    for when in ("streamed", "reopened"):
        texts = page.locator(".humphrey-check").all_inner_texts()
        assert [t.lower() for t in texts] == ["source 1 may not support this"] * 2, when
        for i, m in enumerate(page.evaluate(MARKS)):
            first, last = m["pieces"][0], m["pieces"][-1]
            assert len(m["pieces"]) == 1, f"{when}: mark {i + 1} is split over two lines"
            assert same_line(m["before"], first), f"{when}: mark {i + 1} does not start where its sentence ends"
            assert comes_after(m["before"], first), f"{when}: mark {i + 1} is not after its sentence"
            if m["after"] is not None:
                assert comes_after(last, m["after"]), f"{when}: mark {i + 1} is not before the next sentence"
            for piece in m["pieces"]:
                assert m["body"]["left"] - 1 <= piece["left"], f"{when}: mark {i + 1} runs off the answer"
                assert piece["right"] <= m["body"]["right"] + 1, f"{when}: mark {i + 1} runs off the answer"
        page.reload()
        page.locator(".humphrey-answer[data-status='complete']").wait_for()


@pytest.fixture
def many_sources_site(guidance, staff, openai_server):
    for i, (words, days) in enumerate([("carry over", 5), ("buy", 3), ("sell back", 2), ("take unpaid", 10)]):
        text = f"Annual leave: full-time staff may {words} up to {days} days of annual leave a year."
        add_document(guidance["hr"], [text], title=f"Leave rules {i + 1}")
    # A sentence none of its six sources supports: its mark names them all.
    server = chat_site(openai_server, reply="Staff may bring a dog to the office on Fridays [1][2][3][4][5][6].")
    yield server
    server.stop()


def test_a_mark_naming_many_sources_wraps_rather_than_run_off_a_phone(many_sources_site, page, staff):
    """Kept whole, "sources 1, 2, 3, 4, 5 and 6 may not support this" is wider than a 320px screen
    leaves: it wraps like words instead, and the page does not scroll sideways."""
    page.set_viewport_size({"width": 320, "height": 740})
    sign_in(page, many_sources_site.url, staff.email)
    page.goto(many_sources_site.url + "/")
    ask(page)
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    mark = page.locator(".humphrey-check")
    assert mark.inner_text().lower() == "sources 1, 2, 3, 4, 5 and 6 may not support this"
    body = page.locator(".humphrey-answer__body").bounding_box()
    for piece in page.evaluate(MARKS)[0]["pieces"]:
        assert piece["right"] <= body["x"] + body["width"] + 1, "the mark runs off the screen"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320


def test_the_current_conversation_is_marked_in_the_list(site, page, staff):
    """The conversation on screen stands out in "Your conversations" (bold, with a rule at its left),
    whether the page listed it or the script added it on the first question."""
    Conversation.objects.create(owner=staff, title="An earlier question")
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    style = "(a) => { const s = getComputedStyle(a); return [s.fontWeight, s.borderLeftWidth, s.textDecorationLine]; }"
    other = page.locator("#conversation-list a", has_text="An earlier question")
    assert other.evaluate(style) == ["400", "0px", "underline"]

    ask(page)
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    for when in ("added by the script", "listed by the page"):
        current = page.locator("#conversation-list a[aria-current='page']")
        assert current.count() == 1, when
        assert current.inner_text() == QUESTION, when
        assert current.evaluate(style) == ["700", "4px", "none"], when
        assert other.evaluate(style) == ["400", "0px", "underline"], when
        page.reload()
