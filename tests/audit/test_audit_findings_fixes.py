"""The auditor's findings on the audit pages: model outages findable, traces that say truthfully
whether a model was called, the trace and the CSV export agreeing on what is unknown, and filter
input that is wrong explained on the page."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import AuditFilters
from audit.services import audit_record
from tests.audit.conftest import answer_content, answer_data

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators"),
]

FAKE = {"endpoint": "default", "name": "fake-model", "params": {"temperature": 0.1, "max_tokens": 800}}
EXTRACTIVE = {"endpoint": "extractive", "name": "extractive", "params": {"max_words": 120, "passages": 3}}
NO_TOKENS = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def answer(user, n: int, *, outcome: str = "answered", question: str = "Leave?", **facts) -> AuditEvent:
    """An answer event as the pipeline writes it, with ``facts`` put over the usual data."""
    data = answer_data(conversation_id=2000 + n, message_id=3000 + n, outcome="answered", collections=["hr"], model="m")
    data.update(facts)
    return audit_record(
        action="answer",
        actor=user,
        outcome=outcome,
        subject=f"conversation:{2000 + n}",
        data=data,
        content=answer_content(question=question, answer="25 days [1]."),
    )


@pytest.fixture
def outages(civil_servant):
    """A model answer; the same question quoted because the model failed before its first word (as
    ``assistant.services.pipeline`` records it); a model that failed mid-answer; a refusal by the gate."""
    return {
        "model": answer(civil_servant, 1, model=FAKE),
        "quoted": answer(
            civil_servant,
            2,
            model={**EXTRACTIVE, "instead_of": FAKE, "error_code": "model_unavailable"},
            usage=NO_TOKENS,
            error_code=None,
        ),
        "error": answer(civil_servant, 3, outcome="error", model=FAKE, error_code="model_unavailable"),
        "timeout": answer(
            civil_servant, 4, model={**EXTRACTIVE, "instead_of": FAKE, "error_code": "model_timeout"}, usage=NO_TOKENS
        ),
        "not_covered": answer(
            civil_servant, 5, outcome="no_answer", model=FAKE, prompt_version="", usage=NO_TOKENS, citations=[]
        ),
    }


def seqs(client, **params) -> set[int]:
    response = client.get("/audit/", params)
    assert response.status_code == 200, response.content.decode()[:500]
    return {e.seq for e in response.context["page"].object_list}


def csv_rows(client, **params) -> dict[int, dict]:
    response = client.get("/audit/export.csv", params)
    return {int(r["seq"]): r for r in csv.DictReader(io.StringIO(b"".join(response).decode()))}


# --- #3 model outages ------------------------------------------------------------------------------


def test_answers_quoted_after_the_model_failed_are_found_by_outcome_and_error_code(client, auditor, outages):
    """An auditor looking for model outages finds the answers that quoted the guidance because the
    model failed before its first word, by their own outcome or by the model's error code, beside
    the answers that failed outright."""
    client.force_login(auditor)
    o = outages
    assert seqs(client, outcome="error") == {o["error"].seq}  # an error is still only an error
    assert seqs(client, outcome="quoted_after_model_failed") == {o["quoted"].seq, o["timeout"].seq}
    assert seqs(client, error_code="model_unavailable") == {o["quoted"].seq, o["error"].seq}
    assert seqs(client, error_code=" Model_Timeout ") == {o["timeout"].seq}
    assert seqs(client, error_code="model_timeout", outcome="error") == set()
    recorded = AuditEvent.objects.filter(action="audit.search").last()
    assert recorded.data["filters"] == {"action": "answer", "outcome": "error", "error_code": "model_timeout"}


def test_a_model_is_found_with_the_answers_quoted_because_it_failed(client, auditor, outages):
    """Searching by the configured model's name finds its outages too, not only its own answers; not
    the answers for which it was never called (not covered: no prompt was built)."""
    client.force_login(auditor)
    o = outages
    named = FAKE["name"]
    assert seqs(client, model=named) == {o["model"].seq, o["quoted"].seq, o["error"].seq, o["timeout"].seq}
    assert seqs(client, model=EXTRACTIVE["name"]) == {o["quoted"].seq, o["timeout"].seq}


def test_the_failure_filters_are_sql(outages):
    """Both filters are JSON lookups in the one query, never a loop over events in Python."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for filters in (AuditFilters(outcome="quoted_after_model_failed"), AuditFilters(error_code="model_unavailable")):
        with CaptureQueriesContext(connection) as queries:
            found = list(AuditEvent.objects.matching(filters).values_list("seq", flat=True))
        assert len(queries) == 1 and found
        sql = queries[0]["sql"]
        assert "instead_of" in sql or "error_code" in sql, sql


