"""The stale documents table (issue 22): where a document has a review date it is stale when due,
overdue or expired, whatever its age; where it has none, when older than HUMPHREY_INSIGHTS_STALE_DAYS;
those still cited most in the period come first, then the oldest. Seeded as tests/insights/conftest.py
describes: A cited by 5 answers (5 askers), B by 2 (2 askers), C uploaded 400 days ago and cited only
40 days ago, D retired."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from documents.models import Document
from tests.insights.test_dashboard import client_for, csv_table

pytestmark = pytest.mark.django_db


def review_on(document: Document, days_from_today: int) -> None:
    Document.objects.filter(pk=document.pk).update(
        review_by=timezone.localdate() + dt.timedelta(days=days_from_today), review_by_source="curator"
    )


def titles(rows) -> list[str]:
    return [row[0] for row in rows[1:]]


def test_stale_documents_still_cited_often_rank_first(seeded, settings):
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 1
    review_on(seeded.docs["A"], 10)  # due
    review_on(seeded.docs["B"], -3)  # overdue
    rows = csv_table(client_for(seeded.hr_curator), "hr", "stale")
    assert rows[0] == ["Document", "Current version uploaded", "Age (days)", "Review", "Review by", "Answers citing it"]
    assert titles(rows) == ["Annual leave policy", "Shared parental leave guidance", "Flexible working"]
    assert [row[3] for row in rows[1:]] == ["Due for review", "Overdue", "Overdue"]
    assert [row[5] for row in rows[1:]] == ["5", "2", ""]
    assert rows[1][4] == (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    # Over 90 days, C's answer of 40 days ago counts too: still below B's two.
    assert titles(csv_table(client_for(seeded.hr_curator), "hr", "stale", period=90))[2] == "Flexible working"


def test_citations_below_the_privacy_threshold_do_not_order_the_table(seeded):
    """With five people needed, B's two askers count as nothing: C (older) comes before it, and its
    figure is not shown."""
    review_on(seeded.docs["A"], 10)
    review_on(seeded.docs["B"], -3)
    rows = csv_table(client_for(seeded.hr_curator), "hr", "stale")
    assert titles(rows) == ["Annual leave policy", "Flexible working", "Shared parental leave guidance"]
    assert [row[5] for row in rows[1:]] == ["5", "", ""]


def test_a_review_date_ahead_keeps_an_old_document_off_the_table(seeded, settings):
    """C's current version is 400 days old, but a curator confirmed it until next year: not stale. An
    expired document is, and says it is no longer searched."""
    review_on(seeded.docs["C"], 200)
    client = client_for(seeded.hr_curator)
    assert titles(csv_table(client, "hr", "stale")) == []
    seeded.hr.expire_after_days = 5
    seeded.hr.save(update_fields=["expire_after_days"])
    review_on(seeded.docs["C"], -30)
    rows = csv_table(client, "hr", "stale")
    assert titles(rows) == ["Flexible working"]
    assert rows[1][3] == "Expired: no longer searched"


def test_the_stale_table_costs_one_query_for_many_documents(seeded, django_assert_max_num_queries):
    from insights import selectors

    for key in ("A", "B", "C"):
        review_on(seeded.docs[key], -1)
    with django_assert_max_num_queries(1):
        stale = selectors.documents_stale(seeded.hr, older_than_days=365)
    assert len(stale) == 3
