"""An auditor says why they are reading before any page showing what people asked; the reason is
recorded when given and with every reading made for it, lapses, and is asked again after sign-out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditEvent
from audit.purpose import SESSION_KEY

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators"),
]

CONTENT_PAGES = [
    "/audit/",
    "/audit/event/1/",
    "/audit/conversation/12/",
    "/audit/export.csv?action=",
    "/audit/export.jsonl?action=",
    "/audit/person/?email=casey@example.gov.uk",
    "/audit/person/export.jsonl?email=casey@example.gov.uk",
    "/audit/person/records.json?email=casey@example.gov.uk",
]


def forget_reason(client) -> None:
    session = client.session
    session.pop(SESSION_KEY, None)
    session.save()


@pytest.mark.parametrize("url", CONTENT_PAGES)
def test_no_page_showing_what_people_asked_without_a_reason(client, auditor, civil_servant, record_answer, url):
    record_answer(civil_servant, conversation_id=12, question="Is my sick note private?")
    client.force_login(auditor)
    forget_reason(client)
    before = AuditEvent.objects.count()
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/audit/purpose/?next=")
    assert AuditEvent.objects.count() == before  # nothing read, nothing exported

    given = client.post("/audit/purpose/", {"reference": "  SAR-2026-0114  ", "next": url})
    # A download is never gone to from the reason page: the page offering it is, with its query.
    offered = {"export": "/audit/", "person": "/audit/person/"}
    page, query = url.split("?", 1) if "?" in url else (url, "")
    if page.endswith((".csv", ".jsonl", ".json")):
        expected = offered["person" if "/person/" in page else "export"] + "?" + query
    else:
        expected = url
    assert given.status_code == 302 and given["Location"] == expected
    stated = AuditEvent.objects.filter(action="audit.purpose").latest("seq")
    assert stated.actor_id == auditor.pk and stated.data["purpose"] == "SAR-2026-0114"

    response = client.get(url)
    assert response.status_code == 200
    if response.streaming:
        body = b"".join(response).decode()
        assert '"purpose": "SAR-2026-0114"' in body or url.startswith("/audit/export.csv")
    else:
        text = response.content.decode()
        assert "Reading for: <strong>SAR-2026-0114</strong>" in text or '"purpose": "SAR-2026-0114"' in text
    readings = AuditEvent.objects.filter(seq__gt=stated.seq, actor=auditor).exclude(action="audit.export_key")
    assert readings.exists() and all(e.data.get("purpose") == "SAR-2026-0114" for e in readings)


def test_checking_integrity_needs_no_reason(client, auditor):
    """Verification and the export check show no one's questions."""
    client.force_login(auditor)
    forget_reason(client)
    assert client.get("/audit/verify/").status_code == 200
    assert client.get("/audit/verify/export/").status_code == 200


@pytest.mark.parametrize(
    ("reference", "error"),
    [
        ("", "Enter a case reference or the reason you are reading"),
        ("  a ", "Enter at least 3 letters or digits"),
        ("...", "Enter at least 3 letters or digits"),
        ("SAR\u202e4110", "without control or invisible characters"),
        ("x" * 121, "Enter 120 characters or fewer"),
    ],
    ids=["empty", "too short", "punctuation only", "direction override", "too long"],
)
def test_a_reason_that_says_nothing_is_refused_on_the_page(client, auditor, reference, error):
    client.force_login(auditor)
    forget_reason(client)
    response = client.post("/audit/purpose/", {"reference": reference, "next": "/audit/"})
    assert response.status_code == 400
    text = response.content.decode()
    assert error in text and text.count("There is a problem") == 1 and 'value="/audit/"' in text
    assert not AuditEvent.objects.filter(action="audit.purpose").exists()
    assert client.get("/audit/").status_code == 302


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/audit/", "//evil.example/audit/", "/accounts/logout/", "/audit/../accounts/logout/"],
)
def test_only_an_auditors_page_is_gone_to_next(client, auditor, target):
    client.force_login(auditor)
    response = client.post("/audit/purpose/", {"reference": "Complaint 4471", "next": target})
    assert response.status_code == 302 and response["Location"] == "/audit/"


def test_a_reason_lapses_and_ends_with_the_session(client, auditor, settings):
    client.force_login(auditor)
    forget_reason(client)
    client.post("/audit/purpose/", {"reference": "Quality review", "next": "/audit/"})
    assert client.get("/audit/").status_code == 200
    session = client.session
    session[SESSION_KEY]["at"] = (
        timezone.now() - dt.timedelta(hours=settings.HUMPHREY_AUDIT_PURPOSE_HOURS, minutes=1)
    ).isoformat()
    session.save()
    assert client.get("/audit/").status_code == 302
    client.post("/audit/purpose/", {"reference": "Quality review", "next": "/audit/"})
    client.logout()
    client.force_login(auditor)
    forget_reason(client)  # as a fresh sign-in has none
    assert client.get("/audit/").status_code == 302


def test_the_setting_turns_the_question_off(client, auditor, settings):
    settings.HUMPHREY_AUDIT_REQUIRE_PURPOSE = False
    client.force_login(auditor)
    forget_reason(client)
    assert client.get("/audit/").status_code == 200
    assert "purpose" not in AuditEvent.objects.filter(action="audit.search").latest("seq").data


def test_only_auditors_are_asked(client, make_user, civil_servant):
    curator = make_user("cur@example.gov.uk", roles=[Role.CURATOR])
    for person in (curator, civil_servant):
        client.force_login(person)
        assert client.get("/audit/purpose/").status_code == 403
        assert client.post("/audit/purpose/", {"reference": "Curious", "next": "/audit/"}).status_code == 403
    assert not AuditEvent.objects.filter(action="audit.purpose").exists()
