"""Access follows the collection now, not when the answer was given (docs/security.md, "Answers follow
access now"). Seen by the civil servant who must no longer see it: a curator grants their group an
OFFICIAL-SENSITIVE collection, they ask and are answered with quotes from it, then the curator revokes
the group (or retires the collection, or raises its marking above what the deployment serves). From
then on their old conversation withholds that answer (no quoted words, no title, no link), their
conversation search neither finds it by its words nor quotes it, and a follow-up does not hand it to
the model; their own question and title stay. Granting the access again shows it again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assistant import intake
from assistant.models import Citation, Conversation, Message, Speaker, Status
from assistant.services.frames import not_covered_text
from assistant.views import WITHHELD
from documents.models import Chunk, Collection, Marking
from documents.services.collections import collection_grant, collection_retire, collection_revoke, collection_update
from tests.factories import make_collection

from .conftest import add_document
from .helpers import make_source

pytestmark = pytest.mark.django_db

READERS = "Postings readers"
POSTINGS = (
    "Allowances on sensitive postings: staff posted to a sensitive embassy get two extra travel days "
    "each year and a hardship supplement of twelve percent."
)
QUESTION = "How much extra leave do I get abroad?"
ANSWER = "Staff posted to a sensitive embassy get two extra travel days each year [1]."


@pytest.fixture
def pat(make_user):
    """A civil servant in 'All staff' (the HR guidance) and in the group the curator grants."""
    return make_user("pat@example.gov.uk", groups=["All staff", READERS])


def sensitive_collection(curator, *, marking=Marking.OFFICIAL_SENSITIVE) -> Collection:
    """The postings guidance, granted to ``READERS`` by the curator."""
    collection = make_collection("postings", marking=marking)
    add_document(collection, [POSTINGS], title="Embassy postings allowances")
    assert collection_grant(collection=collection, group=Group.objects.get_or_create(name=READERS)[0], user=curator)
    return collection


@pytest.fixture
def postings(guidance, curator) -> Collection:
    return sensitive_collection(curator)


def revoke(collection: Collection, curator) -> None:
    collection_revoke(collection=collection, group=Group.objects.get(name=READERS), user=curator)


def passage(title: str) -> Chunk:
    return Chunk.objects.select_related("version").filter(version__document__title=title).order_by("pk").first()


def converse(user, chunks: list[Chunk], *, question=QUESTION, text=ANSWER, title=None, status=Status.COMPLETE):
    """A conversation: ``question``, answered with ``text`` citing ``chunks`` as [1], [2], ..."""
    conversation = Conversation.objects.create(owner=user, title=title or question)
    asked = Message.objects.create(conversation=conversation, role=Speaker.USER, text=question)
    answer = Message.objects.create(
        conversation=conversation, role=Speaker.ASSISTANT, text=text, status=status, question=asked
    )
    for n, chunk in enumerate(chunks, start=1):
        Citation.objects.create(message=answer, n=n, chunk=chunk, version=chunk.version, quote=chunk.text)
    return answer


def page_of(client, user, answer: Message) -> tuple[str, BeautifulSoup]:
    client.force_login(user)
    response = client.get(reverse("assistant:conversation", args=[answer.conversation_id]))
    assert response.status_code == 200
    html = response.content.decode()
    return html, BeautifulSoup(html, "html.parser")


def said(node) -> str:
    return " ".join(node.get_text(" ").split())


def history(client, user, words: str = "") -> str:
    client.force_login(user)
    response = client.get(reverse("assistant:history"), {"q": words} if words else {})
    assert response.status_code == 200
    return response.content.decode()


def assert_withheld(html: str, soup: BeautifulSoup, answer: Message, hidden: list[Chunk]) -> None:
    """Nothing of the answer nor of the withheld passages anywhere in the page; the answer says why."""
    for chunk in hidden:
        assert chunk.text not in html
        assert chunk.version.document.title not in html
        assert reverse("documents:passage", args=[chunk.pk]) not in html
    assert "two extra travel days" not in html and "embassy" not in html.lower()
    box = soup.find(id=f"answer-{answer.pk}")
    assert box["data-withheld"] == "true"
    assert said(box.h2) == "Answer not shown"
    assert said(box.select_one(".humphrey-answer__withheld")) == WITHHELD
    assert not box.has_attr("data-marking") and box.select_one(".humphrey-answer__marking") is None
    assert box.select(".js-copy") == [] and box.select_one("form.js-feedback") is None
    assert box.select_one(".humphrey-answer__body") is None


# --- The conversation page ---------------------------------------------------------------------------


def test_after_the_group_is_revoked_the_old_answer_is_withheld_but_the_question_stays(client, pat, postings, curator):
    """Before: the quotes, the document's title and the link to its passage. After the curator revokes
    the group: none of them anywhere in the page, the answer says it is withheld and why, how many
    sources are hidden, and offers "Ask again" (no feedback, no "Copy answer"); the question the person
    typed, and the conversation's title, are still there. The passage page is "not found" too, and the
    stored answer is untouched (only what the reader sees changed)."""
    cited = passage("Embassy postings allowances")
    answer = converse(pat, [cited])
    html, soup = page_of(client, pat, answer)
    assert "two extra travel days" in html and "Embassy postings allowances" in html
    assert reverse("documents:passage", args=[cited.pk]) in html
    assert soup.find(id=f"answer-{answer.pk}")["data-marking"] == "OFFICIAL-SENSITIVE"

    revoke(postings, curator)

    html, soup = page_of(client, pat, answer)
    assert_withheld(html, soup, answer, [cited])
    box = soup.find(id=f"answer-{answer.pk}")
    assert said(box.select_one(".humphrey-answer__hidden-sources")) == (
        "1 source is hidden because it is in guidance you can no longer read."
    )
    assert box.select_one(".humphrey-sources") is None
    ask_again = box.select_one(".js-ask-again")
    assert ask_again["data-question"] == f"question-{answer.question_id}"
    assert said(soup.find(id=f"question-{answer.question_id}").select_one(".humphrey-question__text")) == QUESTION
    assert said(soup.find(id="chat-heading")) == QUESTION

    client.force_login(pat)
    assert client.get(reverse("documents:passage", args=[cited.pk])).status_code == 404
    kept = Message.objects.get(pk=answer.pk)
    assert kept.text == ANSWER and Citation.objects.filter(message=kept, chunk=cited).exists()


def test_an_answer_citing_readable_and_no_longer_readable_guidance_is_withheld(client, pat, postings, curator):
    """One source still readable, one not: the answer is withheld all the same; the readable source is
    still listed and linked, the other is counted, not named. An answer in the same conversation that
    quoted only readable guidance is shown as before."""
    leave, cited = passage("Leave policy"), passage("Embassy postings allowances")
    both = converse(pat, [leave, cited], text="25 days of annual leave [1], and two extra travel days [2].")
    only_leave = Message.objects.create(
        conversation=both.conversation, role=Speaker.USER, text="And how many days at home?"
    )
    shown = Message.objects.create(
        conversation=both.conversation,
        role=Speaker.ASSISTANT,
        text="Full-time staff get 25 days of annual leave a year [1].",
        status=Status.COMPLETE,
        question=only_leave,
    )
    Citation.objects.create(message=shown, n=1, chunk=leave, version=leave.version, quote=leave.text)

    revoke(postings, curator)

    html, soup = page_of(client, pat, both)
    assert_withheld(html, soup, both, [cited])
    box = soup.find(id=f"answer-{both.pk}")
    assert "25 days of annual leave [1], and" not in html
    assert said(box.select_one("h3")) == "Sources you can still read"
    links = box.select(".humphrey-sources a")
    assert [a["href"] for a in links] == [reverse("documents:passage", args=[leave.pk])]
    assert said(links[0]).startswith("Leave policy")
    assert said(box.select_one(".humphrey-answer__hidden-sources")).startswith("1 source is hidden")

    readable = soup.find(id=f"answer-{shown.pk}")
    assert not readable.has_attr("data-withheld") and said(readable.h2) == "Humphrey answered"
    assert "Full-time staff get 25 days of annual leave a year" in said(readable.select_one(".humphrey-answer__body"))
    assert readable.select(".js-copy") and readable.select_one("form.js-feedback") is not None
    assert readable["data-marking"] == "OFFICIAL"


def test_granting_the_group_again_shows_the_answer_again(client, pat, postings, curator):
    cited = passage("Embassy postings allowances")
    answer = converse(pat, [cited])
    revoke(postings, curator)
    html, soup = page_of(client, pat, answer)
    assert_withheld(html, soup, answer, [cited])
    assert "0 conversations match" in history(client, pat, "travel")

    assert collection_grant(collection=postings, group=Group.objects.get(name=READERS), user=curator)

    html, soup = page_of(client, pat, answer)
    box = soup.find(id=f"answer-{answer.pk}")
    assert not box.has_attr("data-withheld") and box["data-marking"] == "OFFICIAL-SENSITIVE"
    assert "two extra travel days" in said(box.select_one(".humphrey-answer__body"))
    assert reverse("documents:passage", args=[cited.pk]) in html
    assert box.select(".js-copy") and box.select_one("form.js-feedback") is not None
    found = history(client, pat, "travel")
    assert "1 conversation matches" in found and "<mark>travel</mark>" in found


def end_access(how: str, settings, curator) -> tuple[Collection, Callable[[], object]]:
    """The postings collection, readable now, and what ends the person's access to it."""
    if how == "marking raised":
        settings.HUMPHREY_MAX_MARKING = Marking.OFFICIAL
        collection = sensitive_collection(curator, marking=Marking.OFFICIAL)
        return collection, lambda: collection_update(
            collection=collection, user=curator, marking=Marking.OFFICIAL_SENSITIVE
        )
    collection = sensitive_collection(curator)
    if how == "retired":
        return collection, lambda: collection_retire(collection=collection, user=curator)
    return collection, lambda: revoke(collection, curator)


