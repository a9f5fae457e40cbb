"""A collection's glossary in chat: a question asked in everyday words is searched and judged in the
guidance's words, the person is told what was searched for, and the audit records it; a glossary the
person may not read changes nothing of their question."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from assistant.core.types import Turn
from assistant.services.steps import question_searched
from audit.models import AuditEvent
from documents.glossary import Glossary, Term, glossary_forget
from documents.models import GlossaryTerm

from .helpers import ask_once, conversation_page

QUESTION = "How many days of holiday do full-time staff get?"


def notices(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] == "notice"]


@database_sync_to_async
def add_terms(collection, *pairs: tuple[str, str]) -> None:
    for phrase, means in pairs:
        GlossaryTerm.objects.create(collection=collection, phrase=phrase, key=phrase.lower(), means=means)
    glossary_forget()


@database_sync_to_async
def last_answer_event() -> AuditEvent:
    return AuditEvent.objects.filter(action="answer").order_by("-id").first()


def test_a_follow_up_is_put_in_the_guidance_words_with_its_subject():
    glossary = Glossary([Term("holiday", "annual leave", "hr"), Term("flexi", "flexible working", "hr")])
    turns = [Turn("user", "How much holiday do I get?"), Turn("assistant", "25 days [1]")]
    searched = question_searched("and with flexi?", turns, glossary)
    assert searched.condensed == "How much annual leave do I get? and with flexible working?"
    assert searched.question == "and with flexible working?"
    assert searched.subject == "How much annual leave do I get?"
    assert [t.phrase for t in searched.terms] == ["holiday", "flexi"]
    plain = question_searched("and with flexi?", turns)
    assert plain.condensed == "How much holiday do I get? and with flexi?" and plain.terms == ()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_question_in_everyday_words_is_answered_through_the_glossary(guidance, staff):
    before = await ask_once(staff, QUESTION)
    assert before[-1]["status"] == "no_answer", "the guidance never says holiday: not covered without a glossary"
    assert notices(before) == []

    await add_terms(guidance["hr"], ("holiday", "annual leave"))
    frames = await ask_once(staff, QUESTION)
    assert frames[-1]["status"] == "complete"
    assert "25 days" in frames[-1]["text"]
    (notice,) = notices(frames)
    assert notice["code"] == "glossary"
    assert notice["message"] == "Searched in the guidance's words: “holiday” as “annual leave”."
    event = await last_answer_event()
    assert event.data["glossary"] == [{"phrase": "holiday", "means": "annual leave", "collection": "hr"}]
    content = await database_sync_to_async(lambda: event.content.body)()
    assert content["question"] == QUESTION  # what was asked is kept as asked
    assert content["condensed_question"] == "How many days of annual leave do full-time staff get?"
    page = await conversation_page(staff, frames[0]["conversation"])
    assert page.count("app-searched-as") == 1, "reopened, the answer still says what was searched for"
    assert "Searched in the guidance&#x27;s words: “holiday” as “annual leave”." in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_glossary_the_person_may_not_read_changes_nothing(guidance, staff, make_user):
    """The restricted collection's glossary maps the same word to its own words: a member of staff
    who may not read it is neither searched nor told in them; its readers are."""
    await add_terms(guidance["restricted"], ("holiday", "secret rota"))
    frames = await ask_once(staff, QUESTION)
    assert notices(frames) == []
    assert "secret" not in str(frames).lower()
    event = await last_answer_event()
    assert "glossary" not in event.data

    security = await database_sync_to_async(make_user)("sec@example.gov.uk", groups=["Security team"])
    frames = await ask_once(security, QUESTION)
    (notice,) = notices(frames)
    assert "“secret rota”" in notice["message"]