def test_the_results_table_shows_the_error_code_of_each_failure(client, auditor, outages):
    client.force_login(auditor)
    text = client.get("/audit/", {"error_code": "model_unavailable"}).content.decode()
    row_pattern = r'<tr class="govuk-table__row">\s*<td[^>]*><a[^>]*>#(\d+)</a>.*?</tr>'
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(row_pattern, text, re.S)}
    quoted, error = rows[outages["quoted"].seq], rows[outages["error"].seq]
    assert "by quoting: the model failed (<code>model_unavailable</code>)" in quoted
    assert "extractive instead of fake-model" in quoted
    assert "error code <code>model_unavailable</code>" in error and "by quoting" not in error
    plain = client.get("/audit/", {"outcome": "answered"}).content.decode()
    row = re.search(rf"#{outages['model'].seq}</a>.*?</tr>", plain, re.S).group(0)
    assert "audit-failure" not in row


def test_the_csv_gives_a_quoted_answer_the_error_code_of_the_model_that_failed(client, auditor, outages):
    client.force_login(auditor)
    rows = csv_rows(client, error_code="model_unavailable")
    assert set(rows) == {outages["quoted"].seq, outages["error"].seq}
    quoted, error = rows[outages["quoted"].seq], rows[outages["error"].seq]
    assert (quoted["outcome"], quoted["error_code"], quoted["quoted_instead_of"]) == (
        "answered",
        "model_unavailable",
        "fake-model",
    )
    assert (error["outcome"], error["error_code"], error["quoted_instead_of"]) == ("error", "model_unavailable", "")


def test_the_outcome_and_error_code_fields_are_on_the_search_form(client, auditor):
    client.force_login(auditor)
    text = client.get("/audit/").content.decode()
    assert '<option value="quoted_after_model_failed">Answered by quoting after the model failed</option>' in text
    assert '<label class="govuk-label" for="id_error_code">Error code</label>' in text
    assert 'aria-describedby="id_error_code_helptext"' in text and 'id="id_error_code_helptext"' in text


# --- #8 what the trace says was called -------------------------------------------------------------


def trace(client, event) -> str:
    return client.get(f"/audit/event/{event.seq}/").content.decode()


def row(text: str, name: str) -> str:
    return re.search(rf'data-row="{name}">.*?</div>', text, re.S).group(0)


def test_a_question_the_guidance_does_not_cover_shows_no_model_call(client, auditor, outages):
    """Refused by the evidence gate: the passages were retrieved, never shown to a model, and no row
    says a model was called with parameters."""
    client.force_login(auditor)
    text = trace(client, outages["not_covered"])
    assert "Passages retrieved (2): no language model was called</h3>" in text
    assert "Passages the model was shown" not in text
    assert "none called (configured: fake-model at <code>default</code>)" in row(text, "model")
    assert "Parameters" not in text
    assert "none: no prompt was sent" in text
    assert "none: no language model was called" in row(text, "tokens")
    assert "exactly as sent" not in text


def test_a_refusal_before_retrieval_says_no_passages_were_retrieved(client, auditor, civil_servant):
    client.force_login(auditor)
    event = answer(civil_servant, 9, outcome="refused", model=FAKE, prompt_version="", passages=[], usage=NO_TOKENS)
    text = trace(client, event)
    assert "No passages were retrieved." in text and "shown to the model" not in text


