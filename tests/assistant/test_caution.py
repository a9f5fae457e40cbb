"""A borderline answer says so: when the gate lets a question through with evidence only just above
its threshold (``HUMPHREY_ANSWER_CAUTION_MARGIN``), the answer opens with a caution, with or without a
model, recorded in the audit event and counted by ``evaluate_answers`` (fake embedder; the model, where
there is one, is the fake OpenAI-compatible server over real HTTP). The margin is widened or closed
here so that the same question is borderline or not: the gate's own figures are measured in
``bench/answers.py``."""

from __future__ import annotations

import io
import json

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from assistant.core.evidence import Coverage
from assistant.models import Message
from assistant.services.frames import CAUTION, caution_text
from assistant.services.steps import answer_caution
from audit.models import AuditEvent

from .helpers import ask_once

pytestmark = [pytest.mark.django_db(transaction=True)]

QUESTION = "How many days of annual leave do full-time staff get?"
SUPPORTED = "Full-time staff get 25 days of annual leave a year [1]."


@database_sync_to_async
def db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def _answer_event():
    return AuditEvent.objects.filter(action="answer").get()


@pytest.mark.asyncio
async def test_a_borderline_extractive_answer_says_it_may_not_answer_exactly(guidance, staff, settings):
    settings.HUMPHREY_ANSWER_CAUTION_MARGIN = 1.0  # every answer is borderline
    done = (await ask_once(staff, QUESTION, collections=["hr"]))[-1]
    assert done["status"] == "complete"
    notice, _, quotes = done["text"].partition("\n\n")
    assert notice.startswith("No language model is configured") and CAUTION in notice
    assert "25 days of annual leave" in quotes and CAUTION not in quotes
    assert CAUTION in done["html"]
    event = await db(_answer_event)
    assert event.data["coverage"]["covered"] is True and event.data["coverage"]["caution"] is True


@pytest.mark.asyncio
async def test_a_clear_answer_has_no_caution(guidance, staff, settings):
    settings.HUMPHREY_ANSWER_CAUTION_MARGIN = 0.0
    done = (await ask_once(staff, QUESTION, collections=["hr"]))[-1]
    assert done["status"] == "complete" and "25 days of annual leave" in done["text"]
    assert CAUTION not in done["text"]
    assert (await db(_answer_event)).data["coverage"]["caution"] is False


@pytest.mark.asyncio
async def test_a_borderline_model_answer_opens_with_the_caution_which_the_claim_check_does_not_read(
    guidance, staff, settings, openai_model, openai_server
):
    """The caution is Humphrey's, above the model's words: the model is not told it, the claim check
    reads only the model's sentences (the caution is never marked as an uncited claim), and the
    stored answer, its page and its audit content hold it."""
    settings.HUMPHREY_ANSWER_CAUTION_MARGIN = 1.0
    openai_server.configure(reply=SUPPORTED)
    done = (await ask_once(staff, QUESTION, collections=["hr"]))[-1]
    assert done["status"] == "complete"
    assert done["text"].startswith(f"**{CAUTION}")
    assert done["text"].endswith(SUPPORTED)
    assert [c["sentence"] for c in done["checks"]] == [SUPPORTED]
    assert not any(c["uncited"] or c["unsupported"] for c in done["checks"])
    assert "humphrey-check" not in done["html"] and CAUTION in done["html"]
    sent = json.dumps([r for r in openai_server.requests if "messages" in r])
    assert CAUTION not in sent
    stored = await db(lambda: Message.objects.get(pk=done["message"]).text)
    assert stored == done["text"]


def test_the_caution_names_the_words_the_passages_never_use():
    assert caution_text([]) == CAUTION
    assert caution_text(["jury", "summons"]) == f"{CAUTION} It does not mention “jury”, “summons”."


def test_only_an_answered_borderline_question_is_cautioned():
    def verdict(covered: bool, caution: bool) -> Coverage:
        return Coverage(covered, 0.5, 0.5, ("juri",), 0.5, 0.5, True, 0.51, caution=caution)

    assert answer_caution(verdict(True, True), "Am I paid for jury service?") == (
        f"{CAUTION} It does not mention “jury”."
    )
    assert answer_caution(verdict(True, False), "Am I paid for jury service?") == ""
    assert answer_caution(verdict(False, True), "Am I paid for jury service?") == ""


def test_evaluate_answers_counts_cautioned_answers(guidance, tmp_path, settings):
    questions = tmp_path / "q.jsonl"
    doc = guidance["hr"].documents.get(title="Leave policy").source_name
    questions.write_text(
        json.dumps({"id": "a1", "question": QUESTION, "doc": doc, "answer_quote": "25 days of annual leave"}) + "\n"
    )

    def run() -> dict:
        out = io.StringIO()
        call_command("evaluate_answers", str(questions), "--collection", "hr", stdout=out)
        return json.loads(out.getvalue().strip().splitlines()[-1])

    settings.HUMPHREY_ANSWER_CAUTION_MARGIN = 1.0
    widened = run()
    assert widened["answered"] == 1.0 and widened["quote_in_answer"] == 1.0 and widened["cautioned"] == 1.0
    assert widened["negatives_answered_cautioned"] is None  # no question the guidance does not cover
    settings.HUMPHREY_ANSWER_CAUTION_MARGIN = 0.0
    assert run()["cautioned"] == 0.0
