"""Requests a form cannot take, from the side of the person who sent them: too many files, a page
opened before they signed in again, a form's address opened as a page after signing in. Each gets a
GOV.UK page that says what happened and leads back, never Django's bare one; nothing is stored."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from documents.models import Document

pytestmark = pytest.mark.django_db


def test_too_many_files_at_once_are_refused_with_the_limit(client, make_collection, curator, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    collection = make_collection()
    client.force_login(curator)
    files = [SimpleUploadedFile(f"note{n}.md", b"# Note\n\nText.\n") for n in range(4)]
    response = client.post(f"/curate/c/{collection.slug}/upload/", {"files": files})
    page = response.content.decode()
    assert response.status_code == 400
    assert "more than 3 files were chosen at once" in page and "govuk-heading-l" in page
    assert not Document.objects.exists()


def test_a_form_from_a_page_opened_before_signing_in_again_says_so(make_collection, curator):
    collection = make_collection()
    client = Client(enforce_csrf_checks=True)
    client.force_login(curator)
    response = client.post(f"/curate/c/{collection.slug}/upload/", {"files": []})
    page = response.content.decode()
    assert response.status_code == 403 and "This page was out of date" in page
    assert f'href="/curate/c/{collection.slug}/"' in page


def test_a_forms_address_opened_as_a_page_leads_back_to_its_page(client, make_collection, curator):
    """Where a person lands after signing in again with a form half-sent: a page, not a blank 405."""
    collection = make_collection()
    client.force_login(curator)
    response = client.get(f"/curate/c/{collection.slug}/upload/")
    page = response.content.decode()
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "This address is for sending a form" in page
    assert f'href="/curate/c/{collection.slug}/"' in page
