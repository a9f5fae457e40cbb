"""A collection's glossary in a real browser (Chromium via Playwright): a question asked in everyday
words is answered from guidance that puts it in its own words, and the page says what was searched
for, as information above the answer rather than as a warning; a curator's "Try a question" shows
the same."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group

from documents.glossary import glossary_forget
from documents.services.glossary import glossary_replace
from tests.conftest import sign_in

from .test_browser import chat_site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTION = "How many days of holiday do full-time staff get?"
SEARCHED_AS = "“holiday” as “annual leave”"


@pytest.fixture
def hr_glossary(guidance, curator):
    """The "hr" collection's glossary holds ``holiday = annual leave`` (its leave passage says
    "annual leave", never "holiday")."""
    glossary_replace(collection=guidance["hr"], user=curator, entries=[("holiday", "annual leave")])
    glossary_forget()
    yield guidance["hr"]
    glossary_forget()


@pytest.fixture
def site(hr_glossary, staff, openai_server):
    server = chat_site(openai_server, reply="Full-time staff get **25 days** of annual leave a year [1].")
    yield server
    server.stop()


def test_a_question_in_everyday_words_says_it_was_searched_in_the_guidances_words(site, page, staff):
    """The member of staff asks about "holiday"; the answer comes from the leave passage, and above it
    the page says the question was searched as "annual leave": a plain line, not a warning."""
    sign_in(page, site.url, staff.email)
    page.goto(site.url + "/")
    page.get_by_label("Your question").fill(QUESTION)
    page.get_by_role("button", name="Ask").click()

    answer = page.locator(".humphrey-answer[data-status='complete']")
    answer.wait_for()
    assert "25 days" in answer.inner_text()

    searched = page.locator(".app-searched-as")
    assert searched.count() == 1
    assert searched.is_visible()
    assert SEARCHED_AS in searched.inner_text()
    assert "govuk-body-s" in searched.get_attribute("class")
    assert answer.locator(".app-searched-as").count() == 1  # in this answer, above what it says
    assert searched.evaluate(
        "p => !!(p.compareDocumentPosition(p.parentElement.querySelector('.humphrey-answer__body'))"
        " & Node.DOCUMENT_POSITION_FOLLOWING)"
    )
    assert page.locator(".govuk-warning-text .app-searched-as").count() == 0
    assert page.locator(".govuk-warning-text", has_text="annual leave").count() == 0
    assert page.locator(".govuk-warning-text").count() == 0  # nothing here is a warning
    assert page.console_errors == []


@pytest.fixture
def try_site(hr_glossary, curator, openai_server):
    """The curator looks after "hr" and is in its reader group, so Try a question can preview it."""
    hr_glossary.curators.add(curator)
    curator.groups.add(Group.objects.get(name="All staff"))
    server = chat_site(openai_server)
    yield server
    server.stop()


def test_try_a_question_shows_the_glossary_entry_it_searched_with(try_site, page, curator):
    """The curator tries the everyday question on the collection's Try a question page: it is
    answered, the page says what it was searched as, and links to the glossary."""
    sign_in(page, try_site.url, curator.email)
    page.goto(f"{try_site.url}/curate/c/hr/try/?q={quote(QUESTION)}")
    assert page.get_by_role("heading", level=1).inner_text() == "Try a question"

    searched = page.locator("p.app-searched-as")
    assert searched.count() == 1
    text = searched.inner_text()
    assert "Searched in the guidance's words, from the glossary:" in text
    assert SEARCHED_AS in text
    assert page.locator(".govuk-tag", has_text="Answered").is_visible()
    assert "25 days" in page.locator(".humphrey-try-answer").inner_text()

    link = searched.get_by_role("link", name="Glossary")
    assert link.get_attribute("href") == "/curate/c/hr/glossary/"
    link.click()
    page.wait_for_url(f"{try_site.url}/curate/c/hr/glossary/")
    assert page.get_by_label("Entries").input_value() == "holiday = annual leave"
    assert page.console_errors == []
