"""A real browser at a phone's width: a conversation titled with a long unbroken string (a pasted
intranet address, a reference number) wraps in the conversation list, the chat's heading and the
history table, instead of widening the page (it made the page 2,084 px wide on a 375 px phone)."""

from __future__ import annotations

import pytest

from assistant.models import Conversation
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser]

PHONE = {"width": 375, "height": 740}
LONG = "https://intranet.example.gov.uk/policies/hr/" + "annual-leave-carry-over-" * 8 + "FOI-2026-00017"


def page_width(page) -> dict[str, float]:
    return page.eval_on_selector("html", "e => ({scroll: e.scrollWidth, client: e.clientWidth})")


def test_a_long_unbroken_title_does_not_widen_the_page(asgi_server, page, civil_servant):
    conversation = Conversation.objects.create(owner=civil_servant, title=LONG[:200])
    page.set_viewport_size(PHONE)
    sign_in(page, asgi_server.url, civil_servant.email)
    for path in (f"/chat/c/{conversation.pk}/", "/chat/history/", "/"):
        page.goto(asgi_server.url + path)
        width = page_width(page)
        assert width["scroll"] <= width["client"] <= PHONE["width"], (path, width)
