"""Sign-in and account pages as GOV.UK forms (the accessibility review's H5). allauth rendered every form
with Django's ``as_p``: serif "Email:" labels, placeholders repeating them, black error lists not tied to
their fields, no "Error:" in the title, and the email page's radio drawn as a text box."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def tag(html: str, element_id: str) -> str:
    at = html.index(f'id="{element_id}"')
    return html[html.rindex("<", 0, at) : html.index(">", at) + 1]


def title(html: str) -> str:
    return " ".join(re.search(r"<title>(.*?)</title>", html, re.S).group(1).split())


def summary_links(html: str) -> dict[str, str]:
    found = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S)
    return {
        " ".join(t.split()): href for href, t in re.findall(r'<li><a href="([^"]*)">(.*?)</a></li>', found.group(0))
    }


def error_text(html: str, error_id: str) -> str:
    at = html.index(f'id="{error_id}"')
    message = html[html.rindex("<p", 0, at) : html.index("</p>", at)]
    assert 'class="govuk-error-message"' in message
    return " ".join(re.sub(r"<[^>]+>", " ", message[message.index(">") + 1 :]).split())


def test_the_sign_in_form_is_gov_uk_markup(client):
    html = client.get("/accounts/login/").content.decode()
    assert "errorlist" not in html and "<p>" not in html.split('id="main-content"')[1]
    assert re.search(r'<label class="govuk-label govuk-label--s" for="id_login">Email</label>', html)
    login = tag(html, "id_login")
    assert 'class="govuk-input"' in login and 'type="email"' in login and 'autocomplete="email"' in login
    assert "placeholder" not in login and "placeholder" not in tag(html, "id_password")
    assert 'class="govuk-input"' in tag(html, "id_password")
    # "Forgot your password?" is a link after the box, not squeezed into it or read out as its hint.
    assert re.search(r'app-field-link"><a href="/accounts/password/reset/">Forgot your password\?</a></p>', html)
    assert "aria-describedby" not in tag(html, "id_password")


def test_a_wrong_password_is_a_gov_uk_error_linked_to_the_first_field(client, civil_servant):
    response = client.post("/accounts/login/", {"login": civil_servant.email, "password": "not-it"})
    html = response.content.decode()
    assert title(html).startswith("Error: ")
    message = "Enter a correct email address and password"
    assert summary_links(html) == {message: "#id_login"}, "not to #main-content"
    login = tag(html, "id_login")
    assert 'aria-describedby="id_login-error"' in login and "govuk-input--error" in login
    assert error_text(html, "id_login-error") == f"Error: {message}"
    assert "govuk-form-group--error" in html


def test_an_empty_sign_in_ties_each_error_to_its_field(client):
    html = client.post("/accounts/login/", {"login": "", "password": ""}).content.decode()
    assert title(html).startswith("Error: ")
    summary = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S).group(0)
    assert re.findall(r'<li><a href="([^"]*)">', summary) == ["#id_login", "#id_password"]
    for field in ("id_login", "id_password"):
        assert f'aria-describedby="{field}-error"' in tag(html, field)
        assert error_text(html, f"{field}-error").startswith("Error: ")


def test_password_rules_are_the_new_passwords_hint_and_its_errors_are_tied(client, civil_servant):
    client.post("/accounts/login/", {"login": civil_servant.email, "password": PASSWORD})
    html = client.post(
        "/accounts/password/change/", {"oldpassword": PASSWORD, "password1": "short", "password2": "other"}
    ).content.decode()
    assert title(html).startswith("Error: ")
    new = tag(html, "id_password1")
    assert 'aria-describedby="id_password1-hint id_password1-error"' in new
    assert re.search(r'<div class="govuk-hint app-hint" id="id_password1-hint"><ul>', html)
    assert error_text(html, "id_password1-error").startswith("Error: ")


def test_the_email_pages_choice_is_a_gov_uk_radio_not_a_text_box(client, civil_servant):
    client.post("/accounts/login/", {"login": civil_servant.email, "password": PASSWORD})
    html = client.get("/accounts/email/").content.decode()
    radio = tag(html, "email_radio_0")
    assert 'class="govuk-radios__input"' in radio and 'type="radio"' in radio
    assert "govuk-input" not in radio
    assert re.search(r'<label class="govuk-label govuk-radios__label" for="email_radio_0">', html)
    assert re.search(r'<legend class="govuk-fieldset__legend[^"]*">Choose an email address</legend>', html)
    assert '<strong class="govuk-tag govuk-tag--green">' in html  # "Verified", as a GOV.UK tag


def test_the_add_email_error_is_tied_to_its_box(client, civil_servant):
    client.post("/accounts/login/", {"login": civil_servant.email, "password": PASSWORD})
    html = client.post("/accounts/email/", {"action_add": "", "email": "not-an-address"}).content.decode()
    assert title(html).startswith("Error: ")
    assert 'aria-describedby="id_email-error"' in tag(html, "id_email")
    assert "govuk-input--error" in tag(html, "id_email")
