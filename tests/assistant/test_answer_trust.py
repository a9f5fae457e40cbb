"""Answers you can trust: each claim checked against its citation, the sentences used highlighted on
the passage page, the extractive answer's quotes, and ``evaluate_answers`` (fake embedder; the model,
where there is one, is the fake OpenAI-compatible server over real HTTP)."""

from __future__ import annotations

import io
import json
import re

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from assistant.models import Citation, Message
from audit.models import AuditEvent

from .helpers import ask_once

pytestmark = [pytest.mark.django_db(transaction=True)]

SUPPORTED = "Full-time staff get 25 days of annual leave a year [1]."
UNSUPPORTED = "Travel claims must be made within 30 days with receipts [1]."
UNCITED = "Overtime is paid at time and a half on Saturdays and bank holidays."


@database_sync_to_async
def db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def _answer_event():
    return AuditEvent.objects.filter(action="answer").select_related("content").get()


@pytest.mark.asyncio
async def test_each_cited_sentence_is_checked_against_its_source(guidance, staff, openai_model, openai_server):
    """The model sends a supported sentence, one whose citation is about something else, and a factual
    sentence with no citation: the last two are marked in the answer, stored, and counted in the audit."""
    openai_server.configure(reply=f"{SUPPORTED} {UNSUPPORTED}\n\n{UNCITED}")
    frames = await ask_once(staff, "How many days of annual leave do full-time staff get?", collections=["hr"])
    done = frames[-1]
    assert done["type"] == "done" and done["status"] == "complete", done
    checks = {c["sentence"]: c for c in done["checks"]}
    assert checks[SUPPORTED]["unsupported"] == [] and checks[SUPPORTED]["cited"] == [1]
    assert checks[UNSUPPORTED]["unsupported"] == [1]
    assert checks[UNCITED]["uncited"] is True
    html = done["html"]
    assert html.count("humphrey-check") == 2
    assert re.search(r"within 30 days with receipts .*source 1 may not support this", html, re.S)
    assert "no source given for this" in html
    assert html.index("25 days of annual leave") < html.index("source 1 may not support this")

    event = await db(_answer_event)
    assert event.data["claims"] == {"checked": 2, "unsupported": 1, "uncited": 1}
    body = await db(lambda: event.content.body)
    assert {c["sentence"] for c in body["claims"] if c["unsupported"] or c["uncited"]} == {UNSUPPORTED, UNCITED}
    stored = await db(lambda: Message.objects.get(pk=done["message"]))
    assert [c["sentence"] for c in stored.checks if c["unsupported"]] == [UNSUPPORTED]


@pytest.mark.asyncio
async def test_a_fully_supported_answer_has_no_marks(guidance, staff, openai_model, openai_server):
    """Nothing is marked when every sentence is supported by the passage it cites."""
    openai_server.configure(reply=f"{SUPPORTED} Part-time staff get annual leave pro rata [1].")
    done = (await ask_once(staff, "How much annual leave do part-time staff get?", collections=["hr"]))[-1]
    assert done["status"] == "complete"
    assert "humphrey-check" not in done["html"]
    assert all(not c["unsupported"] and not c["uncited"] for c in done["checks"])
    event = await db(_answer_event)
    assert event.data["claims"] == {"checked": 2, "unsupported": 0, "uncited": 0}


