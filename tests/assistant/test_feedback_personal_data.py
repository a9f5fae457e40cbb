"""Personal data in a feedback comment. Comments are read by curators and auditors: one holding personal
data is refused in place, naming what was found and keeping the comment to edit, with the page's
script (JSON) and without it (the form posted) alike; it is found by the detectors questions use."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from assistant import forms
from assistant.core.errors import AnswerError
from assistant.forms import COMMENT_UNCHECKED, personal_data_error
from assistant.models import Feedback
from audit.models import AuditEvent

from .test_feedback_without_js import field_error, stored_answer, summary, tag, textarea

pytestmark = pytest.mark.django_db

HINT = "Do not include personal data, such as names, National Insurance numbers, phone numbers or email addresses."
WITH_PERSONAL_DATA = "My name is John Smith, NI number AB123456C, call 07911 123456"
NI_AND_PHONE = (
    "Remove the personal data from your comment: it seems to include a National Insurance number and a phone number"
)


def post(client, answer, comment: str, *, script: bool):
    headers = {"HTTP_ACCEPT": "application/json"} if script else {}
    url = reverse("assistant:feedback", args=[answer.pk])
    return client.post(url, {"rating": "down", "comment": comment}, **headers)


def refusal(response, answer, *, script: bool) -> str:
    """The comment's one error, as the script or the page shows it."""
    assert response.status_code == 400
    if script:
        errors = response.json()["errors"]
        assert list(errors) == ["comment"] and len(errors["comment"]) == 1
        return errors["comment"][0]
    page = response.content.decode()
    ((link, message),) = summary(page)
    assert link == f"#comment-{answer.pk}"
    assert field_error(page, f"comment-{answer.pk}-error") == f"Error: {message}"
    assert textarea(page, f"comment-{answer.pk}") == WITH_PERSONAL_DATA  # kept, to edit
    return message


def nothing_stored() -> bool:
    return not Feedback.objects.exists() and not AuditEvent.objects.filter(action="feedback").exists()


@pytest.mark.parametrize("script", [True, False], ids=["with-script", "without-script"])
def test_a_comment_holding_personal_data_is_refused_in_place_and_not_stored(client, staff, script):
    """A comment naming an NI number and a phone number is refused, with or without the page's script,
    by the same message naming both; nothing is stored or audited; without the script the conversation
    comes back with the comment in its box and the rating chosen."""
    answer = stored_answer(staff)
    client.force_login(staff)
    response = post(client, answer, WITH_PERSONAL_DATA, script=script)
    assert refusal(response, answer, script=script) == NI_AND_PHONE
    if not script:
        assert "checked" in tag(response.content.decode(), f"rating-down-{answer.pk}")
    assert nothing_stored()


@pytest.mark.parametrize(
    ("comment", "found"),
    [
        ("Write to me at john.smith@example.com about this", "an email address"),
        ("Send it to John Smith, 10 Downing Street, SW1A 2AA please", "a name and address"),
    ],
    ids=["email", "address"],
)
def test_each_kind_found_is_named(client, staff, comment, found):
    answer = stored_answer(staff)
    client.force_login(staff)
    response = post(client, answer, comment, script=True)
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "comment": [f"Remove the personal data from your comment: it seems to include {found}"]
    }
    assert nothing_stored()


def test_a_comment_with_figures_but_no_personal_data_is_stored(client, staff):
    """Figures alone are not personal data: the comment is scanned and stored as typed."""
    answer = stored_answer(staff)
    client.force_login(staff)
    response = post(client, answer, "The 2025 figure is 27 days, not 25; see section 3.4", script=True)
    assert response.status_code == 200 and response.json()["ok"] is True
    assert Feedback.objects.get(message=answer).comment == "The 2025 figure is 27 days, not 25; see section 3.4"


@pytest.mark.parametrize("script", [True, False], ids=["with-script", "without-script"])
def test_a_comment_that_could_not_be_checked_is_refused(client, staff, monkeypatch, script):
    """A comment whose scan fails (too slow: its worker replaced) is refused rather than stored unchecked."""

    async def scan_fails(text, *, person):
        raise AnswerError("not checked", code="question_unchecked")

    monkeypatch.setattr(forms, "personal_data_scan", scan_fails)
    answer = stored_answer(staff)
    client.force_login(staff)
    response = post(client, answer, WITH_PERSONAL_DATA, script=script)
    assert refusal(response, answer, script=script) == COMMENT_UNCHECKED
    assert nothing_stored()


def test_the_comment_box_says_not_to_include_personal_data(client, staff):
    """Every comment box says so under its label, and reads it out with the box: the answer's own form
    and the template the script copies for a new answer (id ``comment-0``)."""
    answer = stored_answer(staff)
    client.force_login(staff)
    page = client.get(reverse("assistant:conversation", args=[answer.conversation_id])).content.decode()
    for answer_id in (answer.pk, 0):
        hint = re.search(rf'<div id="comment-{answer_id}-hint" class="govuk-hint">(.*?)</div>', page)
        assert hint and hint.group(1) == HINT
        describedby = tag(page, f"comment-{answer_id}").split('aria-describedby="')[1].split('"')[0].split()
        assert f"comment-{answer_id}-hint" in describedby


def test_the_error_names_kinds_in_order_with_their_articles():
    assert personal_data_error(["email"]).endswith("include an email address")
    assert personal_data_error(["phone", "card_number", "postcode"]).endswith(
        "include a phone number, a payment card number and a postcode"
    )
