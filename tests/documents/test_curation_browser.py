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


def test_add_a_folder_source_and_see_its_status_page(page, make_collection, curator, tmp_path):
    """The "Add a source" form, in a real browser under the page's CSP: a folder source is added and
    its status page says it will be read (nothing is read: no worker runs here)."""
    from tests.conftest import AsgiServer

    folder = tmp_path / "shared" / "policies"
    folder.mkdir(parents=True)
    collection = make_collection("hr")
    server = AsgiServer(HUMPHREY_SOURCE_ALLOWED_ROOTS=str(tmp_path / "shared"))
    try:
        sign_in(page, server.url, curator.email)
        page.goto(f"{server.url}/curate/c/{collection.slug}/")
        page.get_by_role("link", name="Add a source").click()
        page.get_by_label("Folder").check()
        page.get_by_label("Where is it?").fill(str(folder))
        page.get_by_role("button", name="Add source").click()
        page.get_by_text("Added: it will be read in a moment").wait_for()
        assert page.get_by_role("heading", level=1).inner_text().startswith("Folder:")
        assert str(folder.resolve()) in page.locator("#source-summary").inner_text()
        assert page.get_by_role("button", name="Sync now").is_visible()
        assert page.console_errors == []
    finally:
        server.stop()


def test_try_a_question_shows_chats_answer_under_the_pages_policy(page, make_collection, curator, fake_embedder):
    """The "Try a question" page in a real browser: the curator asks, sees what chat would quote with
    its citation link, opens "Why" for the evidence, and the page keeps its CSP with no console errors."""
    from django.contrib.auth.models import Group

    from tests.conftest import AsgiServer

    collection = make_collection("hr", groups=["HR"])
    curator.groups.add(Group.objects.get(name="HR"))
    version = services.document_upload(
        collection=collection,
        filename="leave.md",
        data=b"# Leave\n\n## Carry over\n\nYou may carry over up to 5 days of unused leave into the next leave year.\n",
        user=curator,
        enqueue=False,
    )
    services.version_ingest(version.pk)  # with the fake embedder, as the server below embeds questions
    server = AsgiServer(HUMPHREY_EMBEDDINGS_PROVIDER="fake")
    try:
        sign_in(page, server.url, curator.email)
        page.goto(f"{server.url}/curate/c/{collection.slug}/")
        page.get_by_label("See what chat would answer").fill("How many days of unused leave can I carry over?")
        page.get_by_role("button", name="Try it").click()
        answer = page.locator(".humphrey-try-answer")
        answer.wait_for()
        assert "You may carry over up to 5 days of unused leave" in answer.inner_text()
        assert "/curate/passage/" in answer.get_by_role("link", name="1").get_attribute("href")
        page.get_by_text("Why it answers").click()
        assert page.get_by_text("Closest sentence's likeness").is_visible()
        assert page.console_errors == []
    finally:
        server.stop()
