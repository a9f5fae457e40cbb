"""The collection page in a real browser: status tags follow ingestion without a manual refresh, and
the page runs under the strict Content Security Policy with no console errors."""

from __future__ import annotations

import pytest

from documents import services
from documents.models import DocumentVersion
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_status_updates_while_ingesting(asgi_server, page, make_collection, curator):
    """A queued version shows "Queued"; when the worker finishes it, the page shows "Ready" by itself."""
    collection = make_collection("hr")
    version = services.document_upload(
        collection=collection,
        filename="leave.md",
        data=b"# Leave\n\nYou may carry over up to 5 days.\n",
        user=curator,
        enqueue=False,
    )
    sign_in(page, asgi_server.url, curator.email)
    page.goto(f"{asgi_server.url}/curate/c/{collection.slug}/")
    tag = page.locator(f"[data-version-status='{version.pk}']")
    assert tag.inner_text().strip() == "Queued"
    assert page.get_by_role("link", name="Refresh to see progress").is_visible()  # the no-JS way

    services.version_ingest(version.pk)  # what the worker would do
    assert DocumentVersion.objects.get(pk=version.pk).status == "ready"
    page.locator(f"[data-version-status='{version.pk}']", has_text="Ready").wait_for(timeout=20_000)
    assert "govuk-tag--green" in page.locator(f"[data-version-status='{version.pk}']").get_attribute("class")
    assert page.console_errors == []
