"""Owners and review dates (issue 22, the curators' half): statuses at their edges, review dates read
from files at ingestion, and what a new version keeps and clears (the pages, search and reminders:
tests/documents/test_review_pages.py)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditEvent
from documents.ingest.formats.base import ParseLimits
from documents.ingest.formats.word import docx_review_by
from documents.models import Chunk, Document
from documents.review import ReviewStatus, add_months, review_of, review_status
from documents.services.review import document_review_confirm, document_review_set
from tests.documents.files import make_docx, upload_and_ingest

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)
RULE = "Claims for travel must be made within 30 days of the journey, with receipts attached."


# --- Statuses, without the database ---------------------------------------------------------


@pytest.mark.parametrize(
    ("days_until_review", "status"),
    [
        (31, ReviewStatus.CURRENT),
        (30, ReviewStatus.DUE),  # the first day of the 30-day window
        (0, ReviewStatus.DUE),  # the review date itself
        (-1, ReviewStatus.OVERDUE),
        (-400, ReviewStatus.OVERDUE),  # no expiry: overdue for ever, still searched
    ],
)
def test_status_edges_without_expiry(days_until_review, status):
    review = review_status(TODAY + dt.timedelta(days=days_until_review), "curator", None, today=TODAY)
    assert review.status == status
    assert review.expires_on is None


@pytest.mark.parametrize(
    ("days_past", "status"), [(1, ReviewStatus.OVERDUE), (7, ReviewStatus.OVERDUE), (8, "expired")]
)
def test_status_expires_the_day_after_its_expiry_day(days_past, status):
    review = review_status(TODAY - dt.timedelta(days=days_past), "curator", 7, today=TODAY)
    assert review.status == status
    assert review.expires_on == TODAY - dt.timedelta(days=days_past) + dt.timedelta(days=7)


def test_expiry_of_zero_days_expires_the_day_after_the_review_date():
    assert review_status(TODAY, "collection", 0, today=TODAY).status == ReviewStatus.DUE
    assert review_status(TODAY - dt.timedelta(days=1), "collection", 0, today=TODAY).status == ReviewStatus.EXPIRED


def test_a_collection_with_no_review_period_gives_no_review_date():
    from documents.review import review_date

    uploaded = timezone.make_aware(dt.datetime(2020, 1, 1, 12))
    assert review_date(
        document_review_by=None, document_source="", version_review_by=None, uploaded_at=uploaded, review_months=0
    ) == (None, "")
    assert review_status(None, "", 7, today=TODAY).status == ReviewStatus.NONE
    # A date of its own still counts in such a collection.
    assert review_date(
        document_review_by=None,
        document_source="",
        version_review_by=TODAY,
        uploaded_at=uploaded,
        review_months=0,
    ) == (TODAY, "file")


def test_add_months_keeps_to_the_end_of_short_months():
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2026, 6, 15), 12) == dt.date(2027, 6, 15)


# --- Review dates from the file -------------------------------------------------------------


def _markdown(front: str) -> bytes:
    return f"---\ntitle: Travel claims\n{front}\n---\n# Claims\n\n{RULE}\n".encode()


@pytest.mark.parametrize(
    "front",
    ["review_by: 2027-03-01", "review_by: '2027-03-01'", 'review_by: "2027-03-01T09:30:00Z"', "Review-By: 2027-03-01"],
)
def test_front_matter_review_date_is_read_at_ingestion(make_collection, curator, front):
    collection = make_collection("travel")
    version = upload_and_ingest(collection, "claims.md", _markdown(front), curator)
    assert version.status == "ready"
    assert version.review_by == dt.date(2027, 3, 1)
    document = Document.objects.select_related("collection", "current_version").get(pk=version.document_id)
    assert review_of(document).source == "file"
    assert "review_by" not in Chunk.objects.filter(version=version).first().text  # front matter is not indexed


def test_front_matter_without_a_real_date_gives_none(make_collection, curator):
    collection = make_collection("travel")
    version = upload_and_ingest(collection, "claims.md", _markdown("review_by: next spring"), curator)
    assert version.status == "ready"
    assert version.review_by is None


def with_custom_properties(data: bytes, properties: dict[str, str], *, kind: str = "lpwstr") -> bytes:
    """``data`` (a .docx) with custom document properties, as Word writes them."""
    props = "".join(
        f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{n}" name="{name}">'
        f"<vt:{kind}>{value}</vt:{kind}></property>"
        for n, (name, value) in enumerate(properties.items(), start=2)
    )
    custom = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">' + props + "</Properties>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "[Content_Types].xml":
                body = body.replace(
                    b"</Types>",
                    b'<Override PartName="/docProps/custom.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>',
                )
            elif info.filename == "_rels/.rels":
                body = body.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdCustom" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    b'relationships/custom-properties" Target="docProps/custom.xml"/></Relationships>',
                )
            target.writestr(info, body)
        target.writestr("docProps/custom.xml", custom)
    return out.getvalue()


def _docx() -> bytes:
    return make_docx([("Heading 1", "Claims"), ("", RULE)], title="Travel claims")


@pytest.mark.parametrize(
    ("properties", "kind", "expected"),
    [
        ({"review_by": "2027-03-01"}, "lpwstr", dt.date(2027, 3, 1)),
        ({"Department": "HR", "Review by": "2027-04-02T00:00:00Z"}, "filetime", dt.date(2027, 4, 2)),
        ({"ReviewDate": "2027-05-03"}, "lpwstr", dt.date(2027, 5, 3)),
        ({"Department": "HR"}, "lpwstr", None),
        ({"review_by": "soon"}, "lpwstr", None),
    ],
)
def test_docx_custom_property_review_date(properties, kind, expected):
    assert docx_review_by(with_custom_properties(_docx(), properties, kind=kind), ParseLimits()) == expected


def test_docx_without_custom_properties_or_with_hostile_ones_gives_none():
    assert docx_review_by(_docx(), ParseLimits()) is None
    # Entities are not expanded (nor fetched): no date comes out of one.
    hostile = with_custom_properties(_docx(), {"review_by": "&date;"})
    data = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(hostile)) as source, zipfile.ZipFile(data, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "docProps/custom.xml":
                body = body.replace(
                    b"<Properties", b'<!DOCTYPE Properties [<!ENTITY date "2027-03-01">]><Properties', 1
                )
            target.writestr(info, body)
    assert docx_review_by(data.getvalue(), ParseLimits()) is None
    # An oversized properties part is not read.
    big = with_custom_properties(_docx(), {"review_by": "2027-03-01", "padding": "x" * (1024 * 1024 + 10)})
    assert docx_review_by(big, ParseLimits()) is None


def test_docx_review_date_is_read_at_ingestion(make_collection, curator):
    collection = make_collection("travel")
    data = with_custom_properties(_docx(), {"Review by": "2027-03-01"})
    version = upload_and_ingest(collection, "claims.docx", data, curator)
    assert version.status == "ready", version.error
    assert version.review_by == dt.date(2027, 3, 1)


# --- Owners, a curator's date, confirmations and new versions -------------------------------


def test_the_first_uploader_owns_a_new_document(make_collection, curator, make_user):
    collection = make_collection("travel")
    version = upload_and_ingest(collection, "claims.md", _markdown("x: 1"), curator)
    other = make_user("olu@example.gov.uk", roles=[Role.CURATOR])
    collection.curators.add(other)
    upload_and_ingest(collection, "claims.md", _markdown("x: 2"), other)  # a new version keeps the owner
    assert Document.objects.get(pk=version.document_id).owner_email == curator.email


def test_a_curators_date_is_kept_across_a_new_version_and_a_confirmation_is_cleared(make_collection, curator):
    collection = make_collection("travel")
    first = upload_and_ingest(collection, "claims.md", _markdown("x: 1"), curator)
    document = Document.objects.get(pk=first.document_id)
    set_day = timezone.localdate() + dt.timedelta(days=100)
    document_review_set(document=document, user=curator, owner_email="team@example.gov.uk", review_by=set_day)
    upload_and_ingest(collection, "claims.md", _markdown("x: 2"), curator)
    document.refresh_from_db()
    assert (document.review_by, document.review_by_source) == (set_day, "curator")
    assert document.owner_email == "team@example.gov.uk"

    document_review_confirm(document=document, user=curator)
    document.refresh_from_db()
    assert document.review_by_source == "reviewed"
    third = upload_and_ingest(collection, "claims.md", _markdown("x: 3"), curator)
    document.refresh_from_db()
    assert document.current_version_id == third.pk
    assert (document.review_by, document.review_by_source) == (None, "")
    review = review_of(Document.objects.select_related("collection", "current_version").get(pk=document.pk))
    assert review.source == "collection"
    assert review.review_by == add_months(timezone.localdate(third.uploaded_at), 12)
    cleared = AuditEvent.objects.get(action="curation.document_review", outcome="confirmation_cleared")
    assert cleared.data["document_id"] == document.pk and cleared.data["version_id"] == third.pk


def test_use_the_collections_period_clears_a_curators_date(make_collection, curator):
    collection = make_collection("travel")
    version = upload_and_ingest(collection, "claims.md", _markdown("review_by: 2027-03-01"), curator)
    document = Document.objects.get(pk=version.document_id)
    document_review_set(document=document, user=curator, owner_email=curator.email, review_by=dt.date(2026, 12, 1))
    document_review_set(document=document, user=curator, owner_email=curator.email, review_by=None)
    document = Document.objects.select_related("collection", "current_version").get(pk=document.pk)
    assert review_of(document).review_by == dt.date(2027, 3, 1)  # the file's own date again
    events = AuditEvent.objects.filter(action="curation.document_review", outcome="set").order_by("seq")
    assert [e.data["review_by_source"] for e in events] == ["curator", "file"]
