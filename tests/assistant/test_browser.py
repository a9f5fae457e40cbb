"""A real browser (Chromium via Playwright) against Daphne and the fake OpenAI server."""

from __future__ import annotations

import pytest

from assistant.models import Feedback, Message, Status
from tests.conftest import AsgiServer, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(guidance, staff, openai_server):
    openai_server.configure(
        scenario="ok",
        ttft_ms=200,
        tokens_per_second=10,  # about two seconds of streaming to watch
        reply="Full-time staff get **25 days** of annual leave a year [1]. "
        "It rises to 30 days after five years of service [1].",
    )
    server = AsgiServer(
        OPENAI_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY="test-key",
        HUMPHREY_CHAT_MODEL="fake-model",
        HUMPHREY_EMBEDDINGS_PROVIDER="fake",
        HUMPHREY_ANSWER_MIN_EVIDENCE="0.2",
        HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY="0.1",
    )
    yield server
    server.stop()


def test_sign_in_ask_watch_it_stream_open_a_citation_and_give_feedback(site, page, staff):
    """Sign in, ask, see the text arrive before the answer is done, get it announced once, open the
    cited passage, come back, and rate the answer with a comment."""
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    page.get_by_label("Your question").fill("How many days of annual leave do full-time staff get?")
    page.get_by_role("button", name="Ask").click()

    streaming = page.locator(".humphrey-streaming")
    streaming.wait_for()
    page.wait_for_function(
        "() => { const s = document.querySelector('.humphrey-streaming'); return s && s.textContent.length > 0; }"
    )
    assert page.locator(".humphrey-answer[data-status='complete']").count() == 0  # still streaming
    assert page.get_by_role("button", name="Stop answering").is_visible()

    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    assert answer.locator("strong").inner_text() == "25 days"
    page.wait_for_function("() => document.getElementById('chat-announcer').textContent.startsWith('Answer ready')")
    assert "25 days" in page.locator("#chat-announcer").inner_text()
    assert not page.get_by_role("button", name="Stop answering").is_visible()
    assert "/chat/c/" in page.url
    current = page.locator("#conversation-list a[aria-current='page']")
    assert current.inner_text().startswith("How many days of annual leave")

    with page.expect_navigation():
        answer.locator("a.humphrey-citation").first.click()
    assert "/passage/" in page.url
    assert page.get_by_text("Cited passage").is_visible()
    assert "25 days of annual leave" in page.content()

    page.go_back()
    stored = page.locator(".humphrey-answer[data-status='complete']")
    stored.wait_for()
    stored.get_by_label("No, not helpful").check()
    stored.get_by_label("Tell us more (optional)").fill("I work part-time")
    stored.get_by_role("button", name="Send feedback").click()
    page.get_by_text("Thank you for your feedback.").wait_for()

    answer_row = Message.objects.get(role="assistant")
    assert answer_row.status == Status.COMPLETE
    feedback = Feedback.objects.get(message=answer_row)
    assert (feedback.rating, feedback.comment) == ("down", "I work part-time")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
