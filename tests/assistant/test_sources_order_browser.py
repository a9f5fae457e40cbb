"""A real browser: an answer that cites [2] before [1] lists its sources by number as it finishes, as
the same conversation reopened lists them (the live list followed the order of citing: 3, 1)."""

from __future__ import annotations

import pytest

from tests.conftest import sign_in

from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(guidance, staff, openai_server):
    server = chat_site(
        openai_server,
        reply="Claim travel expenses within 30 days of the journey [2]. Full-time staff get 25 days of leave [1].",
    )
    yield server
    server.stop()


def numbers(page) -> list[str]:
    return page.locator(".humphrey-answer .humphrey-sources li").evaluate_all("items => items.map(i => i.value)")


def test_sources_are_listed_by_number_live_and_reopened(site, page, staff):
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    page.get_by_label("Your question").fill("How many days of annual leave do I get, and when must I claim travel?")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    live = numbers(page)
    assert live == sorted(live, key=int) and len(live) == 2, live
    page.reload()
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    assert numbers(page) == live
