"""A question holding personal data, asked on the chat page in a real browser: the new conversation's
heading, the tab's title and the conversation list show the title the server made without it, at
once, not only after a reload (tests/assistant/test_redaction.py: the same over the socket alone)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import Conversation

from .test_a11y_chat_browser import ask, open_chat, site  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADDRESS = "alex.brown@digital.cabinet-office.gov.uk"


def test_a_new_conversation_is_titled_without_the_questions_personal_data_as_it_starts(site, page, staff):  # noqa: F811
    open_chat(page, site, staff)
    ask(page, f"Can Alex ({ADDRESS}) carry over 8 days of annual leave?")
    page.locator(".humphrey-answer[data-status='complete']").wait_for()

    stored = Conversation.objects.get(owner=staff).title
    assert ADDRESS not in stored and "[email address]" in stored
    expect(page.locator("#chat-heading")).to_have_text(stored)
    assert page.title().startswith(stored + " – ")
    listed = page.locator("#conversation-list")
    expect(listed).to_contain_text(stored)
    for shown in (page.locator("#chat-heading").text_content(), page.title(), listed.text_content()):
        assert ADDRESS not in shown
