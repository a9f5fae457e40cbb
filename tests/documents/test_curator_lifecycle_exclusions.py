"""A switched-off passage and a new version (curators' walk, defect 1). Measured before: every chunk of
the new version was "Searched", readers were quoted the switched-off text again, and nothing warned
the curator. Now a passage whose text is unchanged stays switched off (same reason, who and when,
audited as carried over); one whose text changed is searched again, and the curator is told on the
new version's page and the document's page."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from documents.models import Chunk, Document
from documents.retrieval import passages_for_user
from tests.conftest import signed_in
from tests.documents.files import upload_and_ingest

pytestmark = pytest.mark.django_db

MILEAGE = "Mileage is paid at 40p a mile for the first 10,000 miles in a tax year."
CLAIMS = "Claims must be made within three months of the journey."
CLAIMS_NEW = "Claims must be made within two months of the journey."
HOTELS = "Hotels in London are paid up to 150 pounds a night, breakfast included."
HOTELS_NEW = "Hotels in London are paid up to 180 pounds a night, breakfast included."
PARKING = "Parking at airports is paid for up to seven days a trip."
PARKING_NEW = "Parking at airports is paid for up to ten days a trip."


def guide(*, claims: str = CLAIMS, hotels: str = HOTELS, parking: str = PARKING) -> bytes:
    """Travel guidance in four sections, each long enough to be a chunk of its own."""

    def section(heading: str, rule: str) -> str:
        notes = " ".join(
            f"{heading} note {i} applies to every journey made under this part of the policy." for i in range(5)
        )
        return f"## {heading}\n\n{rule} {notes}\n"

    parts = [
        section("Mileage", MILEAGE),
        section("Claims", claims),
        section("Hotels", hotels),
        section("Parking", parking),
    ]
    return ("# Travel\n\n" + "\n".join(parts)).encode()


@pytest.fixture
def travel(make_collection, curator):
    collection = make_collection("travel")
    version = upload_and_ingest(collection, "travel.md", guide(), curator)
    assert version.status == "ready"
    return version


def chunk_with(version, text: str) -> Chunk:
    (chunk,) = [c for c in Chunk.objects.filter(version=version) if text in c.text]
    return chunk


def switch_off(client, chunk: Chunk, reason: str) -> None:
    response = client.post(
        reverse("documents:chunk_exclusion", args=[chunk.pk]), {"action": "exclude", "reason": reason}
    )
    assert response.status_code == 302


def quoted(reader, query: str) -> str:
    return " ".join(p.text for p in passages_for_user(user=reader, query=query, collections=["travel"], k=8))


def chunk_tags(html: str) -> dict[int, str]:
    """Each chunk card's tag on a version page, by chunk id."""
    cards = re.findall(r'id="chunk-(\d+)".*?govuk-tag[^>]*>([^<]*)</strong>', html, re.S)
    return {int(pk): tag for pk, tag in cards}


def test_an_unchanged_switched_off_passage_stays_off_in_the_next_versions(client, travel, curator, reader):
    """Version 1's switched-off mileage passage, unchanged in versions 2 and 3 (each changing one
    unrelated sentence): still off, with the same reason, by the same person, at the same time;
    never quoted to a reader; shown "Switched off" on the version page; audited as carried over."""
    signed_in(client, curator)
    assert MILEAGE in quoted(reader, "mileage paid per mile")
    switch_off(client, chunk_with(travel, MILEAGE), "The rate is 45p since April.")
    original = chunk_with(travel, MILEAGE)
    assert MILEAGE not in quoted(reader, "mileage paid per mile")

    v2 = upload_and_ingest(travel.document.collection, "travel.md", guide(claims=CLAIMS_NEW), curator)
    v3 = upload_and_ingest(
        travel.document.collection, "travel.md", guide(claims=CLAIMS_NEW, parking=PARKING_NEW), curator
    )
    assert (v2.number, v3.number) == (2, 3)
    for version in (v2, v3):
        carried = chunk_with(version, MILEAGE)
        assert not carried.searchable
        assert (carried.excluded_at, carried.excluded_by_id, carried.excluded_reason) == (
            original.excluded_at,
            curator.pk,
            "The rate is 45p since April.",
        )
    assert Document.objects.get(pk=travel.document_id).current_version_id == v3.pk

    # The reader's side: the switched-off text is not quoted; the new text around it is.
    assert MILEAGE not in quoted(reader, "mileage paid per mile")
    assert "two months" in quoted(reader, "how long to make claims after the journey")
    assert "ten days" in quoted(reader, "airport parking days")

    page = client.get(reverse("documents:version", args=[v3.pk])).content.decode()
    tags = chunk_tags(page)
    assert tags[chunk_with(v3, MILEAGE).pk] == "Switched off"
    assert tags[chunk_with(v3, CLAIMS_NEW).pk] == "Searched"
    assert 'id="lapsed-exclusions"' not in page  # nothing changed that was switched off

    events = AuditEvent.objects.filter(action="curation.passage_exclude", outcome="carried_over").order_by("seq")
    assert [(e.data["version_id"], e.data["from_version_id"]) for e in events] == [(v2.pk, travel.pk), (v3.pk, v2.pk)]
    assert all(e.actor_id is None and e.content.body == {"reason": "The rate is 45p since April."} for e in events)
    assert events[0].data["from_chunk_id"] == original.pk and events[0].subject == f"chunk:{chunk_with(v2, MILEAGE).pk}"


