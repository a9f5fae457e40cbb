"""The audit search page in a real browser, served by Daphne: filter, open a trace, verify."""

import io

import pytest

from accounts.roles import Role
from audit.models import AuditEvent
from tests.conftest import give_reason, sign_in

pytestmark = [pytest.mark.browser]


def test_auditor_searches_opens_a_trace_and_verifies(asgi_server, page, make_user, record_answer):
    """An auditor filters by free text, sees only the matching answer, opens its trace, and verifies the chain."""
    casey = make_user("casey@example.gov.uk")
    record_answer(casey, question="How many days of annual leave do I get?", conversation_id=7)
    record_answer(casey, question="What is the mileage rate for cars?", answer="45p a mile [1].", conversation_id=8)
    make_user("aditya@example.gov.uk", roles=[Role.AUDITOR])
    sign_in(page, asgi_server.url, "aditya@example.gov.uk")

    page.click("text=Audit")
    page.wait_for_url("**/audit/purpose/?next=*")  # asked why, before any question is shown
    give_reason(page, "Quality review")
    page.wait_for_url("**/audit/")
    assert "Reading for: Quality review" in page.locator(".audit-purpose").inner_text()
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
    passage = page.locator("details.audit-passage").first
    assert not page.get_by_text("Passage 1 text about annual leave.").first.is_visible()  # folded
    passage.locator("summary").click()
    assert page.get_by_text("Passage 1 text about annual leave.").first.is_visible()

    # The export streams over ASGI (Daphne) with the browser's session: only the filtered answer.
    export = page.request.get(f"{asgi_server.url}/audit/export.jsonl?q=mileage")
    assert export.ok
    *lines, manifest = export.text().splitlines()
    assert len(lines) == 1
    assert '"45p a mile [1]."' in lines[0]
    assert '"rows": 1' in manifest and manifest.startswith('{"manifest": ')

    page.click("text=Verify integrity")
    page.click("button:has-text('Verify integrity now')")
    assert page.locator(".govuk-panel__title").inner_text() == "Chain intact"
    assert page.console_errors == []
    recorded = set(AuditEvent.objects.filter(action__startswith="audit.").values_list("action", flat=True))
    assert {"audit.search", "audit.view", "audit.export", "audit.verify"} <= recorded


POLICY = """# Password policy

## 1 Passwords and sign-in

Your password must be at least 12 characters long. Change your password at once if you think someone
else knows it, and never write it down. {one}

## 2 Locking your screen

Lock your screen whenever you leave your desk, even for a minute. {two}
""".format(
    one=" ".join(f"Sign-in rule {n} applies to every account on the network." for n in range(12)),
    two=" ".join(f"Screen rule {n} applies to every device you are given." for n in range(12)),
)


@pytest.mark.django_db(transaction=True)
def test_a_real_answers_event_page_shows_each_passage_by_its_section(
    chromium, page, make_user, settings, tmp_path, private_dir
):
    """A civil servant's question answered by the real pipeline (ingested guidance, the extractive
    answerer): its audit event page names each passage's section as the heading it is ("1 Passwords
    and sign-in", not letters joined by "›"), keeps passages folded until opened, says the answer was
    not priced, and shows scores to three significant figures."""
    import re

    from django.core.management import call_command

    from tests.conftest import AsgiServer

    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}
    settings.MEDIA_ROOT = str(private_dir / "media")
    (tmp_path / "guidance").mkdir()
    (tmp_path / "guidance" / "password-policy.md").write_text(POLICY)
    call_command(
        "ingest", str(tmp_path / "guidance"), "--collection", "security", "--create", "--wait",
        "--group", "All staff", "--no-progress", stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    make_user("casey@example.gov.uk", groups=["All staff"])
    make_user("aditya@example.gov.uk", roles=[Role.AUDITOR])
    server = AsgiServer(
        HUMPHREY_EMBEDDINGS_PROVIDER="fake",
        HUMPHREY_ANSWER_MIN_EVIDENCE="0.2",
        HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY="0.1",
    )
    try:
        sign_in(page, server.url, "casey@example.gov.uk")
        page.goto(server.url + "/")
        page.get_by_label("Your question").fill("How many characters must my password be?")
        page.get_by_role("button", name="Ask").click()
        page.locator(".humphrey-answer[data-status='complete']").wait_for()

        event = AuditEvent.objects.filter(action="answer").latest("seq")
        assert event.outcome == "answered", event.data
        auditor = chromium.new_context()
        try:
            audit_page = auditor.new_page()
            audit_page.set_default_timeout(15_000)
            sign_in(audit_page, server.url, "aditya@example.gov.uk")
            audit_page.goto(f"{server.url}/audit/event/{event.seq}/")
            give_reason(audit_page)
            passages = audit_page.locator("details.audit-passage")
            assert passages.count() >= 1
            first = passages.first
            summary = first.locator("summary").inner_text()
            assert summary.startswith("[1] Password policy: 1 Passwords and sign-in"), summary
            assert " › P › a" not in audit_page.content()
            section = first.locator(".audit-section")
            assert not section.is_visible()  # folded until opened
            first.locator("summary").click()
            assert section.is_visible()
            assert section.inner_text() == "1 Passwords and sign-in"
            assert "at least 12 characters" in first.locator(".audit-text").inner_text()
            scores = first.locator("dd", has_text="vector").inner_text()
            assert re.fullmatch(r"vector ([\d.e-]+|—), keyword ([\d.e-]+|—), fused ([\d.e-]+|—)", scores), scores
            assert all(len(re.sub(r"\D", "", s).lstrip("0")) <= 3 for s in re.findall(r"[\d.]+", scores)), scores
            cost = audit_page.locator(".govuk-summary-list__row", has_text="Cost").locator("dd").inner_text()
            assert cost == "not priced"
        finally:
            auditor.close()
    finally:
        server.stop()
