"""The curators' review list makes as many queries for many documents, in many collections, as for one
(statuses come from ``documents.review`` over one query); the document page's review section adds no
query per version either (tests/documents/test_queries.py covers the rest of that page)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from documents.services.review import document_review_set
from tests import factories
from tests.documents.test_queries import RULE, assert_same_count, client_for, queries

pytestmark = pytest.mark.django_db


def overdue(collection, curator, text: str, *, days_past: int = 10, owner: str = ""):
    document = factories.add_document(collection, [text])
    return document_review_set(
        document=document,
        user=curator,
        owner_email=owner or curator.email,
        review_by=timezone.localdate() - dt.timedelta(days=days_past),
    )


@pytest.mark.parametrize("sort", ["review_by", "-status", "collection", "title", "-owner"])
def test_the_review_list_makes_as_many_queries_for_many_documents_as_for_one(make_collection, curator, sort):
    hr = make_collection("hr", groups=["HR"])
    overdue(hr, curator, RULE)
    client = client_for(curator)
    url = f"/curate/review/?sort={sort}"
    queries(client, url)
    one = queries(client, url)

    finance = make_collection("finance", groups=["Finance"])
    for n in range(6):
        collection = (hr, finance)[n % 2]
        overdue(collection, curator, f"{RULE} ({n})", days_past=(-10, 5, 400)[n % 3], owner=f"team{n}@example.gov.uk")
    many = queries(client, url)

    assert client.get(url).content.count(b'data-document="') == 7
    assert_same_count(one, many)
