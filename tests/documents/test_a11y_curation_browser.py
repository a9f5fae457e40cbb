"""The curation pages in a real browser, for the accessibility review's H6, M4 and M5: the collection
page follows ingestion without reloading itself and says how it is going in a live region; wide tables
scroll in their own box at 320px (400% zoom) instead of the whole page; table scroll boxes show GOV.UK's
yellow-and-black focus style."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from documents import services
from documents.models import GlossaryTerm
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 320, "height": 640}  # the width WCAG's reflow criterion (1.4.10) asks pages to work at


def test_ingestion_finishing_is_said_and_the_page_does_not_reload(asgi_server, page, make_collection, curator):
    """The page reloaded itself when ingestion finished, wiping what the curator was typing and sending
    focus to the top; and its live region was on a line whose words never changed."""
    collection = make_collection("hr")
    version = services.document_upload(
        collection=collection, filename="leave.md", data=b"# Leave\n\nCarry over 5 days.\n", user=curator, enqueue=False
    )
    sign_in(page, asgi_server.url, curator.email)
    page.goto(f"{asgi_server.url}/curate/c/{collection.slug}/")
    hint = page.locator("#refresh-hint")
    expect(hint).to_have_attribute("role", "status")  # a live region before its words change
    page.evaluate("() => { window.notReloaded = true; }")
    question = page.get_by_label("See what chat would answer you from this collection")
    question.click()
    question.type("Where can I park my car")

    services.version_ingest(version.pk)  # what the worker would do
    page.locator(f"[data-version-status='{version.pk}']", has_text="Ready").wait_for(timeout=20_000)
    expect(hint).to_have_text("Ingestion finished: 1 ready. Refresh the page to see the current versions.")
    page.wait_for_timeout(3_000)  # past the old reload, which came on the poll after the last change
    assert page.evaluate("() => window.notReloaded === true"), "the page reloaded itself"
    assert question.input_value() == "Where can I park my car"
    expect(question).to_be_focused()
    assert hint.get_by_role("link", name="Refresh the page to see the current versions").get_attribute("href") == (
        f"/curate/c/{collection.slug}/"
    )
    assert page.console_errors == []


def test_a_failed_ingestion_shows_its_error_in_place(asgi_server, page, make_collection, curator):
    collection = make_collection("hr")
    version = services.document_upload(
        collection=collection, filename="leave.md", data=b"# Leave\n\nCarry over 5 days.\n", user=curator, enqueue=False
    )
    sign_in(page, asgi_server.url, curator.email)
    page.goto(f"{asgi_server.url}/curate/c/{collection.slug}/")
    type(version).objects.filter(pk=version.pk).update(status="failed", error="The file could not be read.")
    page.locator(f"[data-version-error='{version.pk}']", has_text="The file could not be read.").wait_for()
    expect(page.locator("#refresh-hint")).to_have_text(
        "Ingestion finished: 0 ready, 1 failed. Refresh the page to see the current versions."
    )


def no_sideways_scroll(page) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], "the page scrolls sideways"


def scroll_box(page, table_selector: str):
    box = page.locator(table_selector).locator("xpath=ancestor::div[contains(@class, 'app-table-scroll')][1]")
    expect(box).to_have_attribute("tabindex", "0")
    expect(box).to_have_attribute("role", "region")
    assert box.evaluate("(b) => b.scrollWidth > b.clientWidth"), "the table is wider than its box: it scrolls there"
    return box


def test_wide_curation_tables_scroll_in_their_own_box_at_320px(asgi_server, page, make_collection, curator):
    collection = make_collection("hr-and-people-guidance", name="Human resources and people guidance for all staff")
    document = factories.add_document(collection, ["Annual leave is 25 days."], title="Annual leave and other absence")
    GlossaryTerm.objects.create(
        collection=collection,
        phrase="holiday entitlement allowance",
        key="holiday entitlement allowance",
        means="annual leave",
    )
    page.set_viewport_size(PHONE)
    sign_in(page, asgi_server.url, curator.email)

    page.goto(f"{asgi_server.url}/curate/")
    no_sideways_scroll(page)
    expect(scroll_box(page, "table:has(#collections-caption)")).to_have_accessible_name("Your collections")

    page.goto(f"{asgi_server.url}/curate/documents/{document.pk}/")
    no_sideways_scroll(page)
    expect(scroll_box(page, "table:near(#versions-heading)")).to_have_accessible_name("Versions")

    page.goto(f"{asgi_server.url}/curate/c/{collection.slug}/glossary/")
    no_sideways_scroll(page)
    box = page.locator("#glossary-usage").locator("xpath=ancestor::div[contains(@class, 'app-table-scroll')][1]")
    expect(box).to_have_attribute("tabindex", "0")
    expect(box).to_have_accessible_name("Answers that applied each saved entry in the last 90 days")


@pytest.mark.parametrize("box_class", ["audit-table-scroll", "app-table-scroll"])
def test_a_table_scroll_box_has_gov_uk_focus_style(asgi_server, page, curator, box_class):
    """The audit box had a yellow outline alone (about 1.4:1 on white), the insights box the browser's
    thin ring: both now have GOV.UK's yellow with black."""
    sign_in(page, asgi_server.url, curator.email)
    page.goto(f"{asgi_server.url}/curate/")
    page.evaluate(
        f"""() => {{ const box = document.createElement('div'); box.className = '{box_class}'; box.tabIndex = 0;
        box.id = 'probe'; box.textContent = 'A table'; document.querySelector('main').appendChild(box); }}"""
    )
    page.focus("#probe")
    shadow = page.evaluate("() => getComputedStyle(document.getElementById('probe')).boxShadow")
    assert "rgb(255, 221, 0)" in shadow and "rgb(11, 12, 12)" in shadow, shadow
