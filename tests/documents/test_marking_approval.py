"""Lowering a marking with a second curator (HUMPHREY_MARKING_DOWNGRADE_APPROVAL): from the side of the
curator who wants it lowered alone, of a curator of another collection, and of the approver."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from documents.models import Marking, MarkingChange
from documents.services.marking_changes import marking_change_decide, marking_change_pending, marking_change_request
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

SENSITIVE, OFFICIAL = Marking.OFFICIAL_SENSITIVE, Marking.OFFICIAL


@pytest.fixture(autouse=True)
def approval_on(settings):
    settings.HUMPHREY_MARKING_DOWNGRADE_APPROVAL = True


@pytest.fixture
def collection(make_collection, curator, make_user):
    collection = make_collection("hr", groups=["HR"], name="HR policies")
    collection.marking = SENSITIVE
    collection.save(update_fields=["marking"])
    collection.curators.add(curator)
    return collection


@pytest.fixture
def second(make_user, collection):
    person = make_user("sam@example.gov.uk", roles=[Role.CURATOR])
    collection.curators.add(person)
    return person


@pytest.fixture
def outsider(make_user):
    return make_user("olu@example.gov.uk", roles=[Role.CURATOR])


def lower(client, collection, reason="Published on GOV.UK since."):
    return client.post(
        reverse("documents:collection_edit", args=[collection.slug]),
        {
            "name": collection.name,
            "description": collection.description,
            "marking": OFFICIAL,
            "downgrade_reason": reason,
            "confirm_downgrade": "on",
        },
        follow=True,
    )


def decide(client, collection, change, action, note=""):
    url = reverse("documents:marking_change", args=[collection.slug, change.pk])
    return client.post(url, {"action": action, "note": note}, follow=True)


def marking(collection) -> str:
    collection.refresh_from_db()
    return collection.marking


def test_one_curator_cannot_lower_a_marking_alone(client, curator, collection):
    page = lower(signed_in(client, curator), collection)
    assert "waiting for another curator" in page.content.decode()
    assert marking(collection) == SENSITIVE  # unchanged until a second curator approves
    change = marking_change_pending(collection)
    assert (change.from_marking, change.to_marking, change.requested_by) == (SENSITIVE, OFFICIAL, curator)
    # Approving their own request, by the page or the service, does nothing.
    decide(client, collection, change, "approve")
    assert marking(collection) == SENSITIVE
    with pytest.raises(ValidationError, match="Another curator"):
        marking_change_decide(change=change, user=curator, approve=True)
    assert marking(collection) == SENSITIVE
    event = AuditEvent.objects.get(action="curation.marking_change_requested")
    assert event.actor == curator and event.outcome == "pending"
    assert event.content.body == {"reason": "Published on GOV.UK since."}
    # Asking again while one waits is refused.
    with pytest.raises(ValidationError, match="already waiting"):
        marking_change_request(collection=collection, user=curator, marking=OFFICIAL, reason="again")


def test_a_curator_of_another_collection_cannot_approve(client, curator, collection, outsider):
    lower(signed_in(client, curator), collection)
    change = marking_change_pending(collection)
    client.logout()
    response = signed_in(client, outsider).post(
        reverse("documents:marking_change", args=[collection.slug, change.pk]), {"action": "approve"}
    )
    assert response.status_code == 404
    assert marking(collection) == SENSITIVE


def test_a_second_curator_approves_and_both_are_in_the_audit_trail(client, curator, collection, second):
    lower(signed_in(client, curator), collection)
    change = marking_change_pending(collection)
    client.logout()
    page = signed_in(client, second).get(reverse("documents:collection", args=[collection.slug]))
    html = page.content.decode()
    assert "Marking change waiting for approval" in html and "Published on GOV.UK since." in html
    page = decide(client, collection, change, "approve")
    assert "Marking now OFFICIAL." in page.content.decode()
    assert marking(collection) == OFFICIAL
    change.refresh_from_db()
    assert (change.state, change.decided_by) == ("approved", second)
    event = AuditEvent.objects.get(action="curation.marking_change_decided")
    assert event.actor == second and event.outcome == "approved"
    assert event.data["requested_by"] == curator.pk
    assert (event.data["previous_marking"], event.data["marking"]) == (SENSITIVE, OFFICIAL)


def test_a_rejection_needs_a_reason_and_keeps_the_marking(client, curator, collection, second):
    change = marking_change_request(collection=collection, user=curator, marking=OFFICIAL, reason="Public now.")
    signed_in(client, second)
    decide(client, collection, change, "reject")
    change.refresh_from_db()
    assert change.state == "pending"  # no note, no rejection
    decide(client, collection, change, "reject", note="Annex B is still sensitive.")
    change.refresh_from_db()
    assert (change.state, change.note) == ("rejected", "Annex B is still sensitive.")
    assert marking(collection) == SENSITIVE
    assert marking_change_pending(collection) is None


def test_a_request_overtaken_by_another_change_is_not_applied(curator, collection, second):
    change = marking_change_request(collection=collection, user=curator, marking=OFFICIAL, reason="Public now.")
    collection.marking = OFFICIAL  # lowered by other means meanwhile (e.g. with the setting off)
    collection.save(update_fields=["marking"])
    decided = marking_change_decide(change=change, user=second, approve=True)
    assert decided.state == "rejected" and "now OFFICIAL" in decided.note
    assert AuditEvent.objects.get(action="curation.marking_change_decided").outcome == "stale"


def test_the_requester_may_withdraw_and_others_may_not(client, curator, collection, second):
    change = marking_change_request(collection=collection, user=curator, marking=OFFICIAL, reason="Public now.")
    decide(signed_in(client, second), collection, change, "withdraw")
    change.refresh_from_db()
    assert change.state == "pending"
    client.logout()
    decide(signed_in(client, curator), collection, change, "withdraw")
    change.refresh_from_db()
    assert change.state == "withdrawn"
    assert marking(collection) == SENSITIVE


def test_raising_a_marking_needs_no_approval(client, curator, make_collection):
    collection = make_collection("pay", groups=["HR"], name="Pay")
    collection.curators.add(curator)
    signed_in(client, curator).post(
        reverse("documents:collection_edit", args=[collection.slug]),
        {"name": "Pay", "description": "", "marking": SENSITIVE},
    )
    assert marking(collection) == SENSITIVE
    assert not MarkingChange.objects.exists()


def test_with_the_setting_off_one_curator_lowers_at_once(client, curator, collection, settings):
    settings.HUMPHREY_MARKING_DOWNGRADE_APPROVAL = False
    lower(signed_in(client, curator), collection)
    assert marking(collection) == OFFICIAL
    assert not MarkingChange.objects.exists()
