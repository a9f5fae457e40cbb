"""The audit search page in a real browser, served by Daphne: filter, open a trace, verify."""

import pytest

from accounts.roles import Role
from audit.models import AuditEvent
from tests.conftest import sign_in

pytestmark = [pytest.mark.browser]


def test_auditor_searches_opens_a_trace_and_verifies(asgi_server, page, make_user, record_answer):
    """An auditor filters by free text, sees only the matching answer, opens its trace, and verifies the chain."""
    casey = make_user("casey@example.gov.uk")
    record_answer(casey, question="How many days of annual leave do I get?", conversation_id=7)
    record_answer(casey, question="What is the mileage rate for cars?", answer="45p a mile [1].", conversation_id=8)
    make_user("aditya@example.gov.uk", roles=[Role.AUDITOR])
    sign_in(page, asgi_server.url, "aditya@example.gov.uk")

    page.click("text=Audit")
    page.wait_for_url("**/audit/")
    assert page.locator(".audit-results tbody tr").count() == 2
    page.fill("input[name=q]", "mileage")
    page.click("button:has-text('Search')")
    page.wait_for_url("**/audit/?*q=mileage*")
    rows = page.locator(".audit-results tbody tr")
    assert rows.count() == 1
    assert "mileage rate" in rows.first.inner_text()

    rows.first.locator("a").first.click()
    page.wait_for_url("**/audit/event/*/")
    assert page.locator("h1").inner_text().startswith("answer")
    assert page.get_by_text("45p a mile [1].").is_visible()
    assert page.get_by_text("Passage 1 text about annual leave.").first.is_visible()

    # The export streams over ASGI (Daphne) with the browser's session: only the filtered answer.
    export = page.request.get(f"{asgi_server.url}/audit/export.jsonl?q=mileage")
    assert export.ok
    lines = export.text().splitlines()
    assert len(lines) == 1
    assert '"45p a mile [1]."' in lines[0]

    page.click("text=Verify integrity")
    page.click("button:has-text('Verify integrity now')")
    assert page.locator(".govuk-panel__title").inner_text() == "Chain intact"
    assert page.console_errors == []
    recorded = set(AuditEvent.objects.filter(action__startswith="audit.").values_list("action", flat=True))
    assert {"audit.search", "audit.view", "audit.export", "audit.verify"} <= recorded
