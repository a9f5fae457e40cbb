"""The auditor's findings on searching, paging and exporting the trail: "every kind of event" kept in
every link, pages pinned to the head so the auditor's own reading moves no row, the conversation page
listing every event, a JSON Lines export that checks away from the site, a CSV fit for more than
answers, the collection filter finding curation, one time zone, and nothing cached."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from django.urls import URLPattern, get_resolver, reverse

from audit.models import AuditEvent
from audit.services import audit_record
from tests.audit.conftest import answer_content, answer_data, written_at

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators"),
]

FAKE = {"endpoint": "default", "name": "fake-model", "params": {"temperature": 0.1}}
NO_TOKENS = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def body(response) -> str:
    return b"".join(response).decode() if response.streaming else response.content.decode()


def link(text: str, rel: str) -> str | None:
    """The query string of the page's ``rel`` ("next", "prev") pagination link, unescaped."""
    found = re.search(rf'href="\?([^"]*)" rel="{rel}"', text)
    return html.unescape(found.group(1)) if found else None


def query_of(text: str, rel: str) -> str:
    return link(text, rel) or ""


def export_links(text: str) -> dict[str, str]:
    return {
        kind: html.unescape(m.group(1))
        for kind in ("csv", "jsonl")
        if (m := re.search(rf'href="/audit/export\.{kind}\?([^"]*)"', text))
    }


def shown(response) -> list[int]:
    return [e.seq for e in response.context["page"].object_list]


def answer(user, n: int, *, outcome: str = "answered", **facts) -> AuditEvent:
    data = answer_data(conversation_id=5000 + n, message_id=6000 + n, outcome="answered", collections=["hr"], model="m")
    data.update(facts)
    return audit_record(
        action="answer",
        actor=user,
        outcome=outcome,
        subject=f"conversation:{5000 + n}",
        data=data,
        content=answer_content(question=f"Question {n}?", answer="25 days [1]."),
    )


def other_event(user, n: int) -> AuditEvent:
    return audit_record(action="conversation.delete", actor=user, subject=f"conversation:{7000 + n}",
                        outcome="hidden", data={"conversation_id": 7000 + n})  # fmt: skip


def csv_rows(text: str) -> dict[int, dict]:
    return {int(r["seq"]): r for r in csv.DictReader(io.StringIO(text))}


# --- 5: "every kind of event" kept in every link; the export holds what the page counted ----------


def test_every_kind_of_event_is_kept_in_the_page_and_export_links(client, auditor, civil_servant):
    """Chosen on the form (action=), it was dropped from the links, which then meant "answers": page 2
    and the export held answers only, and the export event recorded answers as the filter."""
    for n in range(30):
        answer(civil_servant, n)
        other_event(civil_servant, n)
    client.force_login(auditor)
    everything = AuditEvent.objects.count()
    first = client.get("/audit/", {"action": ""})
    text = first.content.decode()
    count = first.context["page"].paginator.count
    assert count == everything > 60
    assert f"Export these {count} events" in text

    links = export_links(text)
    for query in [*links.values(), link(text, "next")]:
        assert parse_qs(query, keep_blank_values=True).get("action") == [""], query
    second = client.get(f"/audit/?{link(text, 'next')}")
    assert second.context["form"].cleaned_data["action"] == ""
    assert second.context["page"].paginator.count == count
    assert {e.action for e in second.context["page"].object_list} > {"answer"}

    response = client.get(f"/audit/export.csv?{links['csv']}")
    rows = csv_rows(body(response))
    assert len(rows) == count and {r["action"] for r in rows.values()} >= {"answer", "conversation.delete"}
    assert response["X-Audit-Export-Rows"] == str(count)
    recorded = AuditEvent.objects.filter(action="audit.export").latest("seq")
    assert recorded.data["filters"] == {"action": ""}
    assert recorded.data["rows"] == count and recorded.data["as_of"] == everything

    response = client.get(f"/audit/export.jsonl?{links['jsonl']}")
    lines = body(response).splitlines()
    assert len(lines) == count + 1 and json.loads(lines[-1])["manifest"]["rows"] == count


