"""Curator findings on the collection forms: duplicate names refused; "Grant a group" offers only
groups that cannot read yet and a repeat grant changes nothing; form errors shown as GOV.UK asks (a
summary linked to the field, and the error at the field); the marking-downgrade fields only where
the marking can be lowered; and the collections list counting only documents that can be searched."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEvent
from documents import services
from documents.models import Collection, Marking
from tests.conftest import signed_in
from tests.documents.files import BROKEN_PDF, upload_and_ingest

pytestmark = pytest.mark.django_db

LEAVE = b"# Leave\n\n## Carry over\n\nYou may carry over up to 5 days of unused leave into the next leave year.\n"
TRAVEL = b"# Travel\n\nRail travel is standard class unless the journey is over three hours.\n"


def summary_links(html: str) -> dict[str, str]:
    """The error summary's entries: text -> the link's target."""
    found = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S)
    if not found:
        return {}
    return {text.strip(): href for href, text in re.findall(r'<li><a href="([^"]*)">(.*?)</a></li>', found.group(0))}


def field_group(html: str, field_id: str) -> str:
    """The form group holding the element with ``field_id``, from its opening tag to that element."""
    at = html.index(f'id="{field_id}"')
    start = html.rindex('<div class="govuk-form-group', 0, at)
    return html[start : html.index(">", at) + 1]


# --- 4. Two collections with the same name ------------------------------------------------------


@pytest.mark.parametrize("again", ["Curator Test Open", "curator test open", "  Curator   Test  OPEN "])
def test_the_service_refuses_a_name_an_active_collection_has(curator, make_collection, again):
    make_collection("open", name="Curator Test Open")
    with pytest.raises(ValidationError) as refused:
        services.collection_create(user=curator, name=again, slug="open-2")
    said = f"A collection called “{again.strip()}” already exists. Choose a different name."
    assert refused.value.message_dict == {"name": [said]}
    assert Collection.objects.count() == 1
    assert AuditEvent.objects.filter(action="curation.collection_create").count() == 1


def test_a_retired_collections_name_may_be_used_again(curator, make_collection):
    old = make_collection("open", name="Curator Test Open")
    services.collection_retire(collection=old, user=curator)
    again = services.collection_create(user=curator, name="Curator Test Open", slug="open-2")
    assert again.name == "Curator Test Open"


def test_renaming_to_another_collections_name_is_refused_but_a_collection_keeps_its_own(curator, make_collection):
    make_collection("open", name="Curator Test Open")
    private = make_collection("private", name="Curator Test Private")
    with pytest.raises(ValidationError) as refused:
        services.collection_update(collection=private, user=curator, name="CURATOR TEST OPEN")
    assert list(refused.value.message_dict) == ["name"]
    private.refresh_from_db()
    assert private.name == "Curator Test Private"
    services.collection_update(collection=private, user=curator, name="curator test private")  # only its case
    private.refresh_from_db()
    assert private.name == "curator test private"


def test_a_name_refused_with_a_marking_change_waiting_for_approval_asks_nothing(curator, make_collection, settings):
    """With a second curator needed to lower the marking, a refused rename leaves no request behind."""
    settings.HUMPHREY_MARKING_DOWNGRADE_APPROVAL = True
    make_collection("open", name="Curator Test Open")
    private = make_collection("private", name="Curator Test Private")
    services.collection_update(collection=private, user=curator, marking=Marking.OFFICIAL_SENSITIVE)
    with pytest.raises(ValidationError):
        services.collection_update(
            collection=private, user=curator, name="Curator Test Open", marking=Marking.OFFICIAL, reason="Published"
        )
    assert not private.marking_changes.exists()


def test_creating_a_duplicate_name_on_the_site_is_an_error_on_the_name_field(client, curator, make_collection):
    make_collection("open", name="Curator Test Open")
    signed_in(client, curator)
    response = client.post("/curate/new/", {"name": "curator test open", "slug": "", "marking": "OFFICIAL"})
    assert response.status_code == 400
    html = response.content.decode()
    message = "A collection called “curator test open” already exists. Choose a different name."
    assert summary_links(html) == {message: "#id_name"}
    name = field_group(html, "id_name")
    assert "govuk-form-group--error" in name and message in name and "govuk-input--error" in name
    assert 'aria-describedby="name-error"' in name
    assert Collection.objects.count() == 1


def test_renaming_to_a_duplicate_name_on_the_site_is_an_error_on_the_name_field(client, curator, make_collection):
    make_collection("open", name="Curator Test Open")
    private = make_collection("private", name="Curator Test Private")
    signed_in(client, curator)
    response = client.post(
        reverse("documents:collection_edit", args=["private"]), {"name": "Curator Test Open", "marking": "OFFICIAL"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert list(summary_links(html).values()) == ["#id_name"]
    name = field_group(html, "id_name")
    assert "already exists" in name and 'aria-describedby="name-error"' in name
    private.refresh_from_db()
    assert private.name == "Curator Test Private"


def test_the_ingest_command_refuses_a_duplicate_name(curator, make_collection, tmp_path):
    make_collection("open", name="Curator Test Open")
    (tmp_path / "leave.md").write_bytes(LEAVE)
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            *("ingest", str(tmp_path), "--collection", "open-2", "--create", "--name", "Curator Test Open"),
            "--no-progress",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert not Collection.objects.filter(slug="open-2").exists()


# --- 5. Granting a group that can already read ---------------------------------------------------


def grant_choices(html: str) -> list[str]:
    select = re.search(r'<select[^>]*id="id_group".*?</select>', html, re.S)
    return re.findall(r'<option value="\d+">([^<]*)</option>', select.group(0)) if select else []


def test_grant_offers_only_groups_that_cannot_read_yet(client, curator, make_collection):
    make_collection("open", groups=["All staff"])
    Group.objects.create(name="HR")
    signed_in(client, curator)
    html = client.get("/curate/c/open/").content.decode()
    assert grant_choices(html) == ["HR"]

    client.post("/curate/c/open/readers/", {"group": Group.objects.get(name="HR").pk})
    html = client.get("/curate/c/open/").content.decode()
    assert grant_choices(html) == []
    assert "Every group can already read this collection." in html


def test_a_repeat_grant_says_so_and_records_nothing(client, curator, make_collection):
    """A grant from a page gone stale: nothing changes, nothing is audited, and the curator is told."""
    make_collection("open", groups=["All staff"])
    staff = Group.objects.get(name="All staff")
    signed_in(client, curator)
    page = client.post("/curate/c/open/readers/", {"group": staff.pk}, follow=True)
    html = page.content.decode()
    assert "“All staff” could already read this collection. Nothing was changed." in html
    assert "can now read" not in html
    assert not AuditEvent.objects.filter(action="curation.collection_grant").exists()


def test_the_grant_service_reports_whether_it_changed_anything(curator, make_collection):
    collection = make_collection("open", groups=[])
    hr = Group.objects.create(name="HR")
    assert services.collection_grant(collection=collection, group=hr, user=curator) is True
    assert services.collection_grant(collection=collection, group=hr, user=curator) is False
    out = io.StringIO()
    call_command("grant", "open", "HR", stdout=out)
    assert out.getvalue().strip() == "Group 'HR' could already read 'open': nothing changed."
    assert AuditEvent.objects.filter(action="curation.collection_grant").count() == 1
    assert list(collection.reader_groups.all()) == [hr]


# --- 9. Form errors: a summary linked to the field, and the error at the field ---------------------


def test_a_duplicate_short_name_is_an_error_on_the_short_name_field(client, curator, make_collection):
    make_collection("dde-guidance", name="DDE guidance")
    signed_in(client, curator)
    response = client.post("/curate/new/", {"name": "Another", "slug": "dde-guidance", "marking": "OFFICIAL"})
    html = response.content.decode()
    message = "A collection with the short name &#x27;dde-guidance&#x27; already exists."
    assert summary_links(html) == {message: "#id_slug"}
    slug = field_group(html, "id_slug")
    assert "govuk-form-group--error" in slug and message in slug and "govuk-input--error" in slug
    assert 'aria-describedby="slug-hint slug-error"' in slug


def test_a_short_name_made_from_a_name_that_is_taken_points_at_the_short_name_field(client, curator, make_collection):
    """ "HR!" is a new name, but its short name would be "hr", a retired collection's: typing a short
    name is the way out, so that is where the error is."""
    old = make_collection("hr", name="HR")
    services.collection_retire(collection=old, user=curator)
    signed_in(client, curator)
    html = client.post("/curate/new/", {"name": "HR!", "slug": "", "marking": "OFFICIAL"}).content.decode()
    assert list(summary_links(html).values()) == ["#id_slug"]
    assert "Enter a different short name." in field_group(html, "id_slug")


def test_an_upload_refusal_is_in_the_error_summary_not_a_notice(client, curator, make_collection, settings):
    make_collection("open")
    settings.HUMPHREY_MAX_UPLOAD_MB = 0  # every file is too big
    signed_in(client, curator)
    page = client.post("/curate/c/open/upload/", {"files": [SimpleUploadedFile("huge.txt", b"words")]}, follow=True)
    html = page.content.decode()
    refusal = "huge.txt: The file is 0.0 MB; the most we accept is 0 MB."
    assert summary_links(html)[refusal] == "#id_files", "linked to the Files field"
    assert refusal in field_group(html, "id_files")
    banners = re.findall(r'<div class="govuk-notification-banner.*?</div>\s*</div>', html, re.S)
    assert not any("There is a problem" in b or "huge.txt" in b for b in banners)
    assert any("0 queued for ingestion" in b for b in banners)  # the batch's summary is still a notice
    assert html.count(refusal) == 2  # in the summary and at the field only
    assert "<title>Error: " in html


def test_an_upload_error_naming_its_field_is_also_shown_at_the_field(client, curator, make_collection, settings):
    """An error that names the upload field (``extra_tags="id_files"``) links there and is shown there."""
    from django.contrib import messages
    from django.contrib.messages.storage.base import Message
    from django.contrib.messages.storage.cookie import MessageEncoder

    make_collection("open")
    settings.MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
    signed_in(client, curator)
    session = client.session
    error = Message(messages.ERROR, "huge.txt: larger than 25 MB", extra_tags="id_files")
    session["_messages"] = MessageEncoder().encode([error])
    session.save()
    html = client.get("/curate/c/open/").content.decode()
    assert summary_links(html) == {"huge.txt: larger than 25 MB": "#id_files"}
    files = field_group(html, "id_files")
    assert "govuk-form-group--error" in files and "huge.txt: larger than 25 MB" in files
    assert 'aria-describedby="files-hint files-error"' in files


def test_granting_without_a_group_is_an_error_on_the_group_field(client, curator, make_collection):
    make_collection("open", groups=[])
    Group.objects.create(name="HR")
    signed_in(client, curator)
    html = client.post("/curate/c/open/readers/", {"group": ""}, follow=True).content.decode()
    assert summary_links(html) == {"Choose a group to grant": "#id_group"}
    group = field_group(html, "id_group")
    assert "govuk-form-group--error" in group and "govuk-select--error" in group
    assert "Choose a group to grant" in group


def test_the_document_page_form_has_an_error_summary(client, curator, make_collection):
    collection = make_collection("open")
    version = upload_and_ingest(collection, "leave.md", LEAVE, curator)
    signed_in(client, curator)
    response = client.post(
        reverse("documents:document_review", args=[version.document_id]),
        {"owner_email": "not an email", "review_from": "collection"},
    )
    html = response.content.decode()
    links = summary_links(html)
    assert list(links.values()) == ["#id_owner_email"] and "correct format" in next(iter(links))
    assert html.index("govuk-error-summary") < html.index("<h1")


# --- 10. The marking-downgrade fields ---------------------------------------------------------------


def test_no_downgrade_fields_when_the_marking_is_already_the_lowest(client, curator, make_collection):
    make_collection("open")
    signed_in(client, curator)
    html = client.get(reverse("documents:collection_edit", args=["open"])).content.decode()
    assert "Why is the marking being lowered?" not in html
    assert 'name="downgrade_reason"' not in html and 'name="confirm_downgrade"' not in html
    assert "data-aria-controls" not in html


def test_downgrade_fields_are_revealed_under_the_lower_marking(client, curator, make_collection):
    """The GOV.UK conditional reveal: the fields follow the OFFICIAL radio, which controls them."""
    collection = make_collection("private")
    services.collection_update(collection=collection, user=curator, marking=Marking.OFFICIAL_SENSITIVE)
    signed_in(client, curator)
    html = client.get(reverse("documents:collection_edit", args=["private"])).content.decode()
    official = re.search(r'<input[^>]*value="OFFICIAL"[^>]*>', html).group(0)
    sensitive = re.search(r'<input[^>]*value="OFFICIAL-SENSITIVE"[^>]*>', html).group(0)
    assert 'data-aria-controls="downgrade-conditional"' in official
    assert "data-aria-controls" not in sensitive
    conditional = html[html.index('id="downgrade-conditional"') : html.index(sensitive)]
    assert 'name="downgrade_reason"' in conditional and 'name="confirm_downgrade"' in conditional


# --- The collections list's document count ---------------------------------------------------------


def test_the_list_counts_searchable_documents_of_all(client, curator, make_collection):
    """Measured before: "Documents 3" for two searchable documents and one whose every upload failed."""
    collection = make_collection("open")
    upload_and_ingest(collection, "leave.md", LEAVE, curator)
    upload_and_ingest(collection, "travel.md", TRAVEL, curator)
    failed = upload_and_ingest(collection, "broken.pdf", BROKEN_PDF, curator)
    assert failed.status == "failed"
    retired = upload_and_ingest(collection, "old.md", b"# Old\n\nGone.\n", curator)
    services.document_retire(document=retired.document, user=curator)
    make_collection("other")
    signed_in(client, curator)
    html = client.get("/curate/").content.decode()
    assert ">Searchable documents</th>" in html
    cells = re.findall(r'<td class="govuk-table__cell govuk-table__cell--numeric">([^<]*)</td>', html)
    assert cells == ["2 of 3", "0"]  # "Open", then "Other"
