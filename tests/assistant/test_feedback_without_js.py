"""Rating an answer and commenting on it with JavaScript off: the form posts to the server. Stored
feedback redirects back to the answer (post/redirect/get); refused feedback shows the conversation
again with GOV.UK's error summary and the error at its field, what was typed kept, rather than a
redirect and a banner that throw the comment away."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from django.urls import reverse

from assistant.forms import CONTROL_CHARACTERS
from assistant.models import Conversation, Feedback, Message, Status
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

TOO_LONG = "Keep your comment under 2,000 characters"


def stored_answer(user) -> Message:
    conversation = Conversation.objects.create(owner=user, title="Leave question")
    question = Message.objects.create(conversation=conversation, role="user", text="How much leave?")
    return Message.objects.create(
        conversation=conversation, role="assistant", text="25 days.", status=Status.COMPLETE, question=question
    )


def tag(page: str, element_id: str) -> str:
    at = page.index(f'id="{element_id}"')
    return page[page.rindex("<", 0, at) : page.index(">", at) + 1]


def summary(page: str) -> list[tuple[str, str]]:
    """The error summary's (link, text) lines."""
    found = re.search(r'<div class="govuk-error-summary".*?</ul>', page, re.S)
    assert found, "no error summary"
    return [
        (href, " ".join(t.split())) for href, t in re.findall(r'<li><a href="([^"]*)">(.*?)</a></li>', found.group(0))
    ]


def field_error(page: str, error_id: str) -> str:
    at = page.index(f'id="{error_id}"')
    message = page[page.rindex("<p", 0, at) : page.index("</p>", at)]
    assert "govuk-!-display-none" not in message.split(">", 1)[0], "the error message is hidden"
    return " ".join(re.sub(r"<[^>]+>", " ", message.split(">", 1)[1]).split())


def textarea(page: str, element_id: str) -> str:
    found = re.search(rf'<textarea[^>]*id="{element_id}"[^>]*>(.*?)</textarea>', page, re.S)
    return html_lib.unescape(found.group(1))


def title(page: str) -> str:
    return " ".join(re.search(r"<title>(.*?)</title>", page, re.S).group(1).split())


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ("Wrong year. " * 200, TOO_LONG),
        ("Wrong\x07 year", CONTROL_CHARACTERS),
        ("Wrong\x00 year", CONTROL_CHARACTERS),
    ],
    ids=["overlong", "control-character", "nul"],
)
def test_a_refused_comment_is_shown_again_at_its_answer_with_the_error(client, staff, comment, message):
    """An overlong comment, or one holding a control character, is not stored: the conversation comes
    back (400) titled "Error:", the summary links to the comment box, the error is at the box and tied
    to it, and the box still holds the comment and the radio the rating."""
    answer = stored_answer(staff)
    client.force_login(staff)
    response = client.post(reverse("assistant:feedback", args=[answer.pk]), {"rating": "down", "comment": comment})
    assert response.status_code == 400
    page = response.content.decode()
    assert title(page).startswith("Error: Leave question")
    assert summary(page) == [(f"#comment-{answer.pk}", message)]
    assert field_error(page, f"comment-{answer.pk}-error") == f"Error: {message}"
    box = tag(page, f"comment-{answer.pk}")
    assert "govuk-textarea--error" in box
    assert f'aria-describedby="comment-{answer.pk}-error comment-{answer.pk}-hint comment-{answer.pk}-info"' in box
    assert textarea(page, f"comment-{answer.pk}") == comment
    assert "checked" in tag(page, f"rating-down-{answer.pk}") and "checked" not in tag(page, f"rating-up-{answer.pk}")
    assert "govuk-notification-banner" not in page
    assert not Feedback.objects.exists() and not AuditEvent.objects.filter(action="feedback").exists()


def test_a_missing_rating_is_shown_at_the_radios_keeping_the_comment(client, staff):
    """No rating chosen: the summary links to the first radio, the error is in the fieldset's
    description, and the comment typed is still there to send once a rating is chosen."""
    answer = stored_answer(staff)
    client.force_login(staff)
    response = client.post(reverse("assistant:feedback", args=[answer.pk]), {"comment": "The 2025 figure, not 2026"})
    page = response.content.decode()
    assert response.status_code == 400
    assert summary(page) == [(f"#rating-up-{answer.pk}", "Choose helpful or not helpful")]
    assert field_error(page, f"rating-{answer.pk}-error") == "Error: Choose helpful or not helpful"
    assert re.search(rf'<fieldset class="govuk-fieldset" aria-describedby="rating-{answer.pk}-error">', page)
    assert textarea(page, f"comment-{answer.pk}") == "The 2025 figure, not 2026"
    assert "govuk-textarea--error" not in tag(page, f"comment-{answer.pk}")


def test_changing_earlier_feedback_that_is_refused_opens_the_form_with_the_new_comment(client, staff):
    """Feedback given before sits behind "Change your feedback": a refused change opens it, showing the
    new comment and rating, not the ones stored; the stored feedback is unchanged."""
    answer = stored_answer(staff)
    Feedback.objects.create(message=answer, user=staff, rating="up", comment="Clear")
    client.force_login(staff)
    response = client.post(
        reverse("assistant:feedback", args=[answer.pk]), {"rating": "down", "comment": "Out of date\x01"}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert re.search(r'<details class="govuk-details govuk-!-margin-top-2" open>', page)
    assert textarea(page, f"comment-{answer.pk}") == "Out of date\x01"
    assert "checked" in tag(page, f"rating-down-{answer.pk}")
    assert Feedback.objects.get(message=answer).comment == "Clear"


def test_stored_feedback_still_redirects_back_to_the_answer(client, staff):
    """Accepted feedback is stored and the browser is sent back to the answer (post/redirect/get),
    which then says thank you."""
    answer = stored_answer(staff)
    client.force_login(staff)
    response = client.post(reverse("assistant:feedback", args=[answer.pk]), {"rating": "down", "comment": "Wrong year"})
    assert response.status_code == 302
    assert response.url == reverse("assistant:conversation", args=[answer.conversation_id]) + f"#answer-{answer.pk}"
    assert Feedback.objects.get(message=answer).comment == "Wrong year"
    page = client.get(response.url).content.decode()
    assert "Thank you for your feedback." in page and "govuk-error-summary" not in page


def test_feedback_on_someone_elses_answer_is_not_found(client, staff, make_user):
    """Another person's answer is not found (404, as for one that does not exist), never rated."""
    answer = stored_answer(make_user("other@example.gov.uk"))
    client.force_login(staff)
    response = client.post(reverse("assistant:feedback", args=[answer.pk]), {"rating": "up", "comment": "Hi"})
    assert response.status_code == 404
    assert not Feedback.objects.exists()


def test_the_script_gets_the_control_character_error_as_json(client, staff):
    """With JavaScript, the same refusal comes as JSON for chat.js to show at the field."""
    answer = stored_answer(staff)
    client.force_login(staff)
    response = client.post(
        reverse("assistant:feedback", args=[answer.pk]),
        {"rating": "up", "comment": "Fine\x1b"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400 and response.json()["errors"] == {"comment": [CONTROL_CHARACTERS]}
