"""The accessibility review's form findings on the curation and insights pages (M1, M2), through Django's
test client: every inline error has an id its field (or fieldset) names in ``aria-describedby``, the
field has GOV.UK's error style, the title starts "Error: ", and errors that used to arrive as a notice
after a redirect (an upload with no file, a passage switched off without a reason) are form errors."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
from tests.conftest import signed_in
from tests.documents.files import upload_and_ingest

pytestmark = pytest.mark.django_db

LEAVE = b"# Leave\n\nYou may carry over up to 5 days of unused leave into the next leave year.\n"


def element(html: str, element_id: str) -> str:
    """The opening tag of the element with ``element_id``."""
    at = html.index(f'id="{element_id}"')
    return html[html.rindex("<", 0, at) : html.index(">", at) + 1]


def attribute(tag: str, name: str) -> str:
    found = re.search(rf'\s{name}="([^"]*)"', tag)
    return found.group(1) if found else ""


def described_error(html: str, field_id: str, error_id: str) -> str:
    """The text of the error ``error_id``, asserting that the field ``field_id`` is described by it."""
    field = element(html, field_id)
    assert error_id in attribute(field, "aria-describedby").split(), field
    at = html.index(f'id="{error_id}"')
    start = html.rindex("<p", 0, at)
    message = html[start : html.index("</p>", at)]
    assert 'class="govuk-error-message"' in message
    return " ".join(re.sub(r"<[^>]+>", " ", message[message.index(">") + 1 :]).split())


def title(html: str) -> str:
    return " ".join(re.search(r"<title>(.*?)</title>", html, re.S).group(1).split())


def summary_links(html: str) -> dict[str, str]:
    found = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S)
    if not found:
        return {}
    return {
        " ".join(t.split()): href for href, t in re.findall(r'<li><a href="([^"]*)">(.*?)</a></li>', found.group(0))
    }


@pytest.fixture
def collection(make_collection):
    return make_collection("hr", name="HR guidance")


# --- M2: "Upload" with no file said "Success" -----------------------------------------------------------


def test_upload_with_no_file_is_an_error_at_the_files_field_not_a_success(client, curator, collection):
    signed_in(client, curator)
    page = client.post(f"/curate/c/{collection.slug}/upload/", {}, follow=True).content.decode()
    assert "Success" not in page and "queued for ingestion" not in page
    assert summary_links(page) == {"Select one or more files to upload": "#id_files"}
    assert described_error(page, "id_files", "files-error") == "Error: Select one or more files to upload"
    assert "govuk-file-upload--error" in element(page, "id_files")
    assert title(page).startswith("Error: ")


def test_a_refused_file_marks_the_file_input_as_in_error(client, curator, collection, settings):
    settings.HUMPHREY_MAX_UPLOAD_MB = 0
    signed_in(client, curator)
    upload = SimpleUploadedFile("huge.txt", b"words")
    page = client.post(f"/curate/c/{collection.slug}/upload/", {"files": [upload]}, follow=True).content.decode()
    assert "govuk-file-upload--error" in element(page, "id_files")


# --- M2: the passage "stop" form's error was an unheard banner after a redirect -------------------------


def test_stopping_a_passage_without_a_reason_is_a_form_error_at_the_reason(client, curator, collection):
    document = factories.add_document(collection, ["Mileage is paid at 40p a mile."], title="Travel policy")
    chunk = document.current_version.chunks.get()
    signed_in(client, curator)
    response = client.post(f"/curate/chunks/{chunk.pk}/exclusion/", {"action": "exclude", "reason": "  "})
    assert response.status_code == 400, "the page again, not a redirect to a notice"
    page = response.content.decode()
    said = "Say why this passage should no longer be searched."
    assert summary_links(page) == {said: "#exclusion-reason"}
    assert described_error(page, "exclusion-reason", "exclusion-reason-error") == f"Error: {said}"
    assert "govuk-textarea--error" in element(page, "exclusion-reason")
    assert re.search(
        r'<details class="govuk-details" id="stop-searching" open>\s*<summary[^>]*><span[^>]*>Stop searching', page
    ), "the form is shown open"
    assert "govuk-notification-banner" not in page
    assert title(page).startswith("Error: ")
    chunk.refresh_from_db()
    assert chunk.excluded_at is None


def test_a_reason_given_still_switches_the_passage_off(client, curator, collection):
    document = factories.add_document(collection, ["Mileage is paid at 40p a mile."], title="Travel policy")
    chunk = document.current_version.chunks.get()
    signed_in(client, curator)
    response = client.post(f"/curate/chunks/{chunk.pk}/exclusion/", {"action": "exclude", "reason": "Now 45p."})
    assert response.status_code == 302
    chunk.refresh_from_db()
    assert chunk.excluded_at is not None


# --- M1: errors tied to their fields ------------------------------------------------------------------


def test_glossary_errors_are_one_message_tied_to_the_box(client, curator, collection):
    signed_in(client, curator)
    page = client.post(f"/curate/c/{collection.slug}/glossary/", {"terms": "no equals sign here\nalso wrong"})
    html = page.content.decode()
    said = described_error(html, "id_terms", "terms-error")
    assert said.startswith("Error: Line 1:") and "Line 2:" in said
    assert attribute(element(html, "id_terms"), "aria-describedby") == "terms-hint terms-error"
    assert html.count('class="govuk-error-message"') == 1
    assert title(html).startswith("Error: ")


def test_source_form_errors_are_tied_to_their_fields(client, curator, collection):
    signed_in(client, curator)
    html = client.post(
        f"/curate/c/{collection.slug}/sources/new/", {"kind": "pages", "location": "", "every_hours": "0"}
    ).content.decode()
    assert described_error(html, "id_location", "location-error").startswith("Error: Enter the addresses")
    assert attribute(element(html, "id_location"), "aria-describedby") == "location-hint location-error"
    assert described_error(html, "id_every_hours", "every-error").startswith("Error: Enter a number of hours")


def test_try_a_question_error_is_tied_to_the_box_with_its_border_and_title(client, curator, collection):
    signed_in(client, curator)
    html = client.get(f"/curate/c/{collection.slug}/try/", {"q": ""}).content.decode()
    assert described_error(html, "id_q", "q-error") == "Error: Enter a question"
    html = client.get(f"/curate/c/{collection.slug}/try/", {"q": "x" * 2100}).content.decode()
    assert described_error(html, "id_q", "q-error") == "Error: Question must be 2,000 characters or fewer"
    assert "govuk-input--error" in element(html, "id_q")
    assert title(html).startswith("Error: Try a question")


def test_document_review_errors_are_tied_to_their_fields(client, curator, collection):
    version = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    signed_in(client, curator)
    action = f"/curate/documents/{version.document_id}/review/"
    html = client.post(
        action,
        {
            "title": "t" * 301,
            "owner_email": "nobody",
            "review_from": "date",
            "review_day": "1",
            "review_month": "3",
            "review_year": "1999",
        },
    ).content.decode()
    assert title(html).startswith("Error: ")
    assert described_error(html, "id_title", "title-error") == "Error: Title must be 300 characters or fewer"
    assert described_error(html, "id_owner_email", "owner-error").startswith("Error: Enter an email address")
    # The year's error was in the summary only; it is now the date's one inline message, on its fieldset.
    date_group = element(html, "review-date-error")
    assert date_group
    fieldset = re.search(r'<fieldset class="govuk-fieldset" role="group" aria-describedby="([^"]*)"', html).group(1)
    assert fieldset.split() == ["review-date-hint", "review-date-error"]
    assert "Review year must be between 2000 and 2200" in html
    assert "greater than or equal to" not in html, "not Django's own wording"
    assert summary_links(html)["Review year must be between 2000 and 2200"] == "#id_review_year"
    # Only the box that is wrong is marked.
    assert "govuk-input--error" in element(html, "id_review_year")
    assert "govuk-input--error" not in element(html, "id_review_day")
    assert "govuk-input--error" not in element(html, "id_review_month")


def test_an_impossible_review_day_gets_one_message_not_two(client, curator, collection):
    version = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    signed_in(client, curator)
    html = client.post(
        f"/curate/documents/{version.document_id}/review/",
        {
            "owner_email": "a@example.gov.uk",
            "review_from": "date",
            "review_day": "32",
            "review_month": "3",
            "review_year": "2027",
        },
    ).content.decode()
    assert html.count("Review date must be a real date") == 2  # the summary and the date
    assert "less than or equal to" not in html
    assert "govuk-input--error" in element(html, "id_review_day")
    assert "govuk-input--error" not in element(html, "id_review_month")


def test_collection_edit_description_and_confirmation_errors_are_tied(client, curator, make_collection):
    collection = make_collection("secret", name="Secret")
    collection.marking = "OFFICIAL-SENSITIVE"
    collection.save(update_fields=["marking"])
    signed_in(client, curator)
    html = client.post(
        f"/curate/c/{collection.slug}/edit/", {"name": "Secret", "description": "", "marking": "OFFICIAL"}
    ).content.decode()
    assert described_error(html, "id_confirm_downgrade", "confirm-downgrade-error").startswith("Error: Confirm")
    assert described_error(html, "id_downgrade_reason", "downgrade-error").startswith("Error: Say why")


def test_insights_period_error_is_tied_to_the_select_and_titled(client, curator, collection):
    signed_in(client, curator)
    response = client.get(f"/insights/{collection.slug}/", {"period": "999"})
    html = response.content.decode()
    assert described_error(html, "id_period", "period-error") == "Error: Choose the last 7, 30 or 90 days"
    assert title(html).startswith("Error: Insights")
