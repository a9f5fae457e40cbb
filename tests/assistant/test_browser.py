"""A real browser (Chromium via Playwright) against Daphne and the fake OpenAI server."""

from __future__ import annotations

import pytest

from assistant.models import Feedback, Message, Status
from tests.conftest import AsgiServer, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def chat_site(openai_server, **behaviour) -> AsgiServer:
    """Daphne serving the site, answering with the fake OpenAI server behaving as ``behaviour``."""
    openai_server.configure(scenario="ok", **behaviour)
    return AsgiServer(
        OPENAI_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY="test-key",
        HUMPHREY_CHAT_MODEL="fake-model",
        HUMPHREY_EMBEDDINGS_PROVIDER="fake",
        HUMPHREY_ANSWER_MIN_EVIDENCE="0.2",
        HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY="0.1",
    )


@pytest.fixture
def site(guidance, staff, openai_server):
    server = chat_site(
        openai_server,
        ttft_ms=200,
        tokens_per_second=10,  # about two seconds of streaming to watch
        reply="Full-time staff get **25 days** of annual leave a year [1]. "
        "It rises to 30 days after five years of service [1].",
    )
    yield server
    server.stop()


def test_sign_in_ask_watch_it_stream_open_a_citation_and_give_feedback(site, page, staff):
    """Sign in, ask, see the text arrive before the answer is done, get it announced briefly, open the
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
    assert answer.locator(".humphrey-answer__body strong").inner_text() == "25 days"
    # Told briefly that it is done, not read the whole answer through the live region (it is read from its heading).
    page.wait_for_function(
        "() => document.getElementById('chat-announcer').textContent.startsWith('Humphrey answered')"
    )
    assert page.locator("#chat-announcer").inner_text() == "Humphrey answered. 1 source."
    assert not page.get_by_role("button", name="Stop answering").is_visible()
    assert "/chat/c/" in page.url
    current = page.locator("#conversation-list a[aria-current='page']")
    assert current.inner_text().startswith("How many days of annual leave")

    # Copied, the answer keeps its sources, so that a pasted [1] still says where it came from.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    answer.get_by_role("button", name="Copy answer").click()
    answer.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("async () => await navigator.clipboard.readText()")
    # Its security marking first (the guidance is OFFICIAL), then the answer.
    assert copied.startswith("OFFICIAL\n\nFull-time staff get 25 days of annual leave a year [1].")
    assert "\n\nSources:\n1. Leave policy, Section 1" in copied
    assert f"{site.url}/curate/passage/" in copied and "?hl=" not in copied  # its address, not this page's marks

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


@pytest.fixture
def checking_site(guidance, staff, openai_server):
    server = chat_site(
        openai_server,
        reply="Full-time staff get 25 days of annual leave a year [1]. "
        "Travel claims must be made within 30 days with receipts [1].\n\n"
        "Overtime is paid at time and a half on Saturdays and bank holidays.",
    )
    yield server
    server.stop()


def test_doubtful_sentences_are_marked_and_the_citation_highlights_what_supports_it(checking_site, page, staff):
    """A sentence its source does not support and an uncited claim are marked beside them; opening
    the citation shows the passage with the sentence the answer drew on highlighted."""
    sign_in(page, checking_site.url, staff.email)
    page.goto(checking_site.url + "/")
    page.get_by_label("Your question").fill("How many days of annual leave do full-time staff get?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    marks = answer.locator(".humphrey-check")
    assert marks.count() == 2
    assert marks.nth(0).inner_text().lower() == "source 1 may not support this"
    assert marks.nth(1).inner_text().lower() == "no source given for this"
    assert marks.nth(0).is_visible()
    summary = "Humphrey checks each sentence against the source it cites: 2 sentences are marked."
    assert answer.locator(".humphrey-check-summary").inner_text().startswith(summary)

    page.reload()  # the stored answer shows the same marks, and says the same about them
    stored = page.locator(".humphrey-answer[data-status='complete']")
    stored.wait_for()
    assert stored.locator(".humphrey-check").count() == 2
    assert stored.locator(".humphrey-check-summary").inner_text().startswith(summary)

    with page.expect_navigation():
        stored.locator("a.humphrey-citation").first.click()
    assert "/passage/" in page.url and "hl=" in page.url
    used = page.locator("#passage .app-passage--used")
    assert used.count() >= 1 and used.first.is_visible()
    assert "25 days of annual leave" in used.all_inner_texts()[0]
    assert page.get_by_text("The sentences your answer drew on").is_visible()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