@pytest.mark.parametrize("how", ["revoked", "retired", "marking raised"])
def test_a_retired_collection_or_one_marked_above_what_is_served_is_withheld_like_a_revoke(
    client, settings, guidance, pat, curator, how
):
    """Retired, or its marking raised above HUMPHREY_MAX_MARKING: the person may no longer read it, so
    the old answer is withheld and not searched, exactly as when their group is revoked."""
    _, end = end_access(how, settings, curator)
    cited = passage("Embassy postings allowances")
    answer = converse(pat, [cited])
    html, _ = page_of(client, pat, answer)
    assert "two extra travel days" in html
    assert "1 conversation matches" in history(client, pat, "travel")

    end()

    html, soup = page_of(client, pat, answer)
    assert_withheld(html, soup, answer, [cited])
    found = history(client, pat, "travel")
    assert "0 conversations match" in found and "travel days" not in found
    assert "1 conversation matches" in history(client, pat, "abroad")


# --- The conversation search -------------------------------------------------------------------------


def test_the_search_neither_finds_nor_quotes_a_withheld_answer(client, pat, postings, curator):
    """A word only in the withheld answer finds nothing; a word of the question still finds the
    conversation, with the snippet from the question; a conversation found by its title shows no
    snippet of the withheld answer holding the same word."""
    cited = passage("Embassy postings allowances")
    answer = converse(pat, [cited])
    titled = converse(pat, [cited], question="What do I get on a posting?", title="Travel days abroad")
    found = history(client, pat, "travel")
    assert "2 conversations match" in found and "<mark>travel</mark> days" in found

    revoke(postings, curator)

    found = history(client, pat, "embassy")
    assert "0 conversations match" in found and "sensitive embassy" not in found
    assert "0 conversations match" in history(client, pat, '"extra travel days"')

    found = history(client, pat, "abroad")
    soup = BeautifulSoup(found, "html.parser")
    assert "2 conversations match" in found
    matches = {a["href"]: said(a.parent) for a in soup.select(".humphrey-history__match a")}
    question_link = reverse("assistant:conversation", args=[answer.conversation_id]) + f"#question-{answer.question_id}"
    assert matches[question_link].startswith("You asked")
    assert "extra leave do I get abroad" in matches[question_link]
    assert not any("#answer-" in href for href in matches)
    assert "travel days each year" not in found and "embassy" not in found

    found = history(client, pat, "travel")
    soup = BeautifulSoup(found, "html.parser")
    assert "1 conversation matches" in found and "Travel days abroad" in found
    assert soup.select(".humphrey-history__match") == [], "found by its title: no snippet of the answer"
    assert "two extra" not in found
    assert reverse("assistant:conversation", args=[titled.conversation_id]) in found


