"""Switching one passage off (issue 22): a curator stops an outdated paragraph being searched, with a
reason, and puts it back; audited; answers that cited it keep showing it; nobody else can do either."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.roles import Role
from assistant.models import Citation, Conversation, Message, Speaker
from audit.models import AuditEvent
from documents.retrieval import passages_for_user
from tests import factories
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

OUTDATED = "Mileage is paid at 40p a mile for the first 10,000 miles."
CURRENT = "Claims must be made within three months of the journey."


@pytest.fixture
def travel(make_collection, curator):
    collection = make_collection("travel", groups=["All staff"])
    document = factories.add_document(collection, [OUTDATED, CURRENT], title="Travel policy")
    return collection, document


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def exclusion(client: Client, chunk, **data):
    return client.post(f"/curate/chunks/{chunk.pk}/exclusion/", data)


def texts(user, query: str) -> list[str]:
    return [p.text for p in passages_for_user(user=user, query=query, k=5)]


def test_a_curator_switches_a_passage_off_and_back(travel, curator, make_user):
    _, document = travel
    reader = make_user("rita@example.gov.uk", groups=["All staff"])
    outdated = document.current_version.chunks.get(text=OUTDATED)
    assert OUTDATED in texts(reader, "mileage rate per mile")

    client = signed_in(curator)
    exclusion(client, outdated, action="exclude", reason="")  # a reason is required
    outdated.refresh_from_db()
    assert outdated.excluded_at is None and OUTDATED in texts(reader, "mileage rate per mile")

    exclusion(client, outdated, action="exclude", reason="The rate is 45p since April.")
    outdated.refresh_from_db()
    assert outdated.excluded_at is not None and not outdated.searchable
    assert OUTDATED not in texts(reader, "mileage rate per mile")
    assert CURRENT in texts(reader, "when must claims be made")  # the rest of the document is still searched
    event = AuditEvent.objects.get(action="curation.passage_exclude")
    assert event.actor == curator and event.content.body == {"reason": "The rate is 45p since April."}
    page = client.get(f"/curate/chunks/{outdated.pk}/").content.decode()
    assert "The rate is 45p since April." in page and "Search this passage again" in page

    exclusion(client, outdated, action="include")
    outdated.refresh_from_db()
    assert outdated.excluded_at is None and outdated.searchable
    assert OUTDATED in texts(reader, "mileage rate per mile")
    assert AuditEvent.objects.filter(action="curation.passage_include", actor=curator).count() == 1


def test_answers_that_cited_it_keep_showing_it_and_others_cannot_open_it(travel, curator, make_user):
    _, document = travel
    cited, other = (make_user(f"{n}@example.gov.uk", groups=["All staff"]) for n in ("cal", "oli"))
    outdated = document.current_version.chunks.get(text=OUTDATED)
    conversation = Conversation.objects.create(owner=cited)
    question = Message.objects.create(conversation=conversation, role=Speaker.USER, text="mileage?")
    answer = Message.objects.create(
        conversation=conversation, role=Speaker.ASSISTANT, text="40p [1]", question=question
    )
    Citation.objects.create(message=answer, n=1, chunk=outdated, version=outdated.version, quote=OUTDATED)

    exclusion(signed_in(curator), outdated, action="exclude", reason="Out of date.")
    assert signed_in(cited).get(f"/curate/passage/{outdated.pk}/").status_code == 200
    assert signed_in(other).get(f"/curate/passage/{outdated.pk}/").status_code == 404


def test_nobody_but_its_curators_can_switch_it_off(travel, make_user):
    _, document = travel
    outdated = document.current_version.chunks.get(text=OUTDATED)
    reader = make_user("rita@example.gov.uk", groups=["All staff"])
    outsider = make_user("olu@example.gov.uk", roles=[Role.CURATOR])
    assert exclusion(signed_in(reader), outdated, action="exclude", reason="x").status_code == 403
    assert exclusion(signed_in(outsider), outdated, action="exclude", reason="x").status_code == 404
    outdated.refresh_from_db()
    assert outdated.excluded_at is None and outdated.searchable


def test_the_version_page_offers_to_stop_searching_each_searched_passage(travel, curator):
    """A curator told "stop that paragraph being used" finds the control on the version's page, beside
    each searched passage; it opens the passage's page with the form open. A switched-off passage is
    offered none."""
    _, document = travel
    version = document.current_version
    outdated = version.chunks.get(text=OUTDATED)
    client = signed_in(curator)
    page = client.get(f"/curate/versions/{version.pk}/").content.decode()
    link = f'href="/curate/chunks/{outdated.pk}/?stop=1#stop-searching">Stop searching'
    assert link in page
    opened = client.get(f"/curate/chunks/{outdated.pk}/?stop=1").content.decode()
    assert '<details class="govuk-details" id="stop-searching" open>' in opened
    exclusion(client, outdated, action="exclude", reason="The rate is 45p since April.")
    assert link not in client.get(f"/curate/versions/{version.pk}/").content.decode()
