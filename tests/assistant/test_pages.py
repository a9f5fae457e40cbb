"""Chat pages through the Django test client: what people see, and what they never see."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistant import intake, services
from assistant.core.errors import AnswerError
from assistant.models import Citation, Conversation, Feedback, Message, Status
from audit.models import AuditEvent
from documents.models import Chunk

pytestmark = pytest.mark.django_db


def stored_answer(user, *, text="Full-time staff get 25 days [1].", chunk=None) -> Message:
    conversation = Conversation.objects.create(owner=user, title="Leave question")
    question = Message.objects.create(conversation=conversation, role="user", text="How much leave?")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", text=text, status=Status.COMPLETE, question=question
    )
    if chunk is not None:
        Citation.objects.create(message=answer, n=1, chunk=chunk, version=chunk.version, quote=chunk.text)
    return answer


def test_home_is_the_chat_page_with_only_readable_collections(client, guidance, staff):
    """The home page is the chat: the collection picker lists only collections the user may read."""
    client.force_login(staff)
    page = client.get("/").content.decode()
    assert 'id="chat"' in page and 'data-ws-path="/ws/chat/"' in page
    assert 'value="hr"' in page
    assert "restricted" not in page.lower()
    assert "<script>" not in page  # no inline script under the strict CSP


def test_stored_answer_renders_sanitised_markdown_with_citation_links(client, guidance, staff):
    """A stored answer is rendered as sanitised Markdown; [1] links to the exact passage; script and
    outside images or links from the model never reach the page."""
    chunk = Chunk.objects.filter(collection=guidance["hr"]).first()
    answer = stored_answer(
        staff,
        chunk=chunk,
        text=(
            "**25 days** [1]. <script>alert(1)</script> ![x](https://evil.example/x.png) "
            "[click](https://evil.example/) [bad](javascript:alert(1))"
        ),
    )
    client.force_login(staff)
    page = client.get(reverse("assistant:conversation", args=[answer.conversation_id])).content.decode()
    assert "<strong>25 days</strong>" in page
    assert f'href="{reverse("documents:passage", args=[chunk.pk])}"' in page
    assert "<script>alert" not in page
    assert 'src="https://evil' not in page and 'href="https://evil' not in page
    assert 'href="javascript:' not in page


def test_a_failed_answer_reopened_offers_nothing_to_copy_or_rate(client, guidance, staff):
    """An answer that failed has no text: reopened, it says why, and offers no "Copy answer" (which
    would copy nothing) and no "Was this answer helpful?" (there is no answer to rate); a complete
    answer keeps both."""
    failed = stored_answer(staff, text="")
    Message.objects.filter(pk=failed.pk).update(status=Status.FAILED, error_code="model_unavailable")
    done = stored_answer(staff)
    client.force_login(staff)
    page = client.get(reverse("assistant:conversation", args=[failed.conversation_id])).content.decode()
    assert "The language model is not available at the moment." in page and "model_unavailable" in page
    answer = page.split(f'id="answer-{failed.pk}"', 1)[1].split("<template", 1)[0]
    assert "Copy answer" not in answer and 'name="rating"' not in answer
    page = client.get(reverse("assistant:conversation", args=[done.conversation_id])).content.decode()
    answer = page.split(f'id="answer-{done.pk}"', 1)[1].split("<template", 1)[0]
    assert "Copy answer" in answer and 'name="rating"' in answer


def test_the_conversations_page_searches_your_own_conversations_a_page_at_a_time(
    client, guidance, staff, make_user, django_assert_max_num_queries
):
    """The "All conversations" page finds the person's own conversations by their title, questions or answers
    (stemmed: "claims" finds "claim"), never someone else's, and lists fifty at a time."""
    from assistant.views import HISTORY_PAGE_SIZE

    mine = stored_answer(staff, text="Claim mileage at 45p a mile [1].")
    Conversation.objects.filter(pk=mine.conversation_id).update(title="Travel question")
    titled = stored_answer(staff, text="You get 25 days [1].")
    Conversation.objects.filter(pk=titled.conversation_id).update(title="Mileage for my trip")
    theirs = stored_answer(make_user("other@example.gov.uk"), text="Claim mileage within 3 months [1].")
    client.force_login(staff)
    url = reverse("assistant:history")
    page = client.get(url, {"q": "mileage claims"}).content.decode()
    assert "1 conversation matches" in page and "Travel question" in page
    assert "Mileage for my trip" not in page
    page = client.get(url, {"q": "mileage"}).content.decode()
    assert "2 conversations match" in page and "Mileage for my trip" in page
    assert reverse("assistant:conversation", args=[theirs.conversation_id]) not in page
    page = client.get(url, {"q": "overtime"}).content.decode()
    assert "0 conversations match" in page and "You have no conversations yet" not in page
    # "-word" leaves out a conversation that says it anywhere, not only where one message does.
    page = client.get(url, {"q": "mileage -trip"}).content.decode()
    assert "1 conversation matches" in page and "Travel question" in page and "Mileage for my trip" not in page
    page = client.get(url, {"q": "mileage -months"}).content.decode()
    assert "2 conversations match" in page
    page = client.get(url, {"q": "mileage -days"}).content.decode()
    assert "1 conversation matches" in page and "Travel question" in page, "the other one's answer says 25 days"

    for i in range(HISTORY_PAGE_SIZE + 3):
        stored_answer(staff, text=f"Answer {i} [1].")
    with django_assert_max_num_queries(12):
        first = client.get(url).content.decode()
    assert first.count('class="govuk-table__row"') == HISTORY_PAGE_SIZE + 1  # and the header row
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = client.get(url, {"page": 2}).content.decode()
    assert second.count('class="govuk-table__row"') == 5 + 1


