"""A real browser (Chromium via Playwright): an answer presents itself the same live (chat.js, from the
frames) and reopened (the server's _answer.html):

- marked with the highest security marking of what it cites, which "Copy answer" copies first;
- its source links say which passage each is, and never Humphrey's upload number as "version N";
- "not covered" is headed so, with nothing to copy; "Not answered" asks for no feedback;
- reopened, guidance withdrawn since is tagged and said;
- a question being typed survives being signed out and signing in again, and goes once it is sent.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from assistant.models import Message
from documents.models import Document, Marking
from documents.services.documents import document_retire
from tests.conftest import PASSWORD, AsgiServer, sign_in
from tests.factories import make_collection

from .conftest import add_document
from .test_a11y_chat_browser import SEEN
from .test_answer_presentation import DISPUTE, SENSITIVE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LEAVE_QUESTION = "How many days of annual leave do full-time staff get?"


def presenting_site(openai_server, **behaviour) -> AsgiServer:
    """As ``test_browser.chat_site``, with a model approved for OFFICIAL-SENSITIVE passages."""
    openai_server.configure(scenario="ok", **behaviour)
    return AsgiServer(
        OPENAI_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY="test-key",
        HUMPHREY_CHAT_MODEL="fake-model",
        HUMPHREY_CHAT_MAX_MARKING="OFFICIAL-SENSITIVE",
        HUMPHREY_EMBEDDINGS_PROVIDER="fake",
        HUMPHREY_ANSWER_MIN_EVIDENCE="0.2",
        HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY="0.1",
    )


@pytest.fixture
def site(guidance, staff, openai_server):
    """The HR guidance (OFFICIAL), sensitive postings (OFFICIAL-SENSITIVE) all staff may read, and a
    dispute guide in three sections; the model cites every passage it is given."""
    postings = make_collection("postings", groups=["All staff"], marking=Marking.OFFICIAL_SENSITIVE)
    add_document(postings, [SENSITIVE], title="Sensitive postings")
    add_document(guidance["hr"], DISPUTE, title="Solve a workplace dispute")
    server = presenting_site(openai_server, reply="Here is what the guidance says [1] [2] [3] [4] [5] [6].")
    yield server
    server.stop()
    openai_server.configure()


def ask(page, text: str) -> None:
    page.get_by_label("Your question").fill(text)
    page.get_by_role("button", name="Ask", exact=True).click()


def newest_answer(page):
    return page.locator(".humphrey-answer").last


def sources(answer) -> list[dict]:
    """Each source as a screen reader meets it: its link's accessible name, and the whole line shown."""
    return answer.locator(".humphrey-sources li").evaluate_all(
        """items => items.map(li => {
          const a = li.querySelector('a');
          const said = (text) => text.replace(/\\s+/g, ' ').trim();
          return {name: a ? said(a.textContent) : null, line: said(li.innerText)};
        })"""
    )


# --- 1. The security marking, live, reopened and copied --------------------------------------------


def test_an_answer_citing_official_sensitive_and_official_guidance_is_marked_official_sensitive(site, page, staff):
    """Live: a tag "OFFICIAL-SENSITIVE" under the heading; "Copy answer" copies it as the first line;
    reopened, the same tag."""
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page, "How many days of annual leave do full-time staff get on sensitive postings?")
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    cited = " ".join(s["line"] for s in sources(answer))
    assert "Sensitive postings" in cited and "Leave policy" in cited, "it cites passages of both markings"
    tag = answer.locator(".humphrey-answer__marking .govuk-tag")
    assert tag.evaluate(SEEN) == "OFFICIAL-SENSITIVE"
    assert " ".join(tag.text_content().split()) == "Security marking: OFFICIAL-SENSITIVE"
    assert answer.get_attribute("data-marking") == "OFFICIAL-SENSITIVE"

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    answer.get_by_role("button", name="Copy answer").click()
    answer.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("async () => await navigator.clipboard.readText()")
    assert copied.split("\n")[0] == "OFFICIAL-SENSITIVE"
    assert copied.startswith("OFFICIAL-SENSITIVE\n\nHere is what the guidance says")

    page.reload()
    stored = page.locator(".humphrey-answer[data-status='complete']")
    stored.wait_for()
    assert stored.locator(".humphrey-answer__marking .govuk-tag").evaluate(SEEN) == "OFFICIAL-SENSITIVE"
    assert stored.get_attribute("data-marking") == "OFFICIAL-SENSITIVE"
    assert not page.console_errors


# --- 3 and 4. Source links that say which passage, and no "version N" -----------------------------


def test_a_document_cited_three_times_gives_three_links_that_say_which_section(site, page, staff):
    """A guide cited three times: each link names its section, live and reopened alike;
    no source says "version 1" (Humphrey's upload number, not the document's version)."""
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page, "How do I settle a dispute at work: informally, by mediation or a formal grievance?")
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    live = sources(answer)
    names = [s["name"] for s in live if s["name"].startswith("Solve a workplace dispute")]
    assert len(names) >= 2, live
    assert len(set(names)) == len(names), "no two links named alike"
    assert all("Section" in name for name in names)
    assert not [s for s in live if "version" in s["line"].lower()]

    page.reload()
    stored = page.locator(".humphrey-answer[data-status='complete']")
    stored.wait_for()
    assert sources(stored) == live
    assert not page.console_errors


# --- 3. "Not covered" and "Not answered" ----------------------------------------------------------


