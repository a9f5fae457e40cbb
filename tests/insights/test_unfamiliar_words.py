"""Gaps: the words people asked with that the guidance does not use, from the questions it did not
cover, so that a curator can see which words a glossary entry could put in the guidance's words.

Shown only when enough different people used a word (``HUMPHREY_INSIGHTS_MIN_ASKERS``), as a topic's
keywords are; words only, never digits, and never from the personal data a question held."""

from __future__ import annotations

import pytest

from assistant.core.evidence import terms
from insights.selectors import Period
from insights.tables import Dashboard
from tests.insights.conftest import _answer
from tests.insights.test_dashboard import client_for

pytestmark = pytest.mark.django_db


def stems(*words: str) -> list[str]:
    return [t for word in words for t in terms(word)]


@pytest.fixture
def asked(seeded):
    """Five people asked about a memory stick, which the guidance calls removable media; one asked
    about ChatGPT; one gave a reference number and a name the passages did not hold."""
    for n, user in enumerate(seeded.askers[:5]):
        _answer(
            f"U{n}", user, question=f"Can I copy files to a Memory Stick, take {n}?", outcome="no_answer",
            days_ago=1, minute=30 + n, missing=stems("memory", "stick"),
        )  # fmt: skip
    _answer(
        "U5", seeded.askers[5], question="Can I use ChatGPT for a memory stick inventory?", outcome="no_answer",
        days_ago=1, minute=40, missing=stems("chatgpt", "memory", "stick", "inventory"),
    )  # fmt: skip
    _answer(  # recorded before the words moved from the event's data to its content: still counted
        "U7", seeded.askers[6], question="Is a memory stick allowed?", outcome="no_answer",
        days_ago=1, minute=42, missing=stems("memory", "stick"), missing_in_data=True,
    )  # fmt: skip
    _answer(
        "U6", seeded.askers[6], question="Is ticket AB123456C for Jo Bloggs approved?", outcome="no_answer",
        days_ago=1, minute=41, missing=stems("ab123456c", "jo", "bloggs", "approved"),
    )  # fmt: skip
    return seeded


def test_words_enough_people_used_are_listed_most_used_first(asked):
    """ "memory stick" counts the question that asked about a "memory stick inventory" too; "memory"
    and "stick" alone, in as many questions, add nothing and are not listed."""
    table = Dashboard(asked.hr, Period.last(30)).table("unfamiliar")
    assert [[c.text for c in row] for row in table.rows] == [["memory stick", "7"]]
    shown = " ".join(c.text for row in table.rows for c in row)
    for held_back in ("chatgpt", "inventory", "jo", "bloggs", "ab123456c", "approved"):
        assert held_back not in shown, "fewer than 5 people used it, or it was personal data"
    # Runs of such words none of which is shown ("jo bloggs approved"); the ChatGPT question's run is
    # not among them, since it holds "memory stick".
    assert table.notes == ["2 words or phrases not shown: fewer than 5 people are behind each."]


def test_the_dashboard_shows_and_exports_them(asked):
    client = client_for(asked.hr_curator)
    page = client.get("/insights/hr/").content.decode()
    assert "Gaps: words people asked with that the guidance does not use" in page
    csv = client.get("/insights/hr/", {"format": "csv", "table": "unfamiliar"}).content.decode()
    assert csv.splitlines() == ["Words,Questions not covered that used them", "memory stick,7"]


def test_another_collections_questions_never_count(asked):
    table = Dashboard(asked.travel, Period.last(30)).table("unfamiliar")
    assert table.rows == []


def test_the_words_go_with_the_questions_at_the_retention_purge(asked):
    """The words are the questions' content: once the purge removed it, none is listed, and the
    events' data, kept for ever, holds only how many there were."""
    from audit.models import AuditEvent
    from tests.insights.conftest import purge_everything_as_if_old

    purge_everything_as_if_old()
    assert Dashboard(asked.hr, Period.last(30)).table("unfamiliar").rows == []
    newer = AuditEvent.objects.filter(action="answer", data__coverage__missing_count__gt=0).exclude(
        data__coverage__has_key="missing"
    )
    assert newer.count() == 7 and not any("memori" in str(e.data) for e in newer)
