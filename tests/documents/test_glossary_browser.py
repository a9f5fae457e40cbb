"""The glossary page in a real browser, under the site's Content Security Policy."""

from __future__ import annotations

import pytest

from documents.models import GlossaryTerm
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_curator_keeps_a_glossary_entry(asgi_server, page, make_collection, curator):
    """From the collection page the curator follows "Glossary", writes an entry, saves it, is told it
    was saved, and finds it kept on the page."""
    collection = make_collection("hr")
    factories.add_document(collection, ["You may carry over up to 5 days of unused annual leave."])
    sign_in(page, asgi_server.url, curator.email)
    page.goto(f"{asgi_server.url}/curate/c/{collection.slug}/")
    page.get_by_role("link", name="Glossary").click()
    page.wait_for_url(f"{asgi_server.url}/curate/c/{collection.slug}/glossary/")
    assert page.get_by_role("heading", level=1).inner_text() == "Glossary"

    page.get_by_label("Entries").fill("holiday = annual leave")
    page.get_by_role("button", name="Save glossary").click()
    page.get_by_text("Glossary saved: 1 added.").wait_for()
    assert page.get_by_label("Entries").input_value() == "holiday = annual leave"
    assert page.locator(".govuk-warning-text").count() == 0  # the guidance holds "annual leave"
    assert list(GlossaryTerm.objects.filter(collection=collection).values_list("phrase", "means")) == [
        ("holiday", "annual leave")
    ]
    assert page.console_errors == []
