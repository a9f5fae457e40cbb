"""An expired document on the curators' pages (curators' walk, defect 2). Measured before: its page said
"Expired … not searched after …" and "Searched: Yes, version 2" at once; the collections list counted
it among the searchable documents; the collection's table showed its version "Ready" with no tag;
saving the date or the collection's expiry that stopped it being searched said nothing; and
uploading a new version, as the review list advises, kept the curator's passed date, so the new
version stayed unsearched while its page said "Searched: Yes, version 3".

Now every page asks what retrieval asks (``Chunk.objects.searched``, the retrieval statement's own
condition), saving says what stopped being searched, a past date is taken with a warning, and a
new version clears a curator's date that has passed (one still ahead is kept)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from documents.models import Chunk, Document
from documents.retrieval import passages_for_user
from documents.retrieval.sql import SEARCHABLE
from documents.review import ReviewStatus, add_months, review_of
from documents.services import collection_update, version_ingest
from documents.services.review import document_review_set
from tests import factories
from tests.conftest import signed_in
from tests.documents.conftest import notices
from tests.documents.files import upload_and_ingest

pytestmark = pytest.mark.django_db


def holiday(rule: str = "You get 25 days of holiday a year, plus bank holidays.") -> bytes:
    return f"# Holiday entitlement\n\n{rule}\n".encode()


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def text(response) -> str:
    return " ".join(response.content.decode().split())


def quoted_documents(reader) -> list[int]:
    return [p.document_id for p in passages_for_user(user=reader, query="holiday days a year", collections=["hr"], k=5)]


def date_form(day: dt.date, **extra) -> dict:
    return {
        "owner_email": "hr-team@example.gov.uk",
        "review_from": "date",
        "review_day": str(day.day),
        "review_month": str(day.month),
        "review_year": str(day.year),
        **extra,
    }


def test_the_pages_say_an_expired_document_is_not_searched_as_retrieval_does(client, hr, curator, reader):
    """A review date 60 days past, 30 days' expiry: "Searched: No: its review date passed on …
    (expired)" on its page, left out of the list's count, tagged expired in the collection's table
    and "Not searched: expired" on its version's page; and indeed never quoted to a reader."""
    version = upload_and_ingest(hr, "holiday.md", holiday(), curator)
    upload_and_ingest(hr, "travel.md", b"# Travel\n\nRail travel is standard class.\n", curator)
    document = Document.objects.get(pk=version.document_id)
    past = timezone.localdate() - dt.timedelta(days=60)
    document_review_set(document=document, user=curator, owner_email=curator.email, review_by=past)
    collection_update(collection=hr, user=curator, expire_after_days=30)
    assert document.pk not in quoted_documents(reader)

    signed_in(client, curator)
    page = text(client.get(reverse("documents:document", args=[document.pk])))
    searched_row = re.search(r'id="searched">(.*?)</dd>', page).group(1)
    assert searched_row == f"No: its review date passed on {long_date(past)} (expired)"
    assert "Yes, version" not in page

    listing = client.get(reverse("documents:collections")).content.decode()
    cells = re.findall(r'<td class="govuk-table__cell govuk-table__cell--numeric">([^<]*)</td>', listing)
    assert cells == ["1 of 2"]

    table = client.get(reverse("documents:collection", args=[hr.slug])).content.decode()
    assert f'data-not-searched="{document.pk}">Expired</strong>' in table
    assert f"Not searched: its review date passed on {long_date(past)}" in table
    assert table.count("data-not-searched=") == 1  # the travel guidance is searched

    version_page = client.get(reverse("documents:version", args=[version.pk])).content.decode()
    assert "Not searched: expired" in version_page and ">Searched</strong>" not in version_page