def test_an_extractive_answer_says_it_quoted_the_guidance(client, auditor, civil_servant):
    client.force_login(auditor)
    text = trace(client, answer(civil_servant, 7, model=EXTRACTIVE, usage=NO_TOKENS))
    assert "Passages retrieved to quote from (2)</h3>" in text
    assert "Passages the model was shown" not in text
    assert "no language model: the guidance was quoted word for word (extractive" in row(text, "model")
    assert "Quoting parameters" in text and "Quoted instead of" not in text
    assert "The prompt as written, not sent: no language model was called (2 messages)" in text
    assert "none: no language model was called" in row(text, "tokens")


def test_a_quoted_answer_after_a_model_failure_names_the_model_and_its_prompt(client, auditor, outages):
    client.force_login(auditor)
    text = trace(client, outages["quoted"])
    assert "Passages retrieved to quote from (2)</h3>" in text
    assert "Quoted instead of" in text and "model_unavailable" in text
    assert "The prompt exactly as sent to fake-model, which failed (2 messages)" in text
    assert "not recorded: the model failed before it answered" in row(text, "tokens")
    assert "none for the answer; the model's was <code>model_unavailable</code>" in row(text, "error-code")


def test_a_model_answer_still_says_what_the_model_was_shown(client, auditor, outages, civil_servant):
    """Including a model's answer that cited nothing (no_answer after the model was called)."""
    client.force_login(auditor)
    text = trace(client, outages["model"])
    assert "Passages the model was shown (2)</h3>" in text
    assert "Parameters: <code>" in text and "fake-model at <code>default</code>" in text
    assert "The prompt exactly as sent (2 messages)" in text
    cited_nothing = answer(civil_servant, 8, outcome="no_answer", model=FAKE, citations=[])
    assert "Passages the model was shown (2)</h3>" in trace(client, cited_nothing)


# --- timings and tokens: the trace and the CSV agree -----------------------------------------------


def test_timings_of_zero_are_zero_and_missing_ones_not_recorded_in_the_trace_and_the_csv(
    client, auditor, civil_servant
):
    """A retrieval recorded as 0 ms is shown as 0 ms (it was "—" beside a 0 in the CSV); a time not
    recorded is said so on the page and left empty in the CSV."""
    client.force_login(auditor)
    event = answer(civil_servant, 11, model=FAKE, timings_ms={"retrieval": 0, "first_token": None, "total": 912})
    assert "retrieval 0 ms, first token not recorded, total 912 ms" in row(trace(client, event), "timings")
    exported = csv_rows(client)[event.seq]
    assert (exported["retrieval_ms"], exported["first_token_ms"], exported["total_ms"]) == ("0", "", "912")