def test_the_conversation_page_shows_the_marks_and_links_to_highlighted_sentences(
    guidance, staff, client, openai_model, openai_server
):
    """Reloaded later, the page shows the same marks, and each [n] opens the passage with the
    sentences the answer drew on highlighted, for the person who asked."""
    import asyncio

    openai_server.configure(reply=f"{SUPPORTED} {UNSUPPORTED}")
    done = asyncio.run(ask_once(staff, "How many days of annual leave do full-time staff get?", collections=["hr"]))[-1]
    client.force_login(staff)
    page = client.get(f"/chat/c/{done['conversation']}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "source 1 may not support this" in html
    citation = Citation.objects.get(message_id=done["message"], n=1)
    assert citation.highlights, "the units supporting the cited sentence are recorded"
    link = re.search(rf'href="(/curate/passage/{citation.chunk_id}/\?hl=[0-9,\-]+)"', html)
    assert link, html
    passage = client.get(link.group(1).replace("&amp;", "&"))
    assert passage.status_code == 200
    used = re.findall(r'<strong class="app-passage--used">(.*?)</strong>', passage.content.decode(), re.S)
    assert any("25 days of annual leave" in u for u in used)
    assert done["citations"][0]["url"] == link.group(1)


def test_the_extractive_answer_highlights_what_it_quoted(guidance, staff, client):
    """With no model, the passage page highlights exactly the sentences the answer quoted."""
    import asyncio

    done = asyncio.run(ask_once(staff, "How much annual leave do part-time staff get?", collections=["hr"]))[-1]
    assert done["status"] == "complete" and "No language model is configured" in done["text"]
    citation = Citation.objects.get(message_id=done["message"], n=done["citations"][0]["n"])
    quoted = [citation.chunk.text[start:end] for start, end in citation.highlights]
    assert quoted and all(q in done["text"] for q in quoted)
    client.force_login(staff)
    page = client.get(done["citations"][0]["url"]).content.decode()
    passage = re.search(r'<mark class="app-passage--highlight" id="passage">(.*?)</mark>', page, re.S).group(1)
    used = re.findall(r'<strong class="app-passage--used">(.*?)</strong>', passage, re.S)
    assert [u.strip() for u in used] == [q.strip() for q in quoted]


def test_passage_highlights_from_the_link_are_clipped_and_harmless(guidance, staff, client):
    """Malformed or out-of-range ``hl`` values are ignored or clipped; the passage still shows."""
    chunk = guidance["hr"].documents.get(title="Leave policy").current_version.chunks.first()
    client.force_login(staff)
    for query in ("hl=abc", "hl=5-2", "hl=-1-4", "hl=0-999999", "hl=" + ",".join(["0-1"] * 500)):
        page = client.get(f"/curate/passage/{chunk.pk}/?{query}")
        assert page.status_code == 200
        assert "full-time staff get 25 days" in page.content.decode()
    whole = client.get(f"/curate/passage/{chunk.pk}/?hl=0-999999").content.decode()
    assert f'<strong class="app-passage--used">{chunk.text}</strong>' in whole


def test_evaluate_answers_prints_misses_and_one_json_line(guidance, tmp_path):
    """The command runs each question through chat's steps as a temporary reader and ends with the
    figures; questions with ``doc`` null count towards refusals; nothing is stored or audited."""
    questions = tmp_path / "q.jsonl"
    doc = guidance["hr"].documents.get(title="Leave policy").source_name
    lines = [
        {
            "id": "a1",
            "question": "How many days of annual leave do full-time staff get?",
            "doc": doc,
            "answer_quote": "full-time staff get 25 days of annual leave a year",
        },
        {
            "id": "a2",
            "question": "what about part-time?",
            "previous": "How much annual leave do staff get?",
            "doc": doc,
            "answer_quote": "Part-time staff get annual leave pro rata.",
        },
        {
            "id": "n1",
            "question": "Which quantum chromodynamics gluon flavours exist?",
            "doc": None,
            "answer_quote": None,
        },
    ]
    questions.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    before = (AuditEvent.objects.count(), Message.objects.count())
    out = io.StringIO()
    call_command("evaluate_answers", str(questions), "--collection", "hr", stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    for key in ("answered", "quote_in_answer", "doc_cited", "negatives_refused", "unsupported_sentences"):
        assert key in last
    assert last["answerable"] == 2 and last["negatives"] == 1
    assert last["answered"] == 1.0 and last["negatives_refused"] == 1.0
    assert last["quote_in_answer"] == 1.0 and last["doc_cited"] == 1.0
    assert (AuditEvent.objects.count(), Message.objects.count()) == before
    assert last["words_only"] is False


def test_evaluate_answers_words_only_embeds_nothing(guidance, tmp_path, monkeypatch):
    """``--words-only`` measures what chat gives when the embedder is down: no embedding at all, the
    question searched and judged by its words."""
    from assistant.services import trial

    def down():
        raise AssertionError("the embedder was asked")

    monkeypatch.setattr(trial, "get_embedder", down)
    questions = tmp_path / "q.jsonl"
    doc = guidance["hr"].documents.get(title="Leave policy").source_name
    line = {
        "id": "a1",
        "question": "How many days of annual leave do full-time staff get?",
        "doc": doc,
        "answer_quote": "full-time staff get 25 days of annual leave a year",
    }
    questions.write_text(json.dumps(line) + "\n")
    out = io.StringIO()
    call_command("evaluate_answers", str(questions), "--collection", "hr", "--words-only", stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["words_only"] is True and last["answered"] == 1.0 and last["quote_in_answer"] == 1.0


def test_evaluate_answers_reports_a_miss(guidance, tmp_path):
    """A quote the answer does not hold is printed as a miss and lowers ``quote_in_answer``."""
    questions = tmp_path / "q.jsonl"
    doc = guidance["hr"].documents.get(title="Leave policy").source_name
    questions.write_text(
        json.dumps(
            {
                "id": "m1",
                "question": "How many days of annual leave do staff get?",
                "doc": doc,
                "answer_quote": "a sentence no document holds",
            }
        )
        + "\n"
    )
    out = io.StringIO()
    call_command("evaluate_answers", str(questions), "--collection", "hr", stdout=out)
    assert "MISS m1" in out.getvalue()
    assert json.loads(out.getvalue().strip().splitlines()[-1])["quote_in_answer"] == 0.0


def test_evaluate_answers_with_a_model_counts_unsupported_sentences(guidance, tmp_path, openai_model, openai_server):
    """With a model (the fake server over HTTP), every question is answered through the same client in
    turn and ``unsupported_sentences`` is the share of cited sentences the claim check marked."""
    openai_server.configure(reply=f"{SUPPORTED} {UNSUPPORTED}")
    questions = tmp_path / "q.jsonl"
    doc = guidance["hr"].documents.get(title="Leave policy").source_name
    lines = [
        {"id": f"m{i}", "question": "How many days of annual leave do full-time staff get?", "doc": doc,
         "answer_quote": "25 days of annual leave"}
        for i in range(3)
    ]  # fmt: skip
    questions.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = io.StringIO()
    call_command("evaluate_answers", str(questions), "--collection", "hr", "--model", "test", stdout=out)
    last = json.loads(out.getvalue().strip().splitlines()[-1])
    assert last["model"] == "fake-model" and last["answered"] == 1.0
    assert last["unsupported_sentences"] == 0.5  # one of the two cited sentences, in each answer
    assert len([r for r in openai_server.requests if "messages" in r]) == 3
