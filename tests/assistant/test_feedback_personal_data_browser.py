"""Personal data in a feedback comment, with the page's script in a real browser: refused in place like
the form posted without it (tests/assistant/test_feedback_personal_data.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import Feedback

from .test_a11y_chat_browser import ask, open_chat, site  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMMENT = "My name is John Smith, NI number AB123456C, call 07911 123456"


def test_a_comment_with_personal_data_is_refused_at_the_box_and_kept_to_edit(site, page, staff):  # noqa: F811
    """The box says not to include personal data; a comment holding some gets GOV.UK's error at the box,
    naming what was found, read out with it and focused, the comment still there; nothing is stored.
    Edited, it is sent."""
    open_chat(page, site, staff)
    ask(page)
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    box = answer.get_by_label("Tell us more (optional)")
    hint = answer.locator(".govuk-hint", has_text="Do not include personal data")
    expect(hint).to_be_visible()
    assert hint.get_attribute("id") in box.get_attribute("aria-describedby").split()

    answer.get_by_label("No, not helpful").check()
    box.fill(COMMENT)
    answer.get_by_role("button", name="Send feedback").click()
    error = answer.locator(".js-feedback-error[data-field='comment']")
    expect(error).to_be_visible()
    assert " ".join(error.text_content().split()) == (
        "Error: Remove the personal data from your comment: it seems to include a National Insurance number "
        "and a phone number"
    )
    assert box.get_attribute("aria-describedby").split()[:2] == [error.get_attribute("id"), hint.get_attribute("id")]
    expect(box).to_be_focused()
    expect(box).to_have_value(COMMENT)
    assert not Feedback.objects.exists()

    box.fill("The figure for part-time staff is missing")
    answer.get_by_role("button", name="Send feedback").click()
    answer.get_by_text("Thank you for your feedback.").wait_for()
    assert not error.is_visible()
    assert Feedback.objects.get().comment == "The figure for part-time staff is missing"
