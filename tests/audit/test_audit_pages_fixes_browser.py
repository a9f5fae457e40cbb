"""In a real browser: "Every kind of event" chosen on the form stays chosen on the next page and in the
export, and the pages read as one list while the auditor's own reading is recorded."""

from __future__ import annotations

import csv
import io

import pytest

from accounts.roles import Role
from audit.models import AuditEvent
from audit.services import audit_record
from tests.conftest import give_reason, sign_in

pytestmark = [pytest.mark.browser]


def test_every_kind_of_event_pages_and_exports_as_chosen(asgi_server, page, make_user, record_answer):
    casey = make_user("casey@example.gov.uk")
    for n in range(40):
        record_answer(casey, question=f"Question number {n}?", conversation_id=300 + n)
        audit_record(action="conversation.delete", actor=casey, outcome="hidden", subject=f"conversation:{300 + n}",
                     data={"conversation_id": 300 + n})  # fmt: skip
    make_user("aditya@example.gov.uk", roles=[Role.AUDITOR])
    sign_in(page, asgi_server.url, "aditya@example.gov.uk")

    page.goto(asgi_server.url + "/audit/")
    give_reason(page)
    page.select_option("select[name=action]", label="Every kind of event")
    page.click("button:has-text('Search')")
    page.wait_for_url("**/audit/?action=*")
    caption = page.locator("#audit-results-caption").inner_text()
    count = int(caption.split()[0])
    searched = AuditEvent.objects.filter(action="audit.search", data__filters={"action": ""}).get()
    assert count == searched.data["results"] == AuditEvent.objects.filter(seq__lte=searched.data["as_of"]).count()
    first = [r.inner_text() for r in page.locator(".audit-results tbody tr td:first-child").all()]

    page.click("a[rel=next]")
    page.wait_for_url("**as_of=*")
    assert page.locator("select[name=action]").input_value() == ""
    assert page.locator("#audit-results-caption").inner_text() == caption
    second = [r.inner_text() for r in page.locator(".audit-results tbody tr td:first-child").all()]
    assert not set(first) & set(second) and len(first) == 50
    assert int(first[-1].lstrip("#")) - 1 == int(second[0].lstrip("#"))
    assert page.get_by_text("Page 2 of").is_visible()

    href = page.locator("a", has_text="CSV").get_attribute("href")
    exported = page.request.get(asgi_server.url + href)
    assert exported.ok and exported.headers["x-audit-export-rows"] == str(count)
    rows = list(csv.DictReader(io.StringIO(exported.text())))
    assert len(rows) == count and {"answer", "conversation.delete"} <= {r["action"] for r in rows}
    assert "no-store" in exported.headers["cache-control"]
    assert page.console_errors == []
