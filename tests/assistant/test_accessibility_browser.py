"""The pages people use, checked for WCAG 2.2 A and AA failures by axe-core in a real browser.

A UK government service must meet WCAG 2.2 AA (the Public Sector Bodies Accessibility Regulations).
axe-core (the npm dev dependency, MPL 2.0) finds the failures a machine can find: contrast, names of
controls and links, headings and landmarks, ARIA misuse, duplicate ids. Each page is opened as the
person who uses it, in the state they see it in (a chat with a streamed answer and its sources, a
passage with the sentences used, a glossary with its warnings, the insights and the audit trail).
The pages' Content Security Policy forbids any script but the site's own, so this browser context
bypasses it to run axe; nothing else differs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accounts.roles import Role
from documents.models import GlossaryTerm
from tests.conftest import give_reason, sign_in

from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
STANDARDS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def violations(page) -> list[str]:
    """axe-core's WCAG A and AA violations on the page as it is now, one line each."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return {violations: r.violations, passed: r.passes.length}; }",
        STANDARDS,
    )
    assert result["passed"] > 10, "axe ran its checks on the page"
    found = result["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}" for v in found]


@pytest.fixture
def site(guidance, openai_server):
    server = chat_site(
        openai_server,
        ttft_ms=50,
        tokens_per_second=200,
        reply="Full-time staff get **25 days** of annual leave a year [1]. Bring a cake on Fridays [2].",
    )
    yield server
    server.stop()


@pytest.fixture
def axe_page(chromium):
    context = chromium.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_the_pages_a_civil_servant_uses_have_no_wcag_failures(site, axe_page, staff):
    page = axe_page
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    assert violations(page) == [], "the empty chat page"
    page.get_by_label("Your question").fill("How many days of annual leave do full-time staff get?")
    page.get_by_role("button", name="Ask").click()
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    page.get_by_label("Your question").fill("Can I bring my dog to the office?")
    page.get_by_role("button", name="Ask").click()
    page.locator(".humphrey-answer[data-status]").nth(1).wait_for()
    page.wait_for_function("() => !document.querySelector('.humphrey-answer[data-status=\"streaming\"]')")
    assert violations(page) == [], "the chat with an answer, its sources and marks, as it streamed"
    page.reload()
    assert violations(page) == [], "the conversation reopened"
    with page.expect_navigation():
        page.locator("a.humphrey-citation").first.click()
    assert violations(page) == [], "the cited passage, the sentences used in bold"
    page.goto(site.url + "/chat/history/")
    assert violations(page) == [], "all conversations"


def test_the_pages_curators_and_auditors_use_have_no_wcag_failures(site, axe_page, make_user, guidance):
    page = axe_page
    hr = guidance["hr"]
    keeper = make_user("cara@example.gov.uk", roles=[Role.CURATOR], groups=["All staff"])
    hr.curators.add(keeper)
    GlossaryTerm.objects.create(collection=hr, phrase="holiday", key="holiday", means="annual leave")
    GlossaryTerm.objects.create(collection=hr, phrase="memory stick", key="memory stick", means="removable media")
    sign_in(page, site.url, keeper.email)
    for path, what in [
        ("/curate/", "the collections"),
        (f"/curate/c/{hr.slug}/", "a collection"),
        (f"/curate/c/{hr.slug}/glossary/", "its glossary, with a warning and the counts"),
        (f"/curate/c/{hr.slug}/try/?q=How+much+holiday+do+I+get%3F", "Try a question, with its answer"),
        (f"/insights/{hr.slug}/", "its insights"),
    ]:
        page.goto(site.url + path)
        assert violations(page) == [], what

    auditor = make_user("aditya@example.gov.uk", roles=[Role.AUDITOR])
    page.context.clear_cookies()
    sign_in(page, site.url, auditor.email)
    page.goto(site.url + "/audit/")
    assert "/audit/purpose/" in page.url and violations(page) == [], "the reason for reading"
    give_reason(page)
    for path, what in [("/audit/", "the audit search"), ("/audit/verify/", "the integrity check")]:
        page.goto(site.url + path)
        assert violations(page) == [], what