def test_the_history_page_costs_the_same_queries_however_many_conversations_and_withheld_answers(
    client, pat, postings, curator
):
    """Listing and searching: thirty conversations, each with a withheld answer and a readable one,
    cost what one does (the withheld answers are left out inside the queries, not one by one)."""
    leave, cited = passage("Leave policy"), passage("Embassy postings allowances")

    def conversation() -> None:
        converse(pat, [cited], text="Two extra travel days abroad [1].")
        converse(pat, [leave], question="How much leave abroad?", text="25 days of annual leave abroad [1].")

    conversation()
    revoke(postings, curator)
    client.force_login(pat)
    url = reverse("assistant:history")
    client.get(url)  # the session and caches settle on the first request

    def queries(params: dict) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, params)
        assert response.status_code == 200
        return len(captured)

    small = {words: queries({"q": words} if words else {}) for words in ("", "abroad", "travel")}
    for _ in range(29):
        conversation()
    large = {words: queries({"q": words} if words else {}) for words in ("", "abroad", "travel")}
    assert large == small
    found = history(client, pat, "abroad")
    assert "60 conversations match" in found and "Two extra travel" not in found
    assert len(BeautifulSoup(found, "html.parser").select(".humphrey-history__match")) == 50


def test_the_chat_page_costs_the_same_queries_however_many_answers_are_withheld(client, pat, postings, curator):
    leave, cited = passage("Leave policy"), passage("Embassy postings allowances")
    answer = converse(pat, [cited, leave])
    revoke(postings, curator)
    client.force_login(pat)
    url = reverse("assistant:conversation", args=[answer.conversation_id])
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for _ in range(5):
        asked = Message.objects.create(conversation=answer.conversation, role=Speaker.USER, text="And abroad?")
        more = Message.objects.create(
            conversation=answer.conversation,
            role=Speaker.ASSISTANT,
            text=ANSWER,
            status=Status.COMPLETE,
            question=asked,
        )
        Citation.objects.create(message=more, n=1, chunk=leave, version=leave.version, quote=leave.text)
        Citation.objects.create(message=more, n=2, chunk=cited, version=cited.version, quote=cited.text)
    with CaptureQueriesContext(connection) as six:
        html = client.get(url).content.decode()
    assert len(six) == len(one)
    assert html.count('data-withheld="true"') == 6 and "two extra travel days" not in html


