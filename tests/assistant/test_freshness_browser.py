"""A real browser (Chromium via Playwright): an overdue source says so beside its citation as the
answer arrives and on reload; once the document has a new version the answer says its guidance has
changed since, and the link shows what changed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from documents.lifecycle import document_expiry_refresh
from documents.models import Document
from tests.conftest import sign_in
from tests.versions import publish_version

from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LEAVE_V2 = (
    "Annual leave: full-time staff get 27 days of annual leave a year, rising to 32 days after five years "
    "of service. Part-time staff get annual leave pro rata."
)


@pytest.fixture
def site(guidance, staff, openai_server):
    server = chat_site(openai_server, reply="Full-time staff get **25 days** of annual leave a year [1].")
    yield server
    server.stop()


def test_an_overdue_source_is_marked_live_and_on_reload_and_a_new_version_links_to_what_changed(site, page, staff):
    review_by = timezone.localdate() - dt.timedelta(days=20)
    Document.objects.filter(title="Leave policy").update(review_by=review_by, review_by_source="curator")
    leave = Document.objects.select_related("collection", "current_version").get(title="Leave policy")
    document_expiry_refresh(leave)
    note = f"due for review since {review_by.day} {review_by.strftime('%B %Y')}"

    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    page.get_by_label("Your question").fill("How many days of annual leave do full-time staff get?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    source = answer.locator(".humphrey-sources li[data-review-status='overdue']")
    assert source.locator(".humphrey-source__review").inner_text() == note  # from the frame, live
    live = source.inner_text()

    page.reload()
    stored = page.locator(".humphrey-answer[data-status='complete']")
    stored.wait_for()
    # Where the passage is, worded the same live (chat.js) and reopened (the template).
    assert " ".join(stored.locator(".humphrey-sources li[data-review-status='overdue']").inner_text().split()) == (
        " ".join(live.split())
    )
    assert (
        stored.locator(".humphrey-sources li[data-review-status='overdue'] .humphrey-source__review").inner_text()
        == note
    )
    assert stored.locator(".humphrey-answer__changed").count() == 0

    publish_version(leave, [LEAVE_V2], headings=["Leave policy > Section 1"])
    page.reload()
    stored.wait_for()
    notice = stored.locator(".humphrey-answer__changed")
    assert "The guidance quoted here has changed since" in notice.inner_text()
    assert stored.locator(".humphrey-sources li[data-superseded='true']").count() == 1
    with page.expect_navigation():
        notice.get_by_role("link", name="see what changed in Leave policy").click()
    assert page.get_by_role("heading", name="Leave policy", exact=True).is_visible()
    assert "25" in page.locator(".app-changes del").first.inner_text()
    assert "27" in page.locator(".app-changes ins").first.inner_text()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