def test_the_search_event_records_the_kind_and_the_events_shown(client, auditor, civil_servant):
    answer(civil_servant, 1)
    other_event(civil_servant, 1)
    client.force_login(auditor)
    response = client.get("/audit/", {"action": ""})
    recorded = AuditEvent.objects.filter(action="audit.search").latest("seq")
    assert recorded.data["filters"] == {"action": ""}
    assert recorded.data["shown"] == shown(response)
    assert recorded.data["results"] == len(shown(response))
    assert recorded.data["as_of"] == recorded.seq - 1


# --- 18: pages pinned to the head, paged by seq ------------------------------------------------------


def test_paging_neither_repeats_nor_skips_while_the_trail_grows(client, auditor, civil_servant):
    """Each page view is an event (and others go on answering): with offset paging, page 2 began with
    the row that ended page 1. Pinned to the head when first shown, the pages read as one list."""
    for n in range(115):
        answer(civil_servant, n)
    client.force_login(auditor)
    expected = list(AuditEvent.objects.filter(action="answer").order_by("-seq").values_list("seq", flat=True))
    response = client.get("/audit/", {"action": "answer"})
    text = response.content.decode()
    assert "Page 1 of 3" in text
    pages = [shown(response)]
    while query := link(text, "next"):
        for n in range(7):  # written while the auditor reads: none of them may join the list
            answer(civil_servant, 200 + len(pages) * 10 + n)
        response = client.get(f"/audit/?{query}")
        text = response.content.decode()
        assert f"Page {len(pages) + 1} of 3" in text
        pages.append(shown(response))
    assert [seq for page in pages for seq in page] == expected
    as_of = response.context["page"].as_of
    assert as_of > expected[0] and f"as_of={as_of}" in query_of(text, "prev")
    assert f"As of event #{as_of}" in text and "List again from the newest event" in text

    back = client.get(f"/audit/?{link(text, 'prev')}")
    assert shown(back) == pages[1] and "Page 2 of 3" in back.content.decode()
    # The export from a later page is still the pinned set the page counted.
    rows = csv_rows(body(client.get(f"/audit/export.csv?{export_links(text)['csv']}")))
    assert sorted(rows) == sorted(expected)


def test_feedback_counts_as_it_stood_when_the_list_was_pinned(client, auditor, civil_servant, record_feedback):
    """A rating changed after the page was shown changes neither the pinned page's feedback filter nor
    its export's feedback column."""
    rated = answer(civil_servant, 1)
    record_feedback(civil_servant, rated, "down")
    client.force_login(auditor)
    response = client.get("/audit/", {"feedback": "down"})
    assert shown(response) == [rated.seq]
    record_feedback(civil_servant, rated, "up")
    query = export_links(response.content.decode())["csv"]
    assert csv_rows(body(client.get(f"/audit/export.csv?{query}")))[rated.seq]["feedback"] == "down"
    assert shown(client.get(f"/audit/?{query}")) == [rated.seq]
    assert shown(client.get("/audit/", {"feedback": "down"})) == []  # a new listing sees the change


def test_a_pin_never_reaches_past_the_head(client, auditor, civil_servant):
    event = answer(civil_servant, 1)
    client.force_login(auditor)
    head = AuditEvent.objects.latest("seq").seq
    response = client.get("/audit/", {"as_of": "999999999", "before": "x"})
    assert response.status_code == 200 and response.context["page"].as_of == head
    assert shown(response) == [event.seq]


# --- 18: the conversation page lists every event of the conversation --------------------------------


def test_the_conversation_page_lists_every_event_and_says_where_it_stops(
    client, auditor, civil_servant, record_answer, record_feedback, monkeypatch
):
    """The answer, its feedback and the conversation's deletion: the deletion was counted, not shown."""
    first = record_answer(civil_servant, conversation_id=77, question="How much annual leave?")
    feedback = record_feedback(civil_servant, first, "down", "Wrong number of days")
    second = record_answer(civil_servant, conversation_id=77, question="And for part-time staff?")
    deleted = audit_record(action="conversation.delete", actor=civil_servant, outcome="hidden",
                           subject="conversation:77", data={"conversation_id": 77})  # fmt: skip
    client.force_login(auditor)
    text = client.get("/audit/conversation/77/").content.decode()
    assert "2 answers and 4 events in all" in text
    order = [int(s) for s in re.findall(r'<section class="audit-turn[^"]*" id="event-(\d+)"', text)]
    assert order == [first.seq, feedback.seq, second.seq, deleted.seq]
    assert "conversation.delete" in text and "Wrong number of days" in text
    assert "audit-conversation-limit" not in text

    monkeypatch.setattr("audit.views.CONVERSATION_PAGE_SIZE", 3)
    response = client.get("/audit/conversation/77/")
    text = response.content.decode()
    # Now the auditor's first view is an event of the conversation too.
    assert "2 answers and 5 events in all" in text
    assert "This page shows events 1 to 3 of 5" in text
    rest = client.get(f"/audit/conversation/77/?{link(text, 'next')}")
    assert shown(rest) == [deleted.seq, response.context["page"].as_of]
    recorded = AuditEvent.objects.filter(action="audit.view", subject="conversation:77").latest("seq")
    assert recorded.data["shown"] == shown(rest) and recorded.data["events"] == 5