# --- What else would give it back ---------------------------------------------------------------------


def test_a_follow_up_does_not_send_a_withheld_answer_to_the_model(pat, postings, curator):
    """The earlier turns go to the model with a follow-up: after the revoke, the person's question
    still does, the answer quoting what they may no longer read does not (the model could repeat it)."""
    answer = converse(pat, [passage("Embassy postings allowances")])
    before = intake.ask_store(user=pat, conversation_id=answer.conversation_id, text="And in Europe?", collections=None)
    assert [t.text for t in before.turns] == [QUESTION, ANSWER]
    Message.objects.filter(pk=before.answer_id).update(status=Status.FAILED)

    revoke(postings, curator)

    after = intake.ask_store(user=pat, conversation_id=answer.conversation_id, text="And in Asia?", collections=None)
    texts = [t.text for t in after.turns]
    assert QUESTION in texts and "And in Europe?" in texts
    assert ANSWER not in texts and not any("travel" in t for t in texts)


def test_a_not_covered_reply_names_no_document_the_person_can_no_longer_read(client, pat, postings, curator):
    """Humphrey's "not covered" reply names the nearest documents found then, with links: after the
    revoke, those in the collection the person may no longer read are left out, title and link; the
    others stay. Naming only such documents, the reply says no nearest guidance at all."""
    leave, cited = passage("Leave policy"), passage("Embassy postings allowances")

    def nearest(chunk: Chunk, title: str, n: int):
        source = make_source(n, chunk.text, title=title)
        return replace(source, chunk_id=chunk.pk, document_id=chunk.version.document_id)

    both = converse(
        pat,
        [],
        text=not_covered_text([nearest(cited, "Embassy postings allowances", 1), nearest(leave, "Leave policy", 2)]),
        status=Status.NO_ANSWER,
    )
    alone = converse(
        pat, [], text=not_covered_text([nearest(cited, "Embassy postings allowances", 1)]), status=Status.NO_ANSWER
    )
    html, _ = page_of(client, pat, both)
    assert "Embassy postings allowances" in html and reverse("documents:passage", args=[cited.pk]) in html

    revoke(postings, curator)

    html, soup = page_of(client, pat, both)
    assert "Embassy postings allowances" not in html and reverse("documents:passage", args=[cited.pk]) not in html
    box = soup.find(id=f"answer-{both.pk}")
    assert said(box.h2) == "Not covered by the guidance you can search"
    assert [a["href"] for a in box.select(".humphrey-answer__body a")] == [
        reverse("documents:passage", args=[leave.pk])
    ]
    assert "The nearest guidance found" in said(box)

    html, soup = page_of(client, pat, alone)
    box = soup.find(id=f"answer-{alone.pk}")
    assert "Embassy postings allowances" not in html and box.select(".humphrey-answer__body a") == []
    assert "The nearest guidance found" not in said(box)
    assert said(box.select_one(".humphrey-answer__body")).startswith("The guidance you can search does not cover")
