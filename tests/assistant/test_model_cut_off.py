"""A model cut off mid-answer, over real sockets (Daphne, the ``openai`` SDK, the fake HTTP server):
its server killed, or its stream ending without the model saying the answer was whole. What came is
kept as an unfinished (stalled) answer, or, when nothing came, the guidance is quoted instead; a model
failure is never turned into "the guidance does not cover this"."""

from __future__ import annotations

import asyncio

import pytest

from assistant.models import Message, Status
from assistant.services import NOT_COVERED
from audit.models import AuditEvent

from .test_live import QUESTION, ask_over_socket, live_server

pytestmark = pytest.mark.django_db(transaction=True)

# The fake's reply cites its passage only from its ninth word: its first words cite nothing.
FIRST_WORDS = "According to the guidance,"


@pytest.fixture
def site(guidance, staff, openai_server):
    """As deployed by default: a model that fails before its first word is answered for by quoting."""
    server, session = live_server(staff, openai_server)
    yield server, session
    server.stop()
    openai_server.configure()


def ask(site, openai_server, scenario: str, **behaviour) -> list[dict]:
    server, session = site
    openai_server.configure(scenario=scenario, tokens_per_second=50, **behaviour)
    return asyncio.run(ask_over_socket(server.url, session, QUESTION))


@pytest.mark.parametrize("scenario", ["ends_early", "cut_off"])
def test_a_model_cut_off_mid_answer_leaves_an_unfinished_answer_not_a_not_covered_one(site, openai_server, scenario):
    """The model's server dies while its first words are arriving: whether its stream ends cleanly
    with no finish_reason and no [DONE] (``ends_early``) or breaks off (``cut_off``), the words that
    came are kept as a stalled answer that says it broke off, stored and audited as such, and never
    replaced by the "not covered" reply."""
    frames = ask(site, openai_server, scenario, stall_after=4)
    done = frames[-1]
    assert done["type"] == "done" and done["status"] == "stalled", frames
    assert done["text"] == FIRST_WORDS
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == FIRST_WORDS
    assert done["error"]["code"] == "model_cut_off" and done["error"]["message"]
    answer = Message.objects.get(pk=done["message"])
    assert (answer.status, answer.error_code, answer.text) == (Status.STALLED, "model_cut_off", FIRST_WORDS)
    assert NOT_COVERED not in answer.text
    event = AuditEvent.objects.get(action="answer")
    assert (event.outcome, event.data["error_code"]) == ("stalled", "model_cut_off")
    assert event.data["model"]["name"] == "fake-model"  # the model's own words, not quotes instead


@pytest.mark.parametrize("scenario", ["ends_early", "cut_off"])
def test_a_model_cut_off_before_its_first_word_is_answered_for_by_quoting(site, openai_server, scenario):
    """Cut off before any text: a failure like any other before the first word, so the guidance's own
    sentences answer, saying why; not "the guidance does not cover this"."""
    from assistant.providers.extractive import FALLBACK_NOTICE

    done = ask(site, openai_server, scenario, stall_after=0)[-1]
    assert done["type"] == "done" and done["status"] == "complete", done
    assert done["text"].startswith(FALLBACK_NOTICE) and "25 days" in done["text"]
    event = AuditEvent.objects.get(action="answer")
    assert event.outcome == "answered" and event.data["model"]["name"] == "extractive"
    assert event.data["model"]["instead_of"]["name"] == "fake-model"
    assert event.data["model"]["error_code"] in ("model_unavailable", "model_bad_response")


def test_an_answer_the_model_finished_without_done_is_an_answer(site, openai_server):
    """A server that ends its stream with a finish_reason but no ``data: [DONE]`` (some older
    OpenAI-compatible servers do) has finished: its answer is complete."""
    done = ask(site, openai_server, "no_done")[-1]
    assert done["type"] == "done" and done["status"] == "complete", done
    assert done["text"].startswith(FIRST_WORDS) and done["citations"]


def test_an_error_reported_mid_answer_keeps_the_words_before_it_as_unfinished(site, openai_server):
    """An ``error`` event after some text (as OpenAI sends when overloaded) ends the answer as cut off:
    the words before it kept as unfinished, like any other break."""
    done = ask(site, openai_server, "error_mid_stream", stall_after=4)[-1]
    assert done["type"] == "done" and done["status"] == "stalled", done
    assert done["text"] == FIRST_WORDS and done["error"]["code"] == "model_cut_off"


@pytest.mark.parametrize(
    ("finish_reason", "code"), [("length", "model_max_tokens"), ("content_filter", "model_content_filter")]
)
def test_an_answer_the_model_did_not_finish_is_not_shown_as_whole(site, openai_server, finish_reason, code):
    """The model says why it stopped: at its token limit ("length") or stopped by its service's
    content filter. Either way what it wrote stops mid-thought: kept as unfinished, saying why, not
    presented (and audited) as a complete answer."""
    done = ask(site, openai_server, "ok", finish_reason=finish_reason)[-1]
    assert done["type"] == "done" and done["status"] == "stalled", done
    assert done["error"]["code"] == code and done["error"]["message"]
    event = AuditEvent.objects.get(action="answer")
    assert (event.outcome, event.data["error_code"]) == ("stalled", code)
