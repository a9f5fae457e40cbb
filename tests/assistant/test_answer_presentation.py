"""How an answer presents itself on a reopened conversation, and what the frames give chat.js to show
the same live (test_answer_presentation_browser.py watches both in a browser):

- the highest security marking of the passages it cites, at its top (none for a "not covered" reply);
- a cited document retired since is tagged "withdrawn" and the answer says so;
- a "not covered" reply is headed so, keeps its links, offers nothing to copy; no text, no feedback form;
- each source link says which passage it is; Humphrey's upload number is never shown as "version N".
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from bs4 import BeautifulSoup
from django.urls import reverse

from assistant.models import Citation, Conversation, Message, Status
from assistant.services.frames import highest_marking, not_covered_text, source_frames
from documents.models import Chunk, Marking
from documents.services.collections import collection_retire
from documents.services.documents import document_retire
from tests import factories
from tests.factories import make_collection

from .conftest import add_document
from .helpers import make_source

pytestmark = pytest.mark.django_db

SENSITIVE = "Annual leave on sensitive postings: full-time staff get two extra travel days each year."
DISPUTE = [
    "Talk to the person informally first: most disputes at work are settled by a conversation.",
    "Mediation: if talking does not settle the dispute, ask HR for a trained mediator.",
    "Formal grievance: if mediation fails, raise a grievance in writing with your manager.",
]


def stored(user, chunks: list[Chunk], *, text: str = "Full-time staff get 25 days [1].", status=Status.COMPLETE):
    """An answer in a conversation of its own, citing ``chunks`` as [1], [2], ..."""
    conversation = Conversation.objects.create(owner=user, title="Leave question")
    question = Message.objects.create(conversation=conversation, role="user", text="How much leave?")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", text=text, status=status, question=question
    )
    for n, chunk in enumerate(chunks, start=1):
        Citation.objects.create(message=answer, n=n, chunk=chunk, version=chunk.version, quote=chunk.text)
    return answer


def reopened(client, user, answer: Message):
    client.force_login(user)
    page = client.get(reverse("assistant:conversation", args=[answer.conversation_id]))
    assert page.status_code == 200
    return BeautifulSoup(page.content, "html.parser").find(id=f"answer-{answer.pk}")


def said(node) -> str:
    return " ".join(node.get_text(" ").split())


def chunk_of(title: str, n: int = 0) -> Chunk:
    return Chunk.objects.filter(version__document__title=title).order_by("pk")[n]


@pytest.fixture
def sensitive(guidance):
    collection = make_collection("postings", groups=["All staff"], marking=Marking.OFFICIAL_SENSITIVE)
    add_document(collection, [SENSITIVE], title="Sensitive postings")
    return collection


# --- 1. The security marking ------------------------------------------------------------------------


def test_the_frames_give_each_passages_marking_and_the_highest_is_the_answers():
    """Each ``sources`` / ``citations`` entry carries its collection's marking; an answer's is the
    highest of those it cites (OFFICIAL-SENSITIVE over OFFICIAL), and none when it cites nothing."""
    official = make_source(1, "Full-time staff get 25 days.", title="Leave policy")
    secret = replace(make_source(2, SENSITIVE, title="Sensitive postings"), marking="OFFICIAL-SENSITIVE")
    entries = source_frames([official, secret])
    assert [e["marking"] for e in entries] == ["OFFICIAL", "OFFICIAL-SENSITIVE"]
    assert highest_marking(e["marking"] for e in entries) == "OFFICIAL-SENSITIVE"
    assert highest_marking(["OFFICIAL-SENSITIVE", "OFFICIAL"]) == "OFFICIAL-SENSITIVE"
    assert highest_marking(["OFFICIAL", "OFFICIAL"]) == "OFFICIAL"
    assert highest_marking([]) == ""


def test_a_reopened_answer_citing_official_and_official_sensitive_passages_is_marked_official_sensitive(
    client, staff, sensitive
):
    """The tag at the top of the answer, under its heading, says OFFICIAL-SENSITIVE (and, to a screen
    reader, that it is the security marking); the box carries it for "Copy answer"."""
    both = stored(staff, [chunk_of("Leave policy"), chunk_of("Sensitive postings")], text="25 days [1], plus 2 [2].")
    box = reopened(client, staff, both)
    assert box["data-marking"] == "OFFICIAL-SENSITIVE"
    tag = box.select_one(".humphrey-answer__marking .govuk-tag")
    assert said(tag) == "Security marking: OFFICIAL-SENSITIVE"
    assert box.h2.find_next_sibling() is tag.parent, "at the top of the answer, under its heading"

    official = stored(staff, [chunk_of("Leave policy")])
    box = reopened(client, staff, official)
    assert box["data-marking"] == "OFFICIAL"
    assert said(box.select_one(".humphrey-answer__marking")) == "Security marking: OFFICIAL"


def test_a_not_covered_reply_is_not_marked_and_offers_nothing_to_copy_but_keeps_its_links(client, staff, guidance):
    """Headed "Not covered by the guidance you can search" (not "Humphrey answered"), no marking, no
    "Copy answer"; its nearest-guidance links stay, and it still asks for feedback."""
    chunk = chunk_of("Leave policy")
    nearest = replace(make_source(1, chunk.text, title="Leave policy"), chunk_id=chunk.pk)
    reply = stored(staff, [], text=not_covered_text([nearest]), status=Status.NO_ANSWER)
    box = reopened(client, staff, reply)
    assert box.h2.get_text() == "Not covered by the guidance you can search"
    assert not box.has_attr("data-marking") and box.select_one(".humphrey-answer__marking") is None
    assert box.select(".js-copy") == []
    link = box.select_one(".humphrey-answer__body a")
    assert link["href"] == reverse("documents:passage", args=[chunk.pk]) and link.get_text() == "Leave policy"
    assert box.select_one("form.js-feedback") is not None


# --- 3. Labels that agree with the answer's state --------------------------------------------------


@pytest.mark.parametrize(("status", "error_code"), [(Status.STOPPED, ""), (Status.FAILED, "model_unavailable")])
def test_an_answer_with_no_text_asks_for_no_feedback(client, staff, guidance, status, error_code):
    """An answer headed "Not answered" (nothing written) has no "Was this answer helpful?"; one with words has it."""
    empty = stored(staff, [], text="", status=status)
    Message.objects.filter(pk=empty.pk).update(error_code=error_code)
    box = reopened(client, staff, empty)
    assert box.h2.get_text() == "Not answered"
    assert box.select_one("form.js-feedback") is None and "Was this answer helpful?" not in said(box)

    partial = stored(staff, [], text="Full-time staff get", status=status)
    box = reopened(client, staff, partial)
    assert box.h2.get_text() == "Answer not finished"
    assert "Was this answer helpful?" in said(box.select_one("form.js-feedback"))


def test_each_source_link_says_which_passage_of_its_document_it_is(client, staff, guidance):
    """A document cited three times gives three links each naming its section; two passages that
    would still be named alike also say which source they are; no link is named as another."""
    document = add_document(guidance["hr"], DISPUTE, title="Solve a workplace dispute")
    chunks = list(Chunk.objects.filter(version__document=document).order_by("pk"))
    box = reopened(client, staff, stored(staff, chunks, text="Talk [1], mediate [2], then a grievance [3]."))
    names = [said(a) for a in box.select(".humphrey-sources a")]
    assert names == [
        "Solve a workplace dispute, Section 1",
        "Solve a workplace dispute, Section 2",
        "Solve a workplace dispute, Section 3",
    ]

    alike = factories.add_document(
        guidance["hr"], DISPUTE[:2], title="Grievances", headings=["Grievances > Appeals", "Grievances > Appeals"]
    )
    Chunk.objects.filter(version__document=alike).update(anchor="section 4")  # two passages of one section
    chunks = list(Chunk.objects.filter(version__document=alike).order_by("pk"))
    box = reopened(client, staff, stored(staff, chunks, text="Appeal [1] [2]."))
    names = [said(a) for a in box.select(".humphrey-sources a")]
    assert len(set(names)) == 2 and all(name.startswith("Grievances, Appeals") for name in names)
    assert [said(a.select_one(".govuk-visually-hidden")) for a in box.select(".humphrey-sources a")] == [
        "(source 1)",
        "(source 2)",
    ]


# --- 4. Humphrey's upload number is not the document's version ------------------------------------


def test_the_sources_never_say_humphreys_upload_number_as_a_version(client, staff, guidance):
    box = reopened(client, staff, stored(staff, [chunk_of("Leave policy")]))
    sources = said(box.select_one(".humphrey-sources"))
    assert sources.startswith("Leave policy")
    assert "version" not in sources.lower()


# --- 2. Guidance withdrawn since -------------------------------------------------------------------


def test_a_source_whose_document_was_retired_since_is_tagged_withdrawn_and_the_answer_says_so(
    client, staff, guidance, curator
):
    """Retired after the answer: the source is tagged "withdrawn", the answer says some guidance quoted
    here has been withdrawn since (naming it), and the conversations page flags it; an answer quoting
    only guidance still in force says nothing of the sort."""
    answer = stored(staff, [chunk_of("Leave policy"), chunk_of("Expenses policy")], text="25 days [1]; 30 days [2].")
    box = reopened(client, staff, answer)
    assert box.select(".humphrey-source__withdrawn") == [] and box.select_one(".humphrey-answer__withdrawn") is None

    document_retire(document=chunk_of("Leave policy").version.document, user=curator)
    box = reopened(client, staff, answer)
    withdrawn = box.select(".humphrey-sources li[data-withdrawn='true']")
    assert [said(li.select_one(".humphrey-source__withdrawn")) for li in withdrawn] == ["withdrawn"]
    assert said(withdrawn[0].a).startswith("Leave policy")
    banner = said(box.select_one(".humphrey-answer__withdrawn"))
    assert banner.startswith("Some guidance quoted here has been withdrawn since this answer was given: Leave policy.")
    history = client.get(reverse("assistant:history")).content.decode()
    assert "Guidance withdrawn since" in history


def test_an_answer_from_a_collection_retired_since_is_withheld_not_flagged(client, staff, sensitive, curator):
    """A whole collection retired is guidance the person can no longer read (tests/assistant/
    test_revoked_access.py): its answers are withheld, so none of it is shown, marked or flagged."""
    answer = stored(staff, [chunk_of("Sensitive postings")], text="Two travel days [1].")
    collection_retire(collection=sensitive, user=curator)
    box = reopened(client, staff, answer)
    assert "Two travel days" not in said(box) and "Sensitive postings" not in said(box)
    assert "you can no longer read" in said(box)
    assert box.select_one(".humphrey-answer__withdrawn") is None


# --- 5. Where an unsent question is kept ------------------------------------------------------------


def test_the_page_names_where_a_question_being_typed_is_kept_per_person_without_their_id(
    client, staff, make_user, guidance
):
    """chat.js keeps a typed question in the tab's sessionStorage under a key this gives it: another
    person's differs (someone else signing in in the same tab never gets it) and names no user id."""

    def scope(user) -> str:
        client.force_login(user)
        page = BeautifulSoup(client.get(reverse("assistant:index")).content, "html.parser")
        return page.find(id="chat")["data-draft-scope"]

    mine, theirs = scope(staff), scope(make_user("olive@example.gov.uk", groups=["All staff"]))
    assert mine and theirs and mine != theirs
    assert scope(staff) == mine, "the same person's, each time"
    assert str(staff.pk) != mine