def test_tokens_a_stopped_model_never_reported_are_not_recorded_in_the_trace_and_the_csv(
    client, auditor, civil_servant
):
    """A model reports its tokens when it finishes: a stopped answer's zeros mean "not reported",
    and so does the cost worked out from them; with no model called the zeros are true."""
    client.force_login(auditor)
    stopped = answer(
        civil_servant, 12, outcome="stopped", model=FAKE, usage=NO_TOKENS, cost={"currency": "GBP", "amount": 0.0}
    )
    extractive = answer(civil_servant, 13, model=EXTRACTIVE, usage=NO_TOKENS, cost={"currency": "GBP", "amount": 0.0})
    text = trace(client, stopped)
    assert "not recorded: the model reports them when it finishes, and this answer did not finish" in row(
        text, "tokens"
    )
    assert "not known: no token counts were recorded" in row(text, "cost")
    assert "— prompt" not in text
    rows = csv_rows(client)
    assert [rows[stopped.seq][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens", "cost_amount")] == [
        "",
        "",
        "",
        "",
    ]
    assert [rows[extractive.seq][k] for k in ("prompt_tokens", "total_tokens", "cost_amount")] == ["0", "0", "0.0"]
    assert "£0.00" in row(trace(client, extractive), "cost")
    finished = answer(civil_servant, 14, model=FAKE)
    finished = csv_rows(client)[finished.seq]
    assert (finished["prompt_tokens"], finished["total_tokens"], finished["cost_amount"]) == ("1200", "1350", "0.0042")


# --- filter input that is wrong --------------------------------------------------------------------


def test_a_date_written_day_first_in_a_link_is_searched_and_shown(client, auditor, outages):
    """/audit/?date_from=31/12/2026: the date control is given the date it can show, and a search that
    matches nothing says so (it showed an empty page)."""
    client.force_login(auditor)
    response = client.get("/audit/", {"date_from": "31/12/2026"})
    text = response.content.decode()
    assert response.status_code == 200
    assert 'name="date_from" value="2026-12-31"' in text
    assert "0 events</caption>" in text and "No events match." in text
    assert "Export these" not in text
    today = timezone.localdate(outages["model"].created_at)  # days are the service's (Europe/London)
    assert seqs(client, date_from=today.strftime("%d/%m/%Y")) == {e.seq for e in outages.values()}


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"date_from": "2026-13-45"}, "date_from", "The start date must be a real date, for example 31/12/2026"),
        ({"date_from": "yesterday"}, "date_from", "The start date must be a real date, for example 31/12/2026"),
        ({"date_to": "31/31/2026"}, "date_to", "The end date must be a real date, for example 31/12/2026"),
        ({"date_from": "2026-05-02", "date_to": "2026-05-01"}, "date_to", "The end date must be the same as or after"),
        ({"outcome": "bogus"}, "outcome", "Select a valid choice"),
        ({"action": "bogus"}, "action", "Select a valid choice"),
        ({"user": "nope"}, "user", "Enter a valid email address"),
        ({"error_code": "x" * 65}, "error_code", "Ensure this value has at most 64 characters"),
    ],
)
def test_any_invalid_filter_is_explained_on_the_search_page(client, auditor, params, field, message):
    """The whole search page, with GOV.UK's error summary linking to the field and the field's own
    message, tied to its input for screen readers."""
    client.force_login(auditor)
    for url in ("/audit/", "/audit/export.csv"):
        response = client.get(url, params)
        text = response.content.decode()
        assert response.status_code == 400
        assert '<h1 class="govuk-heading-xl">Audit trail</h1>' in text and 'role="search"' in text
        summary = re.search(r'<div class="govuk-error-summary".*?</ul>', text, re.S).group(0)
        assert f'href="#id_{field}"' in summary and message in summary
        inline = re.search(rf'<p class="govuk-error-message" id="id_{field}-error">(.*?)</p>', text, re.S).group(1)
        assert message in inline
        assert re.search(rf'<(input|select)[^>]*aria-describedby="[^"]*id_{field}-error"[^>]*id="id_{field}"', text)


def test_the_last_possible_day_is_a_date_range_not_a_server_error(client, auditor, outages):
    client.force_login(auditor)
    assert seqs(client, date_to="9999-12-31") == {e.seq for e in outages.values()}
    assert seqs(client, date_from="0001-01-01", date_to="9999-12-31") == {e.seq for e in outages.values()}


def test_a_person_with_no_events_is_told_so(client, auditor):
    client.force_login(auditor)
    text = client.get("/audit/person/", {"email": "nobody@example.gov.uk"}).content.decode()
    assert "nobody@example.gov.uk</h2>" in text
    assert "0 events</caption>" in text and "No events match." in text


# --- the table on a phone --------------------------------------------------------------------------


def test_the_events_table_scrolls_in_a_focusable_named_region(client, auditor, outages):
    """GOV.UK's pattern for a wide table: a box that scrolls (styled .audit-table-scroll), reachable
    by keyboard and named by the table's caption (the browser test checks the page does not scroll)."""
    client.force_login(auditor)
    text = client.get("/audit/").content.decode()
    region = re.search(r'<div class="audit-table-scroll"([^>]*)>\s*<table class="govuk-table audit-results">', text)
    assert region, text
    assert 'role="region"' in region.group(1) and 'tabindex="0"' in region.group(1)
    assert 'aria-labelledby="audit-results-caption"' in region.group(1)
    assert '<caption class="govuk-table__caption govuk-table__caption--m" id="audit-results-caption">' in text
