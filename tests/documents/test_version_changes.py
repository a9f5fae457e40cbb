"""What changed between two versions of a document (issue 22): section by section, words marked up as
removed or added; gated like the documents themselves (its curators, its readers, and whoever an
answer quoted the older version to), a 404 for everyone else, the same as for nothing at all."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from assistant.models import Citation, Conversation, Message, Speaker
from audit.models import AuditEvent
from documents import services
from documents.models import Chunk, VersionStatus
from documents.views.changes import ADDED, CHANGED, DEL, INS, REMOVED, UNCHANGED, compare_sections, text_changes
from tests import factories
from tests.versions import publish_version

pytestmark = pytest.mark.django_db

V1 = [
    "Claims must be made within 30 days of the journey.",
    "Mileage is paid at 45p a mile.",
    "Receipts are kept for six years.",
]
V2 = [
    "Claims must be made within 60 days of the journey, with receipts.",
    "Receipts are kept for six years.",
    "Taxis need a line manager's approval first.",
]
HEADINGS_V1 = ["Expenses > Deadlines", "Expenses > Mileage", "Expenses > Records"]
HEADINGS_V2 = ["Expenses > Deadlines", "Expenses > Records", "Expenses > Taxis"]


def test_sections_are_lined_up_by_heading_and_compared_word_by_word():
    old = dict(zip(HEADINGS_V1, V1, strict=True))
    new = dict(zip(HEADINGS_V2, V2, strict=True))
    sections = compare_sections(old, new)
    assert [(s.heading, s.kind) for s in sections] == [
        ("Expenses > Deadlines", CHANGED),
        ("Expenses > Mileage", REMOVED),
        ("Expenses > Records", UNCHANGED),
        ("Expenses > Taxis", ADDED),
    ]
    parts = sections[0].parts
    assert (DEL, "30") in parts and (INS, "60") in parts
    assert "".join(t for op, t in parts if op != INS) == V1[0]  # the old text, back
    assert "".join(t for op, t in parts if op != DEL) == V2[0]  # the new text, back
    assert text_changes("same words", "same words") == [("", "same words")]


@pytest.fixture
def hr(make_collection):
    return make_collection("hr", groups=["HR"])


@pytest.fixture
def expenses(hr):
    """Version 1 and the current version 2 of the expenses guidance."""
    document = factories.add_document(hr, V1, title="Expenses", headings=HEADINGS_V1)
    old = document.current_version
    new = publish_version(document, V2, headings=HEADINGS_V2)
    document.refresh_from_db()
    return document, old, new


@pytest.fixture
def reader(make_user):
    return make_user("rita@example.gov.uk", groups=["HR"])


@pytest.fixture
def outsider(make_user, make_collection):
    make_collection("finance", groups=["Finance"])
    return make_user("fred@example.gov.uk", groups=["Finance"])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(document, old, new, via=None) -> str:
    out = reverse("documents:version_changes", args=[document.pk, old.pk, new.pk])
    return f"{out}?via={via}" if via is not None else out


def cite(chunk: Chunk, user) -> None:
    conversation = Conversation.objects.create(owner=user)
    question = Message.objects.create(conversation=conversation, role=Speaker.USER, text="q")
    answer = Message.objects.create(conversation=conversation, role=Speaker.ASSISTANT, text="a [1]", question=question)
    Citation.objects.create(message=answer, n=1, chunk=chunk, version=chunk.version, quote=chunk.text)


def test_the_page_shows_each_changed_section_with_its_words_marked(expenses, reader):
    document, old, new = expenses
    response = client_for(reader).get(url(document, old, new))
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 section changed, 1 added, 1 removed, 1 unchanged." in html
    assert 'data-change="changed"' in html and 'data-change="added"' in html and 'data-change="removed"' in html
    assert '<del><span class="govuk-visually-hidden">[removed: </span>30<span' in html
    assert '<ins><span class="govuk-visually-hidden">[added: </span>60<span' in html
    assert "Taxis need a line manager&#x27;s approval first." in html
    assert "Mileage is paid at 45p a mile." in html
    assert "Sections that did not change (1)" in html


def test_readers_of_the_collection_and_its_curators_may_compare_everyone_else_gets_404(
    expenses, reader, outsider, curator, make_user
):
    document, old, new = expenses
    assert client_for(reader).get(url(document, old, new)).status_code == 200
    assert client_for(curator).get(url(document, old, new)).status_code == 200
    assert client_for(outsider).get(url(document, old, new)).status_code == 404
    nobody = make_user("nina@example.gov.uk")
    assert client_for(nobody).get(url(document, old, new)).status_code == 404
    # A document that does not exist, or a version of another document: the same 404.
    other = factories.add_document(document.collection, ["Another rule."], title="Other")
    missing = reverse("documents:version_changes", args=[999_999, old.pk, new.pk])
    assert client_for(reader).get(missing).status_code == 404
    assert client_for(reader).get(url(document, old, other.current_version)).status_code == 404
    assert Client().get(url(document, old, new)).status_code == 302  # sign in first


def test_an_unfinished_version_is_for_curators_only(expenses, reader, curator):
    document, _old, new = expenses
    draft = publish_version(document, ["Draft: claims within 90 days."], status=VersionStatus.EMBEDDING)
    assert client_for(reader).get(url(document, new, draft)).status_code == 404
    assert client_for(curator).get(url(document, new, draft)).status_code == 200


def test_once_the_document_is_retired_only_the_person_it_was_quoted_to_may_compare(
    expenses, reader, make_user, curator
):
    document, old, new = expenses
    other_reader = make_user("rob@example.gov.uk", groups=["HR"])
    quoted = old.chunks.get(ordinal=0)
    cite(quoted, reader)
    services.document_retire(document=document, user=curator)

    assert client_for(reader).get(url(document, old, new)).status_code == 404  # not without the citation
    for junk in ("²", "9" * 40, "-1", "x"):
        assert client_for(reader).get(url(document, old, new, via=junk)).status_code == 404
    page = client_for(reader).get(url(document, old, new, via=quoted.pk))
    assert page.status_code == 200 and b"60" in page.content
    event = AuditEvent.objects.get(action="version_changes.read_cited")
    assert event.actor_id == reader.pk and event.data["chunk_id"] == quoted.pk
    assert client_for(other_reader).get(url(document, old, new, via=quoted.pk)).status_code == 404
    # A passage of another version, cited or not, opens nothing.
    assert client_for(reader).get(url(document, new, old, via=quoted.pk)).status_code == 404
    assert client_for(curator).get(url(document, old, new)).status_code == 200


def test_a_retired_collections_reader_may_not_compare_even_what_was_quoted_to_them(expenses, reader, curator):
    document, old, new = expenses
    quoted = old.chunks.get(ordinal=0)
    cite(quoted, reader)
    services.collection_retire(collection=document.collection, user=curator)
    assert client_for(reader).get(url(document, old, new)).status_code == 404
    assert client_for(reader).get(url(document, old, new, via=quoted.pk)).status_code == 404


def test_the_curators_document_page_links_to_what_changed(expenses, curator):
    document, old, new = expenses
    html = client_for(curator).get(reverse("documents:document", args=[document.pk])).content.decode()
    assert f'href="{url(document, old, new)}"' in html
    assert "See what changed from version 1 to version 2" in html
