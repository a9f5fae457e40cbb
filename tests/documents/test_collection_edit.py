"""Editing a collection's name, description and marking at /curate/c/<slug>/edit/: its curators only
(civil servants get a 403, curators of other collections a 404, as on every curation page)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from documents.models import Collection, Marking
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

UPDATE = "curation.collection_update"


@pytest.fixture
def collection(make_collection):
    collection = make_collection("hr", groups=["HR"], name="HR policies")
    collection.description = "Leave and pay."
    collection.save(update_fields=["description"])
    return collection


@pytest.fixture
def other_curator(make_user):
    return make_user("olu@example.gov.uk", roles=[Role.CURATOR])


def edit_url(collection: Collection) -> str:
    return reverse("documents:collection_edit", args=[collection.slug])


def snapshot(collection: Collection) -> tuple:
    collection.refresh_from_db()
    return collection.name, collection.description, collection.marking, collection.slug


CHANGES = {"name": "People policies", "description": "Leave, pay and pensions.", "marking": Marking.OFFICIAL_SENSITIVE}


def test_url_is_under_curate(collection):
    assert edit_url(collection) == "/curate/c/hr/edit/"


def test_curator_sees_the_form_filled_in(client, curator, collection):
    signed_in(client, curator)
    page = client.get(edit_url(collection))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="HR policies"' in html
    assert "Leave and pay.</textarea>" in html
    assert 'id="id_marking_0" name="marking" type="radio" value="OFFICIAL" checked' in html
    assert 'value="OFFICIAL-SENSITIVE">' in html
    assert "govuk-error-summary" not in html


def test_curator_edits_name_description_and_marking(client, curator, collection):
    """The change is saved, audited once, and the curator is sent back to the collection with a message."""
    signed_in(client, curator)
    response = client.post(edit_url(collection), CHANGES)
    assert response.status_code == 302
    assert response["Location"] == reverse("documents:collection", args=[collection.slug])
    assert snapshot(collection) == ("People policies", "Leave, pay and pensions.", "OFFICIAL-SENSITIVE", "hr")
    events = AuditEvent.objects.filter(action=UPDATE)
    assert events.count() == 1
    event = events.get()
    assert event.actor_id == curator.pk and event.subject == f"collection:{collection.pk}"
    assert event.data["changed"] == ["description", "marking", "name"]
    page = client.get(response["Location"])
    assert "Collection “People policies” updated." in page.content.decode()


def test_submitting_unchanged_values_writes_nothing(client, curator, collection):
    signed_in(client, curator)
    before = snapshot(collection)
    response = client.post(
        edit_url(collection), {"name": "HR policies", "description": "Leave and pay.", "marking": "OFFICIAL"}
    )
    assert response.status_code == 302
    assert snapshot(collection) == before
    assert not AuditEvent.objects.filter(action=UPDATE).exists()


def test_invalid_marking_is_refused_with_a_form_error(client, curator, collection):
    signed_in(client, curator)
    before = snapshot(collection)
    response = client.post(edit_url(collection), {**CHANGES, "marking": "TOP-SECRET"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "govuk-error-summary" in html and "There is a problem" in html
    assert "Select a security marking: OFFICIAL or OFFICIAL-SENSITIVE" in html
    assert 'href="#id_marking_0"' in html  # the summary links to the first radio
    assert "govuk-form-group--error" in html
    assert "<title>Error:" in html
    assert snapshot(collection) == before
    assert not AuditEvent.objects.filter(action=UPDATE).exists()


def test_missing_name_or_marking_is_refused(client, curator, collection):
    signed_in(client, curator)
    before = snapshot(collection)
    response = client.post(edit_url(collection), {"name": "  ", "description": "x"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a name" in html and "Select a security marking" in html
    assert snapshot(collection) == before
    assert not AuditEvent.objects.filter(action=UPDATE).exists()


def test_civil_servant_cannot_view_or_post(client, civil_servant, collection):
    """Refused by role (403), as on every curation page; nothing changes."""
    civil_servant.groups.add(*collection.reader_groups.all())  # even a reader of the collection
    signed_in(client, civil_servant)
    before = snapshot(collection)
    assert client.get(edit_url(collection)).status_code == 403
    assert client.post(edit_url(collection), CHANGES).status_code == 403
    assert snapshot(collection) == before
    assert not AuditEvent.objects.filter(action=UPDATE).exists()


def test_curator_of_another_collection_cannot_view_or_post(client, other_curator, make_collection, collection):
    """Another curator's collection is a 404, as if it did not exist; nothing changes."""
    make_collection("finance", owner=other_curator)
    signed_in(client, other_curator)
    before = snapshot(collection)
    assert client.get(edit_url(collection)).status_code == 404
    assert client.post(edit_url(collection), CHANGES).status_code == 404
    assert snapshot(collection) == before
    assert not AuditEvent.objects.filter(action=UPDATE).exists()


