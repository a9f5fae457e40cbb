"""A real browser (Chromium via Playwright): on a phone the chat page puts the question box and the
answers first and the list of conversations after them; on a desktop the list stays in the left quarter
beside the chat."""

from __future__ import annotations

import pytest

from assistant.models import Conversation
from tests.conftest import sign_in

from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def site(guidance, staff, openai_server):
    for i in range(8):  # a list long enough to push the question box down a phone's screen if it came first
        Conversation.objects.create(owner=staff, title=f"Earlier question about annual leave number {i + 1}")
    server = chat_site(openai_server, reply="Full-time staff get **25 days** of annual leave a year [1].")
    yield server
    server.stop()


def box(locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not displayed"
    return found


def test_on_a_phone_the_question_box_comes_before_the_conversations(site, page, staff):
    page.set_viewport_size(PHONE)
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    question = page.locator("textarea[name=question]")
    conversations = page.get_by_role("heading", name="Your conversations")

    assert box(question)["y"] + box(question)["height"] <= box(conversations)["y"]
    assert box(page.get_by_role("heading", level=1))["y"] < box(question)["y"]
    assert page.locator("#conversation-list li").count() == 8
    assert not page.locator("#chat-shortcuts").is_visible(), "no conversation yet: nothing to leave"

    # chat.js still adds the new conversation, current, to the top of the list (now below the form).
    question.fill("How many days of annual leave do full-time staff get?")
    page.get_by_role("button", name="Ask").click()
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    newest = page.locator("#conversation-list li").first.locator("a[aria-current='page']")
    assert newest.inner_text().startswith("How many days of annual leave")
    asked = "How many days of annual leave do full-time staff get?"
    assert page.get_by_role("heading", level=1).inner_text() == asked, "the heading names the new conversation"
    assert page.title().startswith(asked + " – ")
    assert box(question)["y"] < box(conversations)["y"]

    # "New conversation" is also right under the heading, not only past the whole chat.
    shortcut = page.locator("#chat-shortcuts").get_by_role("link", name="New conversation")
    assert box(shortcut)["y"] < box(page.locator(".humphrey-answer").first)["y"]
    page.reload()
    assert box(shortcut)["y"] < box(page.locator(".humphrey-answer").first)["y"]
    shortcut.click()
    page.wait_for_url(lambda url: "/chat/c/" not in url)
    assert page.get_by_role("heading", level=1).inner_text() == "Ask a question"
    assert not page.locator("#chat-shortcuts").is_visible(), "a new chat has nothing to leave"
    assert not page.console_errors


def test_on_a_desktop_the_conversations_sit_left_of_the_chat(site, page, staff):
    page.set_viewport_size(DESKTOP)
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    nav = box(page.get_by_role("navigation", name="Your conversations"))
    chat = box(page.locator("#chat"))
    heading = box(page.get_by_role("heading", level=1))

    assert nav["x"] + nav["width"] <= chat["x"]  # left of the chat, not above or below it
    assert abs(nav["y"] - heading["y"]) < 10  # the two columns start at the same height
    assert nav["width"] < chat["width"] / 2  # a quarter beside three quarters
    assert box(page.locator("textarea[name=question]"))["x"] >= chat["x"]

    # The links a phone repeats under a conversation's heading are only in the list here.
    page.goto(site.url + f"/chat/c/{Conversation.objects.filter(owner=staff).first().pk}/")
    assert page.locator("#chat-shortcuts a").count() == 2  # in the page, not shown
    assert not page.locator("#chat-shortcuts").is_visible()
    assert page.get_by_role("link", name="New conversation").count() == 1
    assert (
        page.get_by_role("navigation", name="Your conversations")
        .get_by_role("link", name="New conversation")
        .is_visible()
    )


def test_on_a_phone_the_service_name_lines_up_with_the_menu_button(site, page, staff):
    """With no crown above it, the service name sat against the header's top edge, higher than "Menu"."""
    page.set_viewport_size(PHONE)
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    name = box(page.locator(".govuk-header__service-name"))
    menu = box(page.get_by_role("button", name="Menu"))
    assert name["y"] >= 8, "room above it"
    assert abs((name["y"] + name["height"] / 2) - (menu["y"] + menu["height"] / 2)) <= 4
