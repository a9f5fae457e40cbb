"""A real browser (Chromium via Playwright) at a phone's width: the audit events table scrolls
sideways inside its own box, and the page itself does not scroll sideways."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from tests.conftest import give_reason, sign_in

pytestmark = [pytest.mark.browser]

PHONE = {"width": 390, "height": 844}


def widths(page, selector: str = "html") -> dict[str, float]:
    return page.eval_on_selector(selector, "e => ({scroll: e.scrollWidth, client: e.clientWidth})")


def test_on_a_phone_the_events_table_scrolls_in_its_own_box(asgi_server, page, make_user, record_answer):
    casey = make_user("civil.servant.with.a.long.address@example.gov.uk")
    for n in range(3):
        record_answer(
            casey,
            question=f"How many days of annual leave do I get when I have worked here for {n + 5} years?",
            conversation_id=40 + n,
        )
    make_user("aditya@example.gov.uk", roles=[Role.AUDITOR])
    page.set_viewport_size(PHONE)
    sign_in(page, asgi_server.url, "aditya@example.gov.uk")
    page.goto(asgi_server.url + "/audit/")
    give_reason(page)
    assert page.locator(".audit-results tbody tr").count() == 3

    page_width = widths(page)
    assert page_width["scroll"] <= page_width["client"] <= PHONE["width"], page_width  # it was 837 px
    box = widths(page, ".audit-table-scroll")
    assert box["scroll"] > box["client"], "the table is wider than a phone, so its box scrolls"

    region = page.get_by_role("region", name="3 events")
    assert region.count() == 1
    region.focus()  # reachable by keyboard, to scroll it with the arrow keys
    assert page.evaluate("document.activeElement.classList.contains('audit-table-scroll')")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    for _ in range(20):  # wait_for_function evaluates a string, which the site's CSP refuses
        page.keyboard.press("ArrowRight")
        if page.eval_on_selector(".audit-table-scroll", "e => e.scrollLeft") > 0:
            break
        page.wait_for_timeout(50)
    assert page.eval_on_selector(".audit-table-scroll", "e => e.scrollLeft") > 0
    assert widths(page)["scroll"] <= PHONE["width"]

    # A search that matches nothing, and one with a filter that is wrong, fit the phone too.
    for query in ("?q=pension", "?date_from=2026-13-45"):
        page.goto(asgi_server.url + "/audit/" + query)
        assert widths(page)["scroll"] <= PHONE["width"], query
    assert page.locator(".govuk-error-summary").is_visible()
    # The one console line: the browser noting the page's status, 400 for a filter that is wrong.
    assert [e for e in page.console_errors if "status of 400" not in e] == []
