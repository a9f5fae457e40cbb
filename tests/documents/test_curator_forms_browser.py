"""Edit collection in a real browser, under the site's strict Content Security Policy: the questions
about lowering the marking appear only while a lower marking is chosen (GOV.UK conditional reveal)."""

from __future__ import annotations

import pytest

from documents import services
from documents.models import Marking
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_downgrade_questions_appear_only_when_lowering(asgi_server, page, make_collection, curator):
    collection = make_collection("private", name="Curator Test Private")
    services.collection_update(collection=collection, user=curator, marking=Marking.OFFICIAL_SENSITIVE)
    sign_in(page, asgi_server.url, curator.email)
    page.goto(f"{asgi_server.url}/curate/c/private/edit/")
    reason = page.get_by_label("Why is the marking being lowered?")
    official = page.get_by_role("radio", name="OFFICIAL", exact=True)
    assert official.get_attribute("aria-expanded") == "false"
    assert not reason.is_visible()

    official.check()
    assert reason.is_visible() and official.get_attribute("aria-expanded") == "true"
    page.get_by_role("radio", name="OFFICIAL-SENSITIVE").check()
    assert not reason.is_visible()

    # Sent back with errors, the lower marking is still chosen and its questions are shown.
    official.check()
    page.get_by_role("button", name="Save changes").click()
    page.locator(".govuk-error-summary").wait_for()
    assert reason.is_visible()
    assert page.locator("#downgrade-conditional .govuk-error-message").count() == 2
    # The form sent back is a 400 (as every form's is), which the browser notes; nothing else (no CSP
    # violation).
    assert page.console_errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]


def test_no_downgrade_questions_at_the_lowest_marking(asgi_server, page, make_collection, curator):
    make_collection("open", name="Curator Test Open")
    sign_in(page, asgi_server.url, curator.email)
    page.goto(f"{asgi_server.url}/curate/c/open/edit/")
    page.get_by_role("heading", name="Edit collection").wait_for()
    assert page.get_by_label("Why is the marking being lowered?").count() == 0
    page.get_by_role("radio", name="OFFICIAL-SENSITIVE").check()
    assert page.get_by_label("Why is the marking being lowered?").count() == 0
    assert page.console_errors == []
