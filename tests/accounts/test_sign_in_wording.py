"""What the sign-in and account pages say, in GOV.UK's words: sign-up is offered only while it is open,
and otherwise the page says who gives accounts; where allauth said "contact us" with nothing to contact,
the pages name the service desk (HUMPHREY_SUPPORT_CONTACT, a link when set, plain words when not); a failed
sign-in, signing in and signing out are worded as GOV.UK would."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import RequestFactory

from tests.accounts.test_signup_and_sso import run_settings
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

DESK = "your department's IT service desk"
EMAIL = "servicedesk@example.gov.uk"
PAGE = "https://servicedesk.example.gov.uk/humphrey?from=sign-in&lang=en"


def main(page: str) -> str:
    """The page's main content, without its forms (a field's own links are not what it says)."""
    content = page.split('id="main-content"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"<form\b.*?</form>", " ", content, flags=re.S)


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def links(fragment: str) -> dict[str, str]:
    """Each link's text and where it goes."""
    return {
        text(inner): html.unescape(href)
        for href, inner in re.findall(r'<a\b[^>]*href="([^"]*)"[^>]*>(.*?)</a>', fragment, re.S)
    }


def get_main(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return main(response.content.decode())


@pytest.fixture
def sign_up_open(settings):
    settings.HUMPHREY_SIGNUP_DOMAINS = ["example.gov.uk"]
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"  # what settings.py makes it while sign-up is open


# --- Sign-up offered only while it is open ------------------------------------------------------


def test_sign_in_with_sign_up_closed_offers_no_sign_up_and_names_who_gives_accounts(client, settings):
    settings.HUMPHREY_SIGNUP_DOMAINS = []
    content = get_main(client, "/accounts/login/")
    assert "/accounts/signup/" not in content
    assert "sign up" not in text(content).lower()
    assert f"Ask {DESK} if you need an account." in text(content)
    assert links(content) == {}, "no link is promised while no contact is configured"


def test_sign_in_with_sign_up_closed_links_the_configured_contact(client, settings):
    settings.HUMPHREY_SIGNUP_DOMAINS = []
    settings.HUMPHREY_SUPPORT_CONTACT = EMAIL
    content = get_main(client, "/accounts/login/")
    assert f"Email {DESK} at {EMAIL} if you need an account." in text(content)
    assert links(content) == {EMAIL: f"mailto:{EMAIL}"}


def test_sign_in_with_sign_up_open_offers_sign_up(client, sign_up_open):
    content = get_main(client, "/accounts/login/?next=/conversations/")
    assert links(content) == {"create one": "/accounts/signup/?next=%2Fconversations%2F"}
    assert "If you do not have an account, you can create one with your work email address." in text(content)
    assert "service desk" not in text(content)
    # and the link leads to a form, not to "sign-up is closed"
    assert "closed" not in text(get_main(client, "/accounts/signup/")).lower()


def test_sign_in_offers_no_sign_up_while_sso_closes_password_sign_up(client, sign_up_open, settings):
    """Domains set, but SSO configured without HUMPHREY_PASSWORD_SIGNUP_WITH_SSO: the adapter refuses
    password sign-up, so the page must not offer it."""
    settings.HUMPHREY_OIDC_CLIENT_ID = "humphrey"
    content = get_main(client, "/accounts/login/")
    assert "/accounts/signup/" not in content
    assert f"Ask {DESK} if you need an account." in text(content)


def test_the_sign_up_closed_page_says_who_gives_accounts(client, settings):
    settings.HUMPHREY_SIGNUP_DOMAINS = []
    content = get_main(client, "/accounts/signup/")
    assert "We are sorry" not in content
    assert f"Ask {DESK} if you need one." in text(content)
    assert links(content) == {"sign in": "/accounts/login/"}


# --- Who to ask, where allauth said "contact us" --------------------------------------------------


def test_the_password_reset_page_says_who_to_ask_in_plain_words_when_no_contact_is_set(client):
    content = get_main(client, "/accounts/password/reset/")
    assert "contact us" not in content.lower()
    assert f"If you cannot reset your password, ask {DESK}." in text(content)
    assert links(content) == {}


@pytest.mark.parametrize(
    ("contact", "sentence", "link"),
    [
        (EMAIL, f"email {DESK} at {EMAIL}.", {EMAIL: f"mailto:{EMAIL}"}),
        (PAGE, f"contact {DESK}.", {f"contact {DESK}": PAGE}),
    ],
)
def test_the_password_reset_page_links_the_configured_contact(client, settings, contact, sentence, link):
    settings.HUMPHREY_SUPPORT_CONTACT = contact
    content = get_main(client, "/accounts/password/reset/")
    assert "contact us" not in content.lower()
    assert f"If you cannot reset your password, {sentence}" in text(content)
    assert links(content) == link


def verified_email_required() -> str:
    """allauth's page for a view behind ``verified_email_required`` (none of ours is, yet)."""
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    return render_to_string("account/verified_email_required.html", request=request)


def test_no_page_a_civil_servant_can_reach_says_contact_us(client, civil_servant, settings):
    """Sign in, the password reset's pages (asking, sent, a broken link), sign-up closed, the email
    confirmation's pages and an inactive account: each names the service desk, as a link once set."""
    urls = (
        "/accounts/login/",
        "/accounts/password/reset/",
        "/accounts/password/reset/done/",
        "/accounts/password/reset/key/0-bad-key/",
        "/accounts/signup/",
        "/accounts/confirm-email/",
        "/accounts/inactive/",
    )
    for contact in ("", EMAIL):
        settings.HUMPHREY_SUPPORT_CONTACT = contact
        pages = {url: get_main(client, url) for url in urls}
        pages["verified_email_required"] = main(verified_email_required())
        for where, content in pages.items():
            assert "contact us" not in content.lower(), where
            assert DESK in text(content), where
            if contact:
                assert links(content).get(EMAIL) == f"mailto:{EMAIL}", where


# --- Failing, signing in and signing out -----------------------------------------------------------


def test_a_failed_sign_in_says_enter_a_correct_email_address_and_password(client, civil_servant):
    response = client.post("/accounts/login/", {"login": civil_servant.email, "password": "not-it"})
    page = response.content.decode()
    assert "and/or" not in page
    summary = re.search(r'<div class="govuk-error-summary".*?</ul>', page, re.S).group(0)
    assert text(summary) == "There is a problem Enter a correct email address and password"


def test_signing_in_says_you_are_signed_in_as_whom(client, civil_servant):
    response = client.post("/accounts/login/", {"login": civil_servant.email, "password": PASSWORD}, follow=True)
    page = html.unescape(response.content.decode())
    assert "Successfully" not in page
    banners = re.findall(r'class="govuk-notification-banner__heading">(.*?)</p>', page, re.S)
    assert banners == [f"You're signed in as {civil_servant.email}."]


def test_signing_out_asks_sign_out_of_humphrey(client, civil_servant):
    client.post("/accounts/login/", {"login": civil_servant.email, "password": PASSWORD})
    content = get_main(client, "/accounts/logout/")
    assert "Are you sure" not in content
    assert re.search(r"<h1[^>]*>\s*Sign out of Humphrey\?\s*</h1>", content)


# --- The setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["servicedesk", "javascript:alert(1)", "desk@", "a@b@example.gov.uk", 'https://x/"><b>']
)
def test_the_contact_must_be_an_email_address_or_a_web_address(value):
    result = run_settings(HUMPHREY_SUPPORT_CONTACT=value)
    assert result.returncode != 0
    assert "HUMPHREY_SUPPORT_CONTACT must be an email address or an https:// address" in result.stderr


@pytest.mark.parametrize("value", ["", EMAIL, f"mailto:{EMAIL}", PAGE])
def test_the_contact_accepts_an_email_address_or_a_web_address(value):
    result = run_settings(HUMPHREY_SUPPORT_CONTACT=value)
    assert result.returncode == 0, result.stderr
