"""The accessibility review's findings on the chat's own pages and answers, through Django's test client:
inline citations name the document they cite and keep the referrer (M6), the rename form's error is
tied to its box (M1), and the chat page's status region is in the page from the start (H3)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from assistant.core.markdown import render_markdown
from assistant.models import Citation, Conversation, Message, Status
from documents.models import Chunk

pytestmark = pytest.mark.django_db


def citation_links(html: str) -> list[str]:
    return re.findall(r'<a class="govuk-link humphrey-citation"[^>]*>.*?</a>', html)


def test_a_citation_keeps_the_referrer_and_is_named_by_its_document():
    """Every link had rel="noopener noreferrer nofollow", so a citation opened its passage without the
    way back to the conversation; only links out of the site have it now."""
    html = render_markdown(
        "Leave is 25 days [1], see [GOV.UK](https://www.gov.uk/holiday) [2].",
        citation_url=lambda n: f"/curate/passage/{n}/",
        citation_title=lambda n: {1: "Leave <policy>", 2: "Holiday entitlement"}[n],
        allowed_link_text="https://www.gov.uk/holiday",
    )
    first, second = citation_links(html)
    assert "rel=" not in first and "rel=" not in second
    assert '<span class="govuk-visually-hidden">Source </span>[1]' in first
    assert '<span class="govuk-visually-hidden humphrey-citation__title"> (Leave &lt;policy&gt;)</span>' in first
    assert "(Holiday entitlement)" in second
    assert 'href="https://www.gov.uk/holiday" rel="noopener noreferrer nofollow"' in html


def test_a_citation_without_a_title_still_says_it_is_a_source():
    html = render_markdown("Leave is 25 days [1].", citation_url=lambda n: "/curate/passage/1/")
    (link,) = citation_links(html)
    assert link.endswith('<span class="govuk-visually-hidden">Source </span>[1]</a>')


def test_a_model_cannot_forge_the_citation_markup():
    """The words for screen readers are added after sanitising from markers the model's text may not
    hold: one it writes itself is dropped, not turned into markup."""
    html = render_markdown(
        "Sneaky \ue0027\ue003 text [1].", citation_url=lambda n: "/p/1/", citation_title=lambda n: "T"
    )
    assert html.count("humphrey-citation__title") == 1 and "Sneaky 7 text" in html


def test_a_reopened_answer_names_each_citation_by_its_document(client, guidance, staff):
    chunk = Chunk.objects.filter(collection=guidance["hr"], version__document__title="Leave policy").first()
    conversation = Conversation.objects.create(owner=staff, title="Leave question")
    question = Message.objects.create(conversation=conversation, role="user", text="How much leave?")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", text="25 days [1].", status=Status.COMPLETE, question=question
    )
    Citation.objects.create(message=answer, n=1, chunk=chunk, version=chunk.version, quote=chunk.text)
    client.force_login(staff)
    page = client.get(reverse("assistant:conversation", args=[conversation.pk])).content.decode()
    (link,) = citation_links(page)
    assert "(Leave policy)" in link and "noreferrer" not in link


def test_the_rename_error_is_tied_to_its_box(client, staff):
    conversation = Conversation.objects.create(owner=staff, title="Leave question")
    client.force_login(staff)
    html = client.post(reverse("assistant:rename", args=[conversation.pk]), {"title": "  "}).content.decode()
    box = re.search(r'<input class="govuk-input govuk-input--error" id="id_title"[^>]*>', html).group(0)
    assert 'aria-describedby="title-error"' in box
    assert re.search(r'<p class="govuk-error-message" id="title-error">.*Enter a name for the conversation</p>', html)
    assert "<title>Error: Rename conversation" in html


def test_the_chat_status_region_is_in_the_page_from_the_start(client, staff):
    """It was display:none until a message was put in it, and such a message is not reliably read out."""
    client.force_login(staff)
    html = client.get("/").content.decode()
    status = re.search(r'<[^>]*id="chat-status"[^>]*>', html).group(0)
    assert 'role="status"' in status and "display-none" not in status and "hidden" not in status


def test_a_streaming_answer_reopened_says_it_will_appear_not_that_the_page_reloads(client, staff):
    conversation = Conversation.objects.create(owner=staff, title="Leave question")
    question = Message.objects.create(conversation=conversation, role="user", text="How much leave?")
    Message.objects.create(conversation=conversation, role="assistant", status=Status.STREAMING, question=question)
    client.force_login(staff)
    html = client.get(reverse("assistant:conversation", args=[conversation.pk])).content.decode()
    assert "It will appear here when it is ready." in html and "The page will update" not in html