def test_saving_a_past_review_date_is_taken_with_a_warning_that_says_it_is_no_longer_searched(
    client, hr, curator, reader
):
    """The date typed as in the walk (60 days ago, the collection stopping 30 days after): saved, with
    a warning on the page after saving, naming the date and saying it is no longer searched."""
    collection_update(collection=hr, user=curator, expire_after_days=30)
    version = upload_and_ingest(hr, "holiday.md", holiday(), curator)
    past = timezone.localdate() - dt.timedelta(days=60)
    signed_in(client, curator)
    response = client.post(
        reverse("documents:document_review", args=[version.document_id]), date_form(past), follow=True
    )
    assert response.status_code == 200
    page = text(response)
    assert "Important" in page  # a warning banner, not a success
    assert f"the review date you set, {long_date(past)}, has already passed" in page
    stopped = f"“Holiday entitlement” is no longer searched: its review date, {long_date(past)}, passed more"
    assert f"{stopped} than 30 days ago." in page
    document = Document.objects.get(pk=version.document_id)
    assert (document.review_by, document.review_by_source) == (past, "curator")
    assert version.document_id not in quoted_documents(reader)


def test_a_past_date_within_the_expiry_warns_when_it_will_stop_being_searched(client, hr, curator, reader):
    collection_update(collection=hr, user=curator, expire_after_days=30)
    version = upload_and_ingest(hr, "holiday.md", holiday(), curator)
    past = timezone.localdate() - dt.timedelta(days=5)
    signed_in(client, curator)
    response = client.post(reverse("documents:document_review", args=[version.document_id]), date_form(past))
    (said,) = notices(response)
    assert f"the review date you set, {long_date(past)}, has already passed" in said
    assert f"It will not be searched after {long_date(past + dt.timedelta(days=30))}." in said
    assert quoted_documents(reader) == [version.document_id]


def test_a_future_date_is_saved_as_before(client, hr, curator):
    version = upload_and_ingest(hr, "holiday.md", holiday(), curator)
    signed_in(client, curator)
    ahead = timezone.localdate() + dt.timedelta(days=90)
    response = client.post(reverse("documents:document_review", args=[version.document_id]), date_form(ahead))
    assert notices(response) == ["Changes to “Holiday entitlement” saved."]


def test_saving_the_collections_expiry_says_which_documents_stop_being_searched(client, hr, curator, reader):
    """Two documents 60 days past their review dates, one 10 days past: setting 30 days' expiry says
    "2 documents are no longer searched: their review dates passed more than 30 days ago"; the audit
    event names them; emptying the field says they are searched again."""
    today = timezone.localdate()
    stopped = []
    for name, days in (("holiday.md", 60), ("sickness.md", 60), ("travel.md", 10)):
        version = upload_and_ingest(hr, name, f"# {name}\n\nHoliday days a year rule for {name}.\n".encode(), curator)
        document = Document.objects.get(pk=version.document_id)
        document_review_set(
            document=document, user=curator, owner_email=curator.email, review_by=today - dt.timedelta(days=days)
        )
        if days == 60:
            stopped.append(document.pk)
    signed_in(client, curator)
    url = reverse("documents:collection_edit", args=[hr.slug])
    form = {"name": hr.name, "description": "", "marking": hr.marking, "review_months": "12"}
    response = client.post(url, {**form, "expire_after_days": "30"})
    assert response.status_code == 302
    said = notices(response)
    assert "2 documents are no longer searched: their review dates passed more than 30 days ago." in said
    event = AuditEvent.objects.filter(action="curation.collection_update").latest("seq")
    assert sorted(event.data["documents_no_longer_searched"]) == sorted(stopped)
    assert sorted(quoted_documents(reader)) == sorted(set(Document.objects.values_list("pk", flat=True)) - set(stopped))

    response = client.post(url, {**form, "expire_after_days": ""})
    assert "2 documents are searched again: their review dates are no longer past the collection's expiry." in notices(
        response
    )