def test_someone_elses_conversation_is_not_found(client, guidance, staff, make_user):
    """Another person's conversation is a 404, as if it did not exist."""
    other = make_user("olive@example.gov.uk", groups=["All staff"])
    answer = stored_answer(other)
    client.force_login(staff)
    assert client.get(reverse("assistant:conversation", args=[answer.conversation_id])).status_code == 404
    assert client.post(reverse("assistant:feedback", args=[answer.pk]), {"rating": "up"}).status_code == 404
    assert client.post(reverse("assistant:delete", args=[answer.conversation_id])).status_code == 404


def test_rename_and_delete_hide_the_conversation_but_keep_the_audit(client, guidance, staff):
    """Rename changes the title; delete hides it from the user's pages; an audit event records it and
    the messages stay."""
    answer = stored_answer(staff)
    conversation = answer.conversation
    client.force_login(staff)
    response = client.post(reverse("assistant:rename", args=[conversation.pk]), {"title": "  My leave  "})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "My leave"
    bad = client.post(reverse("assistant:rename", args=[conversation.pk]), {"title": ""})
    assert bad.status_code == 200 and "Enter a name for the conversation" in bad.content.decode()

    client.post(reverse("assistant:delete", args=[conversation.pk]))
    conversation.refresh_from_db()
    assert conversation.hidden_at is not None
    history = client.get(reverse("assistant:history")).content.decode()
    assert "“My leave” was deleted" in history
    assert reverse("assistant:conversation", args=[conversation.pk]) not in history
    assert client.get(reverse("assistant:conversation", args=[conversation.pk])).status_code == 404
    assert Message.objects.filter(conversation=conversation).count() == 2
    event = AuditEvent.objects.get(action="conversation.delete")
    assert event.subject == f"conversation:{conversation.pk}"


