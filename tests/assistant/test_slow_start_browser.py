"""A real browser: a model slow to start (no first word for many seconds) is said to be slow, with
what happens next, instead of "Writing an answer…" standing alone until the first-token timeout."""

from __future__ import annotations

import pytest

from tests.conftest import sign_in

from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(guidance, staff, openai_server):
    server = chat_site(openai_server, ttft_ms=15_000)
    yield server
    server.stop()


def test_a_slow_start_is_said_to_be_slow(site, page, staff):
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    page.get_by_label("Your question").fill("How many days of annual leave do full-time staff get?")
    page.get_by_role("button", name="Ask", exact=True).click()
    progress = page.locator(".humphrey-answer__progress")
    page.get_by_text("Writing an answer…", exact=True).wait_for()
    page.get_by_text("This is taking longer than usual", exact=False).wait_for(timeout=12_000)
    assert "Humphrey will quote the guidance instead" in progress.inner_text()
    page.get_by_role("button", name="Stop answering").click()
    page.locator(".humphrey-answer[data-status='stopped']").wait_for()
    assert progress.count() == 0