def test_anonymous_user_is_sent_to_sign_in(client, collection):
    before = snapshot(collection)
    response = client.post(edit_url(collection), CHANGES)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert snapshot(collection) == before


def test_named_curator_who_is_not_the_owner_may_edit(client, other_curator, collection):
    collection.curators.add(other_curator)
    signed_in(client, other_curator)
    assert client.post(edit_url(collection), CHANGES).status_code == 302
    assert snapshot(collection)[0] == "People policies"
    assert AuditEvent.objects.filter(action=UPDATE, actor_id=other_curator.pk).count() == 1


def test_collection_page_links_to_the_edit_page(client, curator, collection):
    signed_in(client, curator)
    page = client.get(reverse("documents:collection", args=[collection.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{edit_url(collection)}"' in html and "Edit collection" in html


def test_marking_hint_only_when_the_deployment_serves_less_than_every_marking(client, curator, collection, settings):
    signed_in(client, curator)
    assert b'id="marking-hint"' not in client.get(edit_url(collection)).content
    settings.HUMPHREY_MAX_MARKING = "OFFICIAL"
    html = client.get(edit_url(collection)).content.decode()
    assert 'id="marking-hint"' in html and "A collection marked OFFICIAL-SENSITIVE is not searched" in html


def test_lowering_the_marking_needs_a_reason_and_a_confirmation_and_is_audited(client, curator, collection):
    """Measured before: one curator's downgrade took effect at once, with nothing asked. Now a
    downgrade without a reason or the confirmation changes nothing and says what is missing; with
    both it takes effect and the audit event keeps both markings and the reason. Raising needs neither."""
    from audit.models import AuditEvent

    signed_in(client, curator)
    response = client.post(edit_url(collection), {**CHANGES, "marking": Marking.OFFICIAL_SENSITIVE})
    assert response.status_code == 302
    collection.refresh_from_db()
    assert collection.marking == Marking.OFFICIAL_SENSITIVE  # raised: nothing more asked

    lower = {**CHANGES, "marking": Marking.OFFICIAL}
    for missing in ({}, {"downgrade_reason": "Published on GOV.UK"}, {"confirm_downgrade": "on"}):
        response = client.post(edit_url(collection), {**lower, **missing})
        assert response.status_code == 400
        html = response.content.decode()
        assert "govuk-error-summary" in html
        assert ("Say why the marking is being lowered" in html) == ("downgrade_reason" not in missing)
        assert ("Confirm that the guidance may be sent" in html) == ("confirm_downgrade" not in missing)
        collection.refresh_from_db()
        assert collection.marking == Marking.OFFICIAL_SENSITIVE

    response = client.post(
        edit_url(collection), {**lower, "downgrade_reason": "Published on GOV.UK in full", "confirm_downgrade": "on"}
    )
    assert response.status_code == 302
    collection.refresh_from_db()
    assert collection.marking == Marking.OFFICIAL
    event = AuditEvent.objects.filter(action="curation.collection_update").order_by("-seq").first()
    assert event.outcome == "marking_lowered" and event.actor_id == curator.pk
    assert (event.data["previous_marking"], event.data["marking"]) == ("OFFICIAL-SENSITIVE", "OFFICIAL")
    assert event.content.body["reason"] == "Published on GOV.UK in full"


def test_the_service_refuses_a_downgrade_without_a_reason(curator, collection):
    """Whoever calls it (a command, a script), lowering the marking needs a reason."""
    from django.core.exceptions import ValidationError

    from documents import services

    services.collection_update(collection=collection, user=curator, marking=Marking.OFFICIAL_SENSITIVE)
    with pytest.raises(ValidationError):
        services.collection_update(collection=collection, user=curator, marking=Marking.OFFICIAL)
    collection.refresh_from_db()
    assert collection.marking == Marking.OFFICIAL_SENSITIVE