# --- 6: a JSON Lines export checked away from the site ----------------------------------------------


def docs_check_export():
    """The checker docs/audit.md gives auditors, run as they would run it, with the site's public key."""
    from audit.export_signing import export_key

    text = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    section = text[text.index("### Checking a JSON Lines export away from the site") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "docs/audit.md", "exec"), namespace)  # noqa: S102 - the documentation's own example
    pem = export_key().public_pem
    return lambda path: namespace["check_export"](path, pem)


def test_a_jsonl_export_recomputes_offline_with_the_documented_checker(
    client, auditor, civil_servant, record_feedback, tmp_path
):
    """created_at was cut to milliseconds with a Z, so no digest recomputed (0/67); now each line
    carries the texts hashed, and the manifest the count, the seqs, the head and the lines' digest."""
    first = answer(civil_servant, 1)
    record_feedback(civil_servant, first, "up", "Thanks")
    # A number jsonb hands back otherwise than it was written: only the hashed text recomputes.
    audit_record(action="curation.glossary_update", actor=civil_servant, data={"collection_id": 1, "big": 1e20})
    client.force_login(auditor)
    response = client.get("/audit/", {"action": ""})
    as_of = response.context["page"].as_of
    exported = client.get(f"/audit/export.jsonl?{export_links(response.content.decode())['jsonl']}")
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(exported))

    manifest = docs_check_export()(str(path))
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines[:-1]]
    assert manifest["rows"] == len(records) == as_of == manifest["rows_expected"]
    assert (manifest["first_seq"], manifest["last_seq"]) == (1, as_of)
    head = AuditEvent.objects.get(seq=as_of)
    assert manifest["as_of"] == {"seq": as_of, "sha256": head.sha256}
    recording = AuditEvent.objects.get(action="audit.export")
    assert manifest["head"] == {"seq": recording.seq, "sha256": recording.sha256, "action": "audit.export"}
    assert manifest["filters"] == {"action": ""}
    assert manifest["rows_sha256"] == hashlib.sha256("".join(f"{line}\n" for line in lines[:-1]).encode()).hexdigest()
    for record in records:
        event = AuditEvent.objects.get(seq=record["seq"])
        assert record["canonical"] == event.canonical
        assert json.loads(record["canonical"])["created_at"] == record["created_at"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", record["created_at"])

    tampered = path.read_text().replace('"outcome": "up"', '"outcome": "down"', 1)
    path.write_text(tampered)
    with pytest.raises(Exception, match="lines changed since export"):
        docs_check_export()(str(path))


def test_the_subject_access_export_has_a_manifest_too(client, auditor, civil_servant, tmp_path):
    answer(civil_servant, 1)
    client.force_login(auditor)
    exported = client.get("/audit/person/export.jsonl", {"email": civil_servant.email})
    path = tmp_path / "sar.jsonl"
    path.write_bytes(b"".join(exported))
    manifest = docs_check_export()(str(path))
    assert manifest["subject_access"] == civil_servant.email and manifest["rows"] >= 1
    recorded = AuditEvent.objects.get(action="audit.export")
    assert recorded.data["rows"] == manifest["rows"] and recorded.data["subject_access"] == civil_servant.email


# --- 14: a CSV fit for more than answers --------------------------------------------------------------


def test_no_model_is_named_where_none_was_called(client, auditor, civil_servant):
    """Not covered: no prompt was built. The event names the configured model; the CSV, the table and
    the model filter named and counted it as that model's answer."""
    called = answer(civil_servant, 1, model=FAKE)
    not_covered = answer(civil_servant, 2, outcome="no_answer", model=FAKE, prompt_version="", usage=NO_TOKENS)
    client.force_login(auditor)
    rows = csv_rows(body(client.get("/audit/export.csv")))
    assert (rows[called.seq]["model_use"], rows[called.seq]["model"]) == ("language_model", "fake-model")
    assert (rows[not_covered.seq]["model_use"], rows[not_covered.seq]["model"]) == ("none", "")
    assert shown(client.get("/audit/", {"model": "fake-model"})) == [called.seq]
    text = client.get("/audit/").content.decode()
    row = re.search(rf"#{not_covered.seq}</a>.*?</tr>", text, re.S).group(0)
    assert "fake-model" not in row
    assert "fake-model" in re.search(rf"#{called.seq}</a>.*?</tr>", text, re.S).group(0)


def test_the_feedback_column_is_the_answers_not_the_feedback_events(client, auditor, civil_servant, record_feedback):
    """Row of a "down" that was later changed to "up" read outcome=down, feedback=up."""
    rated = answer(civil_servant, 1)
    down = record_feedback(civil_servant, rated, "down")
    up = record_feedback(civil_servant, rated, "up")
    client.force_login(auditor)
    rows = csv_rows(body(client.get("/audit/export.csv", {"action": ""})))
    assert rows[rated.seq]["feedback"] == "up"
    assert (rows[down.seq]["outcome"], rows[down.seq]["feedback"]) == ("down", "")
    assert (rows[up.seq]["outcome"], rows[up.seq]["feedback"]) == ("up", "")
    lines = body(client.get("/audit/export.jsonl", {"action": ""})).splitlines()[:-1]
    by_seq = {r["seq"]: r for r in map(json.loads, lines)}
    assert by_seq[down.seq]["feedback"] is None and by_seq[rated.seq]["feedback"] == "up"


def test_the_csv_gives_ip_actor_data_and_cited_versions(client, auditor, civil_servant, record_answer):
    """A grant's row said nothing of the group, a failed sign-in's nothing of who, an answer's nothing
    of which document versions it cited."""
    cited = record_answer(civil_servant)
    grant = audit_record(action="curation.collection_grant", actor=auditor, subject="collection:3",
                         data={"collection_id": 3, "group_id": 9, "group": "HR business partners"})  # fmt: skip
    client.post("/accounts/login/", {"login": "someone@example.gov.uk", "password": "wrong-password-x"})
    failed = AuditEvent.objects.get(action="auth.sign_in", outcome="failure")
    client.force_login(auditor)
    rows = csv_rows(body(client.get("/audit/export.csv", {"action": ""})))

    row = rows[grant.seq]
    assert json.loads(row["data"]) == grant.data and row["actor_id"] == str(auditor.pk)
    assert row["user"] == auditor.email
    row = rows[failed.seq]
    assert row["user"] == "someone@example.gov.uk (not signed in)" and row["ip"] == "127.0.0.1"
    assert json.loads(row["data"])["email"] == "someone@example.gov.uk"
    row = rows[cited.seq]
    assert (row["cited_version_ids"], row["cited_version_sha256"]) == ("71", f"{1:064x}")
    assert row["data"] == ""  # an answer's facts are the columns


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(client, auditor, civil_servant, record_answer):
    record_answer(civil_servant, question='  =HYPERLINK("http://evil")', answer="-2+3")
    client.force_login(auditor)
    row = next(iter(csv_rows(body(client.get("/audit/export.csv"))).values()))
    assert row["question"] == '\'  =HYPERLINK("http://evil")' and row["answer"] == "'-2+3"


# --- 16: the collection filter finds events about the collection -------------------------------------


def test_the_collection_filter_finds_curation_events_about_it(client, auditor, curator, record_answer, civil_servant):
    """curation.* with collection=dde-guidance found nothing: only answers' collections were matched."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.selectors import AuditFilters
    from documents.services import collection_create, collection_grant

    dde = collection_create(user=curator, name="DDE guidance", slug="dde-guidance")
    other = collection_create(user=curator, name="Board papers", slug="board-papers")
    collection_grant(collection=dde, group=Group.objects.create(name="HR business partners"), user=curator)
    collection_grant(collection=other, group=Group.objects.get(name="HR business partners"), user=curator)
    asked = record_answer(civil_servant, collections=("dde-guidance",))
    record_answer(civil_servant, collections=("board-papers",))
    about_dde = set(AuditEvent.objects.filter(data__collection_id=dde.pk).values_list("seq", flat=True))
    assert set(AuditEvent.objects.filter(seq__in=about_dde).values_list("action", flat=True)) == {
        "curation.collection_create",
        "curation.collection_grant",
    }
    client.force_login(auditor)
    assert set(shown(client.get("/audit/", {"action": "curation.*", "collection": "dde-guidance"}))) == about_dde
    assert set(shown(client.get("/audit/", {"action": "", "collection": "dde-guidance"}))) == about_dde | {asked.seq}
    assert shown(client.get("/audit/", {"action": "curation.*", "collection": "no-such-thing"})) == []

    with CaptureQueriesContext(connection) as queries:
        found = list(AuditEvent.objects.matching(AuditFilters(action="", collection="dde-guidance")).values("seq"))
    assert len(queries) == 1 and len(found) == len(about_dde) + 1
    assert "jsonb_build_object" in queries[0]["sql"] and "documents_collection" in queries[0]["sql"]


# --- 19: one time zone for the date filters and the times shown -------------------------------------


def test_a_summer_day_is_searched_and_shown_in_the_same_zone(client, auditor, civil_servant, settings):
    """From 01/07/2026 found an event the table showed as 30 Jun 2026 23:30 (UTC)."""
    assert settings.TIME_ZONE == "Europe/London"
    with written_at(dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)):
        event = answer(civil_servant, 1)
    client.force_login(auditor)
    response = client.get("/audit/", {"date_from": "01/07/2026", "date_to": "01/07/2026"})
    assert shown(response) == [event.seq]
    text = response.content.decode()
    assert "When (Europe/London)" in text and "1 Jul 2026 00:30:00 BST" in text and "30 Jun" not in text
    assert "A day runs midnight to midnight, Europe/London time" in text
    assert 'aria-describedby="id_date_from_helptext"' in text
    assert shown(client.get("/audit/", {"date_to": "30/06/2026"})) == []
    page = client.get(f"/audit/event/{event.seq}/").content.decode()
    assert "1 July 2026 00:30:00.000000 BST" in page and "2026-06-30T23:30:00.000000+00:00" in page
    row = csv_rows(body(client.get("/audit/export.csv")))[event.seq]
    assert (row["time_utc"], row["time_local"]) == ("2026-06-30T23:30:00+00:00", "2026-07-01T00:30:00+01:00")


# --- 23: nothing an auditor reads is kept by a cache ---------------------------------------------------


def test_every_audit_page_and_export_is_sent_no_store(client, auditor, civil_servant, record_answer):
    event = record_answer(civil_servant, conversation_id=12)
    client.force_login(auditor)
    arguments = {"seq": event.seq, "conversation_id": 12}
    resolver = get_resolver().url_patterns
    audit_patterns = next(p for p in resolver if getattr(p, "app_name", None) == "audit").url_patterns
    checked = set()
    for pattern in audit_patterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {name: arguments[name] for name in pattern.pattern.converters}
        url = reverse(f"audit:{pattern.name}", kwargs=kwargs)
        query = {"email": civil_servant.email} if pattern.name.startswith("person") else {}
        for response in (client.get(url, query), client.get(url, {**query, "date_from": "x"})):
            body(response)
            assert "no-store" in response.get("Cache-Control", ""), (url, response.status_code)
        checked.add(pattern.name)
    response = client.post("/audit/verify/")
    assert "no-store" in response["Cache-Control"]
    assert checked == {
        "search", "event", "conversation", "export_csv", "export_jsonl", "purpose", "verify", "verify_export", "person",
        "person_export", "person_records",
    }  # fmt: skip


def test_the_shared_pagination_still_pages_a_django_page_by_number():
    """_pagination.html also serves the conversation history (a Django Page): ?page=N as before."""
    from django.core.paginator import Paginator
    from django.template.loader import render_to_string

    page = Paginator(range(30), 10).get_page(2)
    text = render_to_string("_pagination.html", {"page": page, "query": "q=leave", "label": "Pages"})
    assert 'href="?q=leave&amp;page=1" rel="prev"' in text and 'href="?q=leave&amp;page=3" rel="next"' in text
    assert "Page 2 of 3" in text