def test_a_switched_off_passage_whose_text_changed_is_searched_and_the_curator_is_told(client, travel, curator, reader):
    """Two switched-off passages changed in version 2 (and one unchanged): the changed ones are new
    text, searched; the version's page and the document's page say "2 passages you switched off in
    version 1 were changed in version 2 and are searched again: check them", listing each with its
    reason; each lapse is audited. The unchanged one stays off."""
    signed_in(client, curator)
    for text in (MILEAGE, HOTELS, PARKING):
        switch_off(client, chunk_with(travel, text), f"Wrong: {text.split()[0]}")

    v2 = upload_and_ingest(
        travel.document.collection, "travel.md", guide(hotels=HOTELS_NEW, parking=PARKING_NEW), curator
    )
    assert chunk_with(v2, HOTELS_NEW).searchable and chunk_with(v2, HOTELS_NEW).excluded_at is None
    assert chunk_with(v2, PARKING_NEW).searchable
    assert not chunk_with(v2, MILEAGE).searchable
    assert "180 pounds" in quoted(reader, "London hotel nightly rate")
    assert MILEAGE not in quoted(reader, "mileage paid per mile")

    told = "2 passages you switched off in version 1 were changed in version 2 and are searched again"
    version_page = client.get(reverse("documents:version", args=[v2.pk])).content.decode()
    assert told in " ".join(version_page.split())
    lapsed_list = version_page[version_page.index('id="lapsed-list"') :]
    lapsed_list = lapsed_list[: lapsed_list.index("</ul>")]
    for text in (HOTELS, PARKING):
        assert reverse("documents:chunk", args=[chunk_with(travel, text).pk]) in lapsed_list
        assert f"“Wrong: {text.split()[0]}”" in lapsed_list
    assert reverse("documents:chunk", args=[chunk_with(travel, MILEAGE).pk]) not in lapsed_list
    assert reverse("documents:version_changes", args=[travel.document_id, travel.pk, v2.pk]) in version_page

    document_page = client.get(reverse("documents:document", args=[travel.document_id])).content.decode()
    assert told in " ".join(document_page.split())

    lapses = AuditEvent.objects.filter(action="curation.passage_include", outcome="text_changed")
    assert sorted(e.data["chunk_id"] for e in lapses) == sorted(chunk_with(travel, t).pk for t in (HOTELS, PARKING))
    assert all(e.data["new_version_id"] == v2.pk and e.actor_id is None for e in lapses)


def test_one_lapsed_passage_is_told_in_the_singular_and_a_curator_may_switch_the_new_text_off(
    client, travel, curator, reader
):
    signed_in(client, curator)
    switch_off(client, chunk_with(travel, HOTELS), "Rates rose.")
    v2 = upload_and_ingest(travel.document.collection, "travel.md", guide(hotels=HOTELS_NEW), curator)
    page = " ".join(client.get(reverse("documents:version", args=[v2.pk])).content.decode().split())
    assert "1 passage you switched off in version 1 was changed in version 2 and is searched again: check it." in page

    switch_off(client, chunk_with(v2, HOTELS_NEW), "Still wrong.")
    assert "180 pounds" not in quoted(reader, "London hotel nightly rate")
    v3 = upload_and_ingest(
        travel.document.collection, "travel.md", guide(hotels=HOTELS_NEW, claims=CLAIMS_NEW), curator
    )
    assert chunk_with(v3, HOTELS_NEW).excluded_reason == "Still wrong."
    assert "180 pounds" not in quoted(reader, "London hotel nightly rate")


def test_only_the_collections_curators_see_the_new_versions_notice(client, travel, curator, reader, make_user):
    signed_in(client, curator)
    switch_off(client, chunk_with(travel, HOTELS), "Rates rose.")
    v2 = upload_and_ingest(travel.document.collection, "travel.md", guide(hotels=HOTELS_NEW), curator)
    client.logout()
    outsider = make_user("olu@example.gov.uk", roles=[Role.CURATOR])
    assert signed_in(client, outsider).get(reverse("documents:version", args=[v2.pk])).status_code == 404
    client.logout()
    assert signed_in(client, reader).get(reverse("documents:version", args=[v2.pk])).status_code == 403