def test_a_new_version_clears_a_curators_passed_date_and_is_searched(client, hr, curator, reader):
    """The review list's advice followed: a new version of an expired document whose curator-set date
    has passed. The upload says the date is cleared once the new version is read; then the
    collection's period applies, the new version is searched and its page says so; audited."""
    collection_update(collection=hr, user=curator, expire_after_days=30)
    v1 = upload_and_ingest(hr, "holiday.md", holiday(), curator)
    past = timezone.localdate() - dt.timedelta(days=60)
    document_review_set(
        document=Document.objects.get(pk=v1.document_id), user=curator, owner_email=curator.email, review_by=past
    )
    assert quoted_documents(reader) == []

    signed_in(client, curator)
    upload = SimpleUploadedFile("holiday.md", holiday("You get 27 days of holiday a year, plus bank holidays."))
    response = client.post(reverse("documents:collection_upload", args=[hr.slug]), {"files": [upload]})
    said = " ".join(notices(response))
    assert f"“Holiday entitlement”: its review date, {long_date(past)}, has passed, so it is cleared" in said
    assert quoted_documents(reader) == []  # the expired version is not searched while the new one is read

    v2 = v1.document.versions.get(number=2)
    version_ingest(v2.pk)
    document = Document.objects.select_related("collection", "current_version").get(pk=v1.document_id)
    assert (document.review_by, document.review_by_source) == (None, "")
    review = review_of(document)
    assert review.source == "collection" and review.status == ReviewStatus.CURRENT
    assert review.review_by == add_months(timezone.localdate(v2.uploaded_at), 12)
    assert quoted_documents(reader) == [document.pk]
    assert "27 days" in passages_for_user(user=reader, query="holiday days a year", collections=["hr"], k=1)[0].text
    page = text(client.get(reverse("documents:document", args=[document.pk])))
    assert re.search(r'id="searched">(.*?)</dd>', page).group(1) == "Yes, version 2"
    event = AuditEvent.objects.get(action="curation.document_review", outcome="date_cleared")
    assert event.data["previous_review_by"] == past.isoformat() and event.data["version_id"] == v2.pk


def test_a_new_version_keeps_a_curators_date_still_ahead(client, hr, curator):
    v1 = upload_and_ingest(hr, "holiday.md", holiday(), curator)
    ahead = timezone.localdate() + dt.timedelta(days=100)
    document_review_set(
        document=Document.objects.get(pk=v1.document_id), user=curator, owner_email=curator.email, review_by=ahead
    )
    signed_in(client, curator)
    upload = SimpleUploadedFile("holiday.md", holiday("You get 27 days of holiday a year."))
    response = client.post(reverse("documents:collection_upload", args=[hr.slug]), {"files": [upload]})
    assert "cleared" not in " ".join(notices(response))
    version_ingest(v1.document.versions.get(number=2).pk)
    document = Document.objects.get(pk=v1.document_id)
    assert (document.review_by, document.review_by_source) == (ahead, "curator")
    assert not AuditEvent.objects.filter(action="curation.document_review", outcome="date_cleared").exists()


def test_what_the_pages_count_as_searched_is_what_the_retrieval_statement_searches(hr):
    """``Chunk.objects.searched`` and the retrieval SQL's own condition pick the same chunks, in every
    state: searchable or not, with no expiry, one passed, one ahead."""
    now = timezone.now()
    states = [
        (True, None),
        (True, now - dt.timedelta(minutes=1)),
        (True, now + dt.timedelta(days=1)),
        (False, None),
        (False, now + dt.timedelta(days=1)),
    ]
    ids = []
    for searchable, until in states:
        document = factories.add_document(hr, ["Holiday is 25 days a year."], searchable=searchable)
        chunk = Chunk.objects.get(version__document=document)
        Chunk.objects.filter(pk=chunk.pk).update(search_until=until)
        ids.append(chunk.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ch.id FROM {Chunk._meta.db_table} ch WHERE ch.id = ANY(%s) AND {SEARCHABLE}", [ids])
        by_sql = {row[0] for row in cursor.fetchall()}
    assert by_sql == set(Chunk.objects.searched().filter(pk__in=ids).values_list("pk", flat=True)) == {ids[0], ids[2]}