def test_a_not_covered_reply_is_headed_so_keeps_its_links_and_offers_nothing_to_copy(site, page, staff):
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page, "Which quantum chromodynamics gluon flavours exist?")
    answer = page.locator(".humphrey-answer[data-status='no_answer']")
    answer.wait_for()

    def shown():
        return {
            "heading": answer.get_by_role("heading", level=2).inner_text(),
            "buttons": answer.locator(".humphrey-answer__actions button").all_inner_texts(),
            "marking": answer.locator(".humphrey-answer__marking").count(),
            "links": answer.locator(".humphrey-answer__body a[href*='/passage/']").count(),
            "feedback": answer.get_by_label("Yes, helpful").count(),
        }

    live = shown()
    assert live["heading"] == "Not covered by the guidance you can search"
    assert live["buttons"] == [] and live["marking"] == 0
    assert live["links"] >= 1, "the nearest guidance, as links"
    assert live["feedback"] == 1
    page.reload()
    answer.wait_for()
    assert shown() == live
    assert not page.console_errors


def test_an_answer_stopped_before_its_first_word_asks_for_no_feedback(site, page, staff, openai_server):
    openai_server.configure(merge=True, ttft_ms=10_000)
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page, LEAVE_QUESTION)
    newest_answer(page).get_by_text("Writing an answer…").wait_for()
    page.get_by_role("button", name="Stop answering").click()
    answer = page.locator(".humphrey-answer[data-status='stopped']")
    answer.wait_for()
    assert answer.get_by_role("heading", level=2).inner_text() == "Not answered"
    assert answer.locator("form").count() == 0 and answer.get_by_text("Was this answer helpful?").count() == 0
    page.reload()
    answer.wait_for()
    assert answer.get_by_role("heading", level=2).inner_text() == "Not answered"
    assert answer.locator("form").count() == 0 and answer.get_by_text("Was this answer helpful?").count() == 0
    assert not page.console_errors


# --- 2. Guidance withdrawn since --------------------------------------------------------------------


def test_reopened_after_its_guidance_was_retired_the_answer_says_it_was_withdrawn(site, page, staff, curator):
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page, LEAVE_QUESTION)
    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    assert answer.locator(".humphrey-answer__withdrawn").count() == 0
    assert "Leave policy" in " ".join(s["line"] for s in sources(answer))

    document_retire(document=Document.objects.get(title="Leave policy"), user=curator)
    page.reload()
    answer.wait_for()
    banner = answer.locator(".humphrey-answer__withdrawn")
    expect(banner).to_contain_text("Some guidance quoted here has been withdrawn since this answer was given")
    assert "Leave policy" in banner.inner_text()
    source = answer.locator(".humphrey-sources li[data-withdrawn='true']")
    assert source.count() == 1 and source.locator("a").inner_text().startswith("Leave policy")
    assert source.locator(".humphrey-source__withdrawn").inner_text() == "withdrawn"
    assert not page.console_errors


# --- 5. A question being typed survives signing in again ---------------------------------------------


def sign_out_elsewhere(page, site) -> None:
    """Sign out in another tab of the same browser, as the person would."""
    other = page.context.new_page()
    other.goto(site.url + "/accounts/logout/")
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url(lambda url: "/accounts/logout/" not in url)
    other.close()


def sign_in_here(page, email: str) -> None:
    """The sign-in form this tab was sent to, filled in."""
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_a_question_typed_before_being_signed_out_is_back_in_the_box_after_signing_in(site, page, staff):
    """Typed in this tab, signed out in another: "Sign in again" leads back to the conversation with the
    question still in the box; sent and stored, it is gone from the box for good."""
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    ask(page, LEAVE_QUESTION)
    page.locator(".humphrey-answer[data-status='complete']").wait_for()
    conversation = page.url
    typed = "And part-time staff?\nThey work three days a week."
    page.get_by_label("Your question").fill(typed)

    sign_out_elsewhere(page, site)
    status = page.locator("#chat-status")
    expect(status).to_contain_text("You have been signed out")
    status.get_by_role("link", name="Sign in again").click()
    sign_in_here(page, staff.email)
    assert page.url == conversation
    assert page.get_by_label("Your question").input_value() == typed

    page.get_by_role("button", name="Ask", exact=True).click()
    page.locator(".humphrey-answer[data-status='complete']").nth(1).wait_for()
    assert Message.objects.filter(role="user").count() == 2
    page.reload()
    page.locator(".humphrey-answer").nth(1).wait_for()
    assert page.get_by_label("Your question").input_value() == "", "sent and stored: not given back again"
    assert not page.console_errors


def test_someone_else_signing_in_in_the_same_tab_never_sees_the_question(site, page, staff, make_user):
    """Kept for the person who typed it: another who signs in in that tab finds an empty box, and the
    person who typed it, signing in again, finds their question."""
    other = make_user("olive@example.gov.uk", groups=["All staff"])
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    page.get_by_label("Your question").fill("Can I carry over leave from a sensitive posting?")
    sign_out_elsewhere(page, site)
    expect(page.locator("#chat-status")).to_contain_text("You have been signed out")

    page.locator("#chat-status").get_by_role("link", name="Sign in again").click()
    sign_in_here(page, other.email)
    assert page.get_by_label("Your question").input_value() == ""

    sign_out_elsewhere(page, site)
    expect(page.locator("#chat-status")).to_contain_text("You have been signed out")
    page.locator("#chat-status").get_by_role("link", name="Sign in again").click()
    sign_in_here(page, staff.email)
    assert page.get_by_label("Your question").input_value() == "Can I carry over leave from a sensitive posting?"
    assert not page.console_errors