def test_feedback_is_stored_and_audited_once_per_submission(client, guidance, staff):
    """Thumbs down with a comment is stored and audited (JSON for the script); changing it updates it."""
    answer = stored_answer(staff)
    client.force_login(staff)
    url = reverse("assistant:feedback", args=[answer.pk])
    response = client.post(url, {"rating": "down", "comment": "Wrong year"}, HTTP_ACCEPT="application/json")
    assert response.json() == {"ok": True, "message": "Thank you for your feedback."}
    client.post(url, {"rating": "up"})
    feedback = Feedback.objects.get(message=answer)
    assert feedback.rating == "up" and feedback.comment == ""
    events = list(AuditEvent.objects.filter(action="feedback").order_by("seq"))
    assert [e.outcome for e in events] == ["down", "up"]
    assert events[0].data["message_id"] == answer.pk and events[0].content.body == {"comment": "Wrong year"}
    bad = client.post(url, {"rating": "meh"}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 400 and bad.json()["errors"]["rating"] == ["Choose helpful or not helpful"]


def test_a_not_covered_reply_keeps_its_links_to_the_nearest_passages_when_reopened(client, guidance, staff):
    """Humphrey's own "not covered" reply names the nearest passages as links, as it did while it
    streamed; the same link in a model's answer, which cites nothing there, is not made a link."""
    from dataclasses import replace

    from assistant.services.frames import not_covered_text

    from .helpers import make_source

    chunk = Chunk.objects.filter(collection=guidance["hr"]).first()
    nearest = replace(make_source(1, chunk.text, title="Leave policy"), chunk_id=chunk.pk)
    href = reverse("documents:passage", args=[chunk.pk])
    refused = stored_answer(staff, text=not_covered_text([nearest]))
    refused.status = Status.NO_ANSWER
    refused.save()
    client.force_login(staff)
    page = client.get(reverse("assistant:conversation", args=[refused.conversation_id])).content.decode()
    assert f'href="{href}"' in page and "Leave policy</a>" in page

    refused.status = Status.COMPLETE  # as if a model had written the same words
    refused.save()
    page = client.get(reverse("assistant:conversation", args=[refused.conversation_id])).content.decode()
    assert "Leave policy" in page and f'href="{href}"' not in page


@pytest.mark.parametrize(
    ("title", "section", "anchor", "where"),
    [
        ("Annual leave", "Annual leave", "Annual leave", ""),  # a Word file's opening: the title says it all
        ("Annual leave", "Annual leave > 1 Annual leave", "Section 1 Annual leave", ", 1 Annual leave"),
        ("IT security", "3 Handling information", "page 3, 3 Handling information", ", page 3, 3 Handling information"),
        ("Guide", "Guide > Part 1 > Rates", "page 4", ", Part 1 > Rates (page 4)"),
        ("Guide", "", "", ""),
    ],
)
def test_a_source_says_where_it_is_once(title, section, anchor, where):
    """Under an answer each source names its document, then where in it the passage is: each place once."""
    from assistant.services.frames import source_place

    assert source_place(title, section, anchor) == where


def test_conversations_purge_blanks_old_text_except_under_hold(guidance, staff, make_user):
    """The retention purge blanks question and answer text older than the cut-off, except for held
    people and conversations; it returns how many messages it blanked."""
    from datetime import timedelta

    from django.utils import timezone

    old = stored_answer(staff)
    old.checks = [{"sentence": "Full-time staff get 25 days [1].", "cited": [1], "unsupported": [], "uncited": False}]
    old.notices = [{"code": "glossary", "message": "Searched in the guidance's words: “holiday” as “annual leave”."}]
    old.save()
    held = stored_answer(make_user("held@example.gov.uk"))
    later = timezone.now() + timedelta(seconds=1)
    purged = services.conversations_purge(
        before=later, held_user_ids=[held.conversation.owner_id], held_conversation_ids=[]
    )
    assert purged == 2
    old.refresh_from_db()
    held.refresh_from_db()
    assert old.text == "" and old.purged_at is not None
    assert old.checks == [] and old.notices == [], "what the claim check and the glossary kept of the text goes too"
    assert held.text != ""


def test_ask_store_checks_gates_before_storing(guidance, staff, make_user):
    """ask_store refuses another person's conversation and unreadable collections, storing nothing."""
    other = make_user("olive@example.gov.uk")
    theirs = Conversation.objects.create(owner=other)
    with pytest.raises(AnswerError) as first:
        intake.ask_store(user=staff, conversation_id=theirs.pk, text="hi", collections=None)
    with pytest.raises(AnswerError) as second:
        intake.ask_store(user=staff, conversation_id=None, text="hi", collections=["restricted"])
    assert first.value.code == "conversation_not_found" and second.value.code == "collection_unavailable"
    assert Message.objects.count() == 0
