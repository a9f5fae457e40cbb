"""Auditor pages: auditors only, read-only, filters and exports that agree, and every reading recorded."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib import admin
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditContent, AuditEvent, LegalHold
from audit.retention import legal_hold_place

pytestmark = [
    pytest.mark.django_db,
    # The exports stream from an async generator (for ASGI); Django's sync test client buffers it and says so.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators"),
]

PAGES = [
    "/audit/",
    "/audit/?action=answer&q=leave",
    "/audit/event/1/",
    "/audit/conversation/1001/",
    "/audit/export.csv",
    "/audit/export.jsonl",
    "/audit/verify/",
    "/audit/person/",
    "/audit/person/?email=casey@example.gov.uk",
    "/audit/person/export.jsonl?email=casey@example.gov.uk",
    "/audit/person/records.json?email=casey@example.gov.uk",
    "/audit/verify/export/",
]


def body(response) -> str:
    return b"".join(response).decode() if response.streaming else response.content.decode()


@pytest.fixture
def history(record_answer, record_feedback, civil_servant, make_user):
    """A small trail: answers of several outcomes, collections and models, with feedback on some."""
    other = make_user("olu@example.gov.uk")
    events = {
        "leave": record_answer(civil_servant, conversation_id=1001, question="How much annual leave do I get?"),
        "leave_followup": record_answer(
            civil_servant, conversation_id=1001, question="Can I carry leave over?", answer="Up to 5 days [1]."
        ),
        "pension": record_answer(
            other,
            conversation_id=1002,
            question="When can I take my pension?",
            answer="At state pension age [1].",
            collections=("pensions",),
            model="llama-3-8b",
        ),
        "refused": record_answer(
            other, outcome="refused", question="Tell me a secret", answer="", conversation_id=1003
        ),
        "error": record_answer(
            civil_servant, outcome="error", question="Expenses limit?", answer="", conversation_id=1004
        ),
    }
    events["fb_down"] = record_feedback(civil_servant, events["leave"], "down", "It is 27 days after five years")
    events["fb_up"] = record_feedback(other, events["pension"], "up")
    return events


@pytest.mark.parametrize("url", PAGES)
def test_pages_refuse_everyone_but_auditors(client, url, history, make_user):
    """Civil servants, curators, staff and superusers without the auditor role get 403 on every page and export."""
    people = [
        make_user("cs@example.gov.uk"),
        make_user("cur@example.gov.uk", roles=[Role.CURATOR]),
    ]
    superuser = make_user("root@example.gov.uk")
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    people.append(superuser)
    for person in people:
        client.force_login(person)
        assert client.get(url).status_code == 403, (person.email, url)
        client.logout()
    assert client.get(url).status_code == 302  # anonymous: sent to sign in
    assert client.post("/audit/verify/").status_code in (302, 403)


@pytest.mark.parametrize("url", PAGES)
def test_auditor_reads_every_page_and_each_reading_is_recorded(client, auditor, url, history):
    """An auditor gets every page and export, and each one writes an audit event naming them."""
    client.force_login(auditor)
    # An export also records its signing key (once) and its completion: test_export_signing.py.
    readings = AuditEvent.objects.filter(action__startswith="audit.", actor=auditor).exclude(
        action__in=["audit.export_key", "audit.export_complete"]
    )
    before = readings.count()
    response = client.get(url)
    assert response.status_code == 200, url
    body(response)
    assert readings.count() == before + 1


def test_audit_models_are_not_in_django_admin():
    """Nobody can change or delete audit records through Django admin: the models are not registered."""
    for model in (AuditEvent, AuditContent, LegalHold):
        assert not admin.site.is_registered(model)


def test_search_filters(client, auditor, history):
    """Each filter narrows the answers to the right ones; the search itself is recorded with its filters."""
    client.force_login(auditor)

    def seqs(**params) -> set[int]:
        response = client.get("/audit/", params)
        assert response.status_code == 200
        return {e.seq for e in response.context["page"].object_list}

    h = history
    answers = {h[k].seq for k in ("leave", "leave_followup", "pension", "refused", "error")}
    assert seqs() == answers
    assert seqs(user="OLU@example.gov.uk") == {h["pension"].seq, h["refused"].seq}
    assert seqs(collection="pensions") == {h["pension"].seq}
    assert seqs(outcome="refused") == {h["refused"].seq}
    assert seqs(model="llama-3-8b") == {h["pension"].seq}
    assert seqs(feedback="down") == {h["leave"].seq}
    assert seqs(feedback="up") == {h["pension"].seq}
    assert seqs(feedback="none") == answers - {h["leave"].seq, h["pension"].seq}
    assert seqs(q="pension") == {h["pension"].seq}
    assert seqs(q="carry over") == {h["leave_followup"].seq}
    assert seqs(q="annual leave -carry") == {h["leave"].seq}
    today = timezone.localdate(h["leave"].created_at).isoformat()  # days are the service's (Europe/London)
    assert seqs(date_from=today, date_to=today) == answers
    assert seqs(date_from="2001-01-01", date_to="2001-01-02") == set()
    assert seqs(action="feedback") == {h["fb_down"].seq, h["fb_up"].seq}
    recorded = AuditEvent.objects.filter(action="audit.search").last()
    assert recorded.data["filters"] == {"action": "feedback"}
    assert recorded.data["results"] == 2


def test_bad_filters_get_a_clear_error(client, auditor, history):
    """An impossible date range or malformed value is explained, not ignored."""
    client.force_login(auditor)
    response = client.get("/audit/", {"date_from": "2026-05-02", "date_to": "2026-05-01", "user": "not-an-email"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "govuk-error-summary" in text
    assert "The end date must be the same as or after the start date" in text
    assert "Enter a valid email address" in text
    assert client.get("/audit/export.csv", {"date_from": "yesterday"}).status_code == 400


def test_exports_match_the_filter(client, auditor, history):
    """CSV and JSON Lines exports hold exactly the events the page shows for the same filter."""
    client.force_login(auditor)
    params = {"user": "casey@example.gov.uk", "collection": "hr-policies"}
    page = client.get("/audit/", params)
    shown = sorted(e.seq for e in page.context["page"].object_list)
    assert shown == sorted(history[k].seq for k in ("leave", "leave_followup", "error"))

    response = client.get("/audit/export.csv", params)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [int(r["seq"]) for r in rows] == shown
    leave = next(r for r in rows if int(r["seq"]) == history["leave"].seq)
    assert leave["question"] == "How much annual leave do I get?"
    assert leave["feedback"] == "down"
    assert leave["model"] == "gpt-4o-mini"
    assert leave["total_tokens"] == "1350"

    response = client.get("/audit/export.jsonl", params)
    lines = [json.loads(line) for line in body(response).splitlines()]
    manifest = lines.pop()["manifest"]  # the last line: what the file holds, to check it by
    assert manifest["rows"] == len(shown) and [r["seq"] for r in lines] == shown
    first = lines[0]
    assert first["content"]["passages"][0]["text"] == "Passage 1 text about annual leave."
    assert first["data"]["passages"][0]["version_sha256"] == f"{1:064x}"
    assert first["sha256"] == history["leave"].sha256
    assert first["mac"] == history["leave"].mac and len(first["mac"]) == 64  # checkable with the audit key
    export_event = AuditEvent.objects.filter(action="audit.export").last()
    assert export_event.data["filters"] == {"action": "answer", **params}
    assert export_event.data["format"] == "jsonl"


def test_csv_export_defuses_spreadsheet_formulas(client, auditor, record_answer, civil_servant):
    """A question starting with = is exported as text, not as a formula."""
    record_answer(civil_servant, question='=HYPERLINK("http://evil")')
    client.force_login(auditor)
    rows = list(csv.DictReader(io.StringIO(body(client.get("/audit/export.csv")))))
    assert rows[0]["question"].startswith("'=")


def test_event_trace_shows_everything_the_model_saw(client, auditor, history):
    """The trace page shows question (as asked and condensed), passages with scores and SHA-256, prompt, model,
    usage, cost, timings, outcome, citations, the coverage evidence, the claim check and the later feedback."""
    client.force_login(auditor)
    text = client.get(f"/audit/event/{history['leave'].seq}/").content.decode()
    for expected in [
        "How much annual leave do I get?",
        "Condensed: How much annual leave do I get?",
        "You get 25 days of annual leave [1].",
        "Passage 1 text about annual leave.",
        "Guidance document 1",
        f"{1:064x}",
        "vector 0.712, keyword 0.25, fused 0.0164",
        "Part 1 › 1 Passwords and sign-in",
        "Answer only from the numbered passages.",
        "gpt-4o-mini",
        "temperature",
        "answer_v1",
        "1350 total",
        "£0.0042",
        "first token 380 ms",
        "cited",
        "Not helpful",
        "It is 27 days after five years",
        history["leave"].sha256,
        "Covered by the guidance?",
        "yes, only just: the answer said it may not answer exactly: evidence 0.712",
        "words no passage held: jury",
        "asks for a detail (duration): the best sentences give one",
        "2 cited sentences: 1 not supported by its source",
        "“Jury service is paid leave [2].”: source 2 may not support it",
    ]:
        assert expected in text, expected
    assert "/audit/conversation/1001/" in text
    assert "0.7123456789" not in text and "0.01639344262295082" not in text


def test_event_trace_says_how_the_question_was_searched(client, auditor, civil_servant):
    """By meaning and words as a rule; by words only, and why, when the embedder was not used (a
    collection above its marking, or the embedder failed) and when the claim check had words alone."""
    from audit.services import audit_record
    from tests.audit.conftest import answer_content, answer_data

    skipped = {
        "meaning": None,
        "marking": {"skipped": "marking", "marking": "OFFICIAL-SENSITIVE", "embeddings_max_marking": "OFFICIAL"},
        "failed": {"skipped": "embedder_error", "error": "TimeoutError"},
    }
    events = {}
    for n, (name, vector_search) in enumerate(skipped.items()):
        data = answer_data(conversation_id=90 + n, message_id=95 + n, outcome="answered", collections=["hr"], model="m")
        if vector_search:
            data["vector_search"] = vector_search
            data["claims"]["by_words_only"] = name == "failed"
        content = answer_content(question="Leave?", answer="25 days [1].")
        events[name] = audit_record(action="answer", actor=civil_servant, outcome="answered",
                                    subject=f"conversation:{90 + n}", data=data, content=content)  # fmt: skip
    client.force_login(auditor)
    pages = {name: client.get(f"/audit/event/{e.seq}/").content.decode() for name, e in events.items()}
    assert "by meaning and by words" in pages["meaning"] and "by words only" not in pages["meaning"]
    assert (
        "by words only: asked of a collection marked OFFICIAL-SENSITIVE, above what the embedder may be sent (OFFICIAL)"
        in pages["marking"]
    )
    assert "by words only: the embedder failed or was too slow (TimeoutError); the person was told" in pages["failed"]
    assert "checked by their words alone: the embedder failed" in pages["failed"]
    assert "checked by their words alone" not in pages["marking"] + pages["meaning"]


def test_event_trace_reads_well_for_new_and_old_events(client, auditor, civil_servant, record_answer):
    """Sections as headings (never a string taken letter by letter), each passage collapsible under a
    summary naming its document and section, a cost that was never priced said so, scores to 3 figures."""
    from audit.services import audit_record
    from tests.audit.conftest import answer_content, answer_data

    new = record_answer(civil_servant)
    data = answer_data(conversation_id=77, message_id=78, outcome="answered", collections=["hr"], model="m")
    data["cost"] = {"currency": "GBP", "amount": None}  # no HUMPHREY_CHAT_COST_PER_1K_TOKENS
    content = answer_content(question="Old?", answer="Old answer [1].")
    content["passages"][0]["heading_path"] = ["Part 1", "2 Leave"]  # a list, should one ever be stored
    content["passages"][0]["anchor"] = "Section 2 Leave"
    content["passages"][1]["heading_path"] = ""
    content["passages"][1]["anchor"] = "page 4"
    old = audit_record(action="answer", actor=civil_servant, outcome="answered", subject="conversation:77",
                       data=data, content=content)  # fmt: skip
    client.force_login(auditor)

    text = client.get(f"/audit/event/{new.seq}/").content.decode()
    assert "[1] Guidance document 1: Part 1 › 1 Passwords and sign-in</span>" in text
    assert "P › a › s › s" not in text and "Section 1 Passwords" not in text  # the anchor only restates it
    assert text.count('<details class="govuk-details audit-passage">') == 2
    assert "£0.0042" in text

    text = client.get(f"/audit/event/{old.seq}/").content.decode()
    assert "[1] Guidance document 1: Part 1 › 2 Leave</span>" in text
    assert "[2] Guidance document 2: page 4</span>" in text
    assert "not priced" in text and "None" not in text


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.01639344262295082, "0.0164"), (0.8123456789, "0.812"), (17, "17"), (0.25, "0.25"), (None, "—")],
)
def test_scores_are_shown_to_three_significant_figures(value, shown):
    from audit.templatetags.audit_tags import sig3

    assert sig3(value) == shown


@pytest.mark.parametrize(
    ("cost", "shown"),
    [
        ({"currency": "GBP", "amount": 0.0042}, "£0.0042"),
        ({"currency": "GBP", "amount": 0.5}, "£0.50"),
        ({"currency": "GBP", "amount": 0.000123}, "£0.000123"),
        ({"currency": "USD", "amount": 1.25}, "1.25 USD"),
        ({"currency": "GBP", "amount": None}, "not priced"),
        (None, "not priced"),
    ],
)
def test_costs_are_an_amount_or_not_priced(cost, shown):
    from audit.templatetags.audit_tags import money

    assert money(cost) == shown


def test_conversation_view_gathers_its_answers(client, auditor, history):
    """The conversation page shows every answer of one conversation, in order, and nothing of others."""
    client.force_login(auditor)
    text = client.get("/audit/conversation/1001/").content.decode()
    assert text.index("How much annual leave do I get?") < text.index("Can I carry leave over?")
    assert "When can I take my pension?" not in text


def test_verify_button_shows_the_result(client, auditor, history):
    """POSTing the verify button runs the check and shows it; the check is recorded."""
    client.force_login(auditor)
    response = client.post("/audit/verify/")
    assert response.status_code == 200
    assert "Chain intact" in response.content.decode()
    event = AuditEvent.objects.get(action="audit.verify")
    assert event.outcome == "ok"
    assert event.data["checked"] == event.seq - 1

    from tests.audit.conftest import tampering

    with tampering() as c:
        c.execute("UPDATE audit_auditevent SET outcome = 'answered' WHERE seq = %s", [history["refused"].seq])
    text = client.post("/audit/verify/").content.decode()
    assert "The audit trail has been tampered with" in text
    assert f"Event #{history['refused'].seq} (answer" in text
    assert AuditEvent.objects.filter(action="audit.verify").last().outcome == "failed"


def test_subject_access_gathers_everything_about_one_person(client, auditor, history, civil_servant):
    """A person's page holds their answers, feedback, sign-in failures and role changes, and nobody else's."""
    client.post("/accounts/login/", {"login": "casey@example.gov.uk", "password": "wrong-password-x"})
    client.force_login(auditor)
    legal_hold_place(actor=auditor, reason="Tribunal 42", user=civil_servant)
    response = client.get("/audit/person/", {"email": "casey@example.gov.uk"})
    seqs = {e.seq for e in response.context["page"].object_list}
    h = history
    mine = {h[k].seq for k in ("leave", "leave_followup", "error", "fb_down")}
    assert mine <= seqs
    assert h["pension"].seq not in seqs and h["fb_up"].seq not in seqs
    failed = AuditEvent.objects.get(action="auth.sign_in", outcome="failure")
    assert failed.seq in seqs
    assert "Tribunal 42" in response.content.decode()
    lines = [
        json.loads(line)
        for line in body(client.get("/audit/person/export.jsonl", {"email": "casey@example.gov.uk"})).splitlines()
    ]
    assert lines.pop()["manifest"]["subject_access"] == "casey@example.gov.uk"
    assert {r["seq"] for r in lines} >= mine | {failed.seq}
    assert h["pension"].seq not in {r["seq"] for r in lines}
    recorded = AuditEvent.objects.filter(action="audit.subject_access").last()
    assert recorded.subject == f"user:{civil_servant.pk}"


def test_purged_content_is_shown_as_purged(client, auditor, record_answer, civil_servant, retention_days, monkeypatch):
    """After the retention purge, pages say the content was purged instead of failing."""
    from audit import retention
    from audit.retention import retention_purge

    monkeypatch.setitem(retention._purgers, "conversations", lambda **kwargs: 0)
    import datetime as dt

    from tests.audit.conftest import written_at

    with written_at(timezone.now() - dt.timedelta(days=2)):
        event = record_answer(civil_servant)
    retention_days(1)
    retention_purge()
    client.force_login(auditor)
    assert "purged" in client.get("/audit/").content.decode()
    text = client.get(f"/audit/event/{event.seq}/").content.decode()
    assert "removed by the retention purge" in text
    assert "; 1 word no passage held" in text and "jury" not in text  # the question's words went with it
