"""The sign-in and account pages speak GOV.UK's sentence case ("Change password", "Two-factor
authentication"), not allauth's Title Case ("Change Password", "Two-Factor Authentication"): every page
a person can reach, signed in and out, in its title, headings, buttons, links, labels and legends.
Only a proper noun keeps its capital after a heading's first word."""

from __future__ import annotations

import re

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

from tests.conftest import PASSWORD
from tests.factories import totp_code

pytestmark = pytest.mark.django_db

SSO_NAME = "Microsoft Entra ID"
PROPER_NOUNS = {"Humphrey", "Microsoft", "Entra"}  # the service's name and the SSO provider's


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def wording(page: str) -> list[str]:
    """The page's title (without the service's name and any "Error: "), and the headings, buttons,
    links, labels and legends of its main content; a GOV.UK tag (an email address's "Verified") is
    its own text, not part of its label's."""
    title = _text(re.search(r"<title>(.*?)</title>", page, re.S).group(1))
    title = title.removeprefix("Error: ").rsplit(" – ", 1)[0]
    main = page.split('id="main-content"', 1)[1].split("</main>", 1)[0]
    tags = re.findall(r'<strong class="govuk-tag[^"]*">(.*?)</strong>', main, re.S)
    main = re.sub(r'<strong class="govuk-tag[^"]*">.*?</strong>', " ", main, flags=re.S)
    found = re.findall(
        r"<(h[1-6]|button|a|label|legend)\b[^>]*>(.*?)</\1>|<input[^>]*type=\"submit\"[^>]*value=\"([^\"]*)\"",
        main,
        re.S,
    )
    texts = [title, *tags, *(_text(inner or value) for _, inner, value in found)]
    return [t for t in texts if t]


def title_cased(text: str) -> list[str]:
    """The words of ``text`` capitalised only by Title Case: after its first word (and not opening a
    sentence), a capital then lower-case letters, and not a proper noun. An email address is data."""
    if "@" in text:
        return []
    words = list(re.finditer(r"\b[A-Za-z][\w'’]*", text))
    return [
        w.group(0)
        for i, w in enumerate(words)
        if i > 0
        and re.fullmatch(r"[A-Z][a-z]+", w.group(0))
        and w.group(0) not in PROPER_NOUNS
        and not re.search(r"[.?!]\s*$", text[: w.start()])
    ]


def offences(client, url: str, *, follow: bool = False, status: int = 200) -> list[tuple[str, str]]:
    response = client.get(url, follow=follow)
    assert response.status_code == status, (url, response.status_code, response.get("Location"))
    page = response.content.decode()
    return [(url, text) for text in wording(page) if title_cased(text)]


def sign_in(client, user, *, code: bool = False) -> None:
    """Signed in through the sign-in form (and the two-factor step), as a person is."""
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    if code:
        assert response["Location"].startswith("/accounts/2fa/authenticate/")
        response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(user)})
        assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(user.pk)


def confirm_access(client) -> None:
    """The password given again: allauth asks for it before changing how someone signs in."""
    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]


@pytest.fixture
def sso(settings):
    """OpenID Connect configured as settings.py configures it with HUMPHREY_OIDC_* set (no real IdP)."""
    settings.HUMPHREY_OIDC_CLIENT_ID = "humphrey"
    settings.HUMPHREY_OIDC_NAME = SSO_NAME
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": SSO_NAME,
                    "client_id": "humphrey",
                    "secret": "s",
                    "settings": {"server_url": "https://idp.example.com"},
                }
            ]
        }
    }


def test_the_text_check_tells_title_case_from_sentence_case():
    """The check itself: allauth's wording fails it, GOV.UK's passes, proper nouns and data are left."""
    assert title_cased("Change Password") == ["Password"]
    assert title_cased("Manage Two-Factor Authentication") == ["Two", "Factor", "Authentication"]
    assert title_cased("Trust this Browser?") == ["Browser"]
    for fine in (
        "Change password",
        "Two-factor authentication",
        "Sign in via Microsoft Entra ID",
        "casey@Example.gov.uk",
    ):
        assert title_cased(fine) == [], fine
    assert title_cased("Forgot your password? Enter your email") == []


def test_sentence_case_leaves_markup_acronyms_sentences_and_the_providers_name(settings):
    """The filter the account pages' templates use: only words Title Case capitalised are lowered."""
    from humphrey.templatetags.wording import sentence_case

    settings.HUMPHREY_OIDC_NAME = "Okta Workforce"
    assert sentence_case("Sign In Via Okta Workforce") == "Sign in via Okta Workforce"
    assert sentence_case('\n  Manage <span class="Tag">Two-Factor</span> Authentication ') == (
        '\n  Manage <span class="Tag">two-factor</span> authentication '
    )
    assert sentence_case("Use Your TOTP App. Then Continue, Humphrey") == "Use your TOTP app. Then continue, Humphrey"


def test_pages_reached_signed_out_are_in_sentence_case(client, civil_servant, settings, sso):
    """Sign in (with SSO offered), sign up (closed and open), the password reset's pages (a good
    link, a bad one, and done), the two-factor step, an inactive account, confirming an address,
    and SSO's own pages."""
    uid = user_pk_to_url_str(civil_servant)
    key = default_token_generator.make_token(civil_servant)
    found = []
    for url in (
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/accounts/password/reset/done/",
        "/accounts/password/reset/key/0-bad-key/",
        "/accounts/password/reset/key/done/",
        "/accounts/inactive/",
        "/accounts/confirm-email/",
        "/accounts/confirm-email/not-a-key/",
        "/accounts/oidc/sso/login/",
        "/accounts/3rdparty/login/cancelled/",
    ):
        found += offences(client, url)
    found += offences(client, "/accounts/3rdparty/login/error/", status=401)
    found += offences(client, f"/accounts/password/reset/key/{uid}-{key}/", follow=True)  # the new password form
    settings.HUMPHREY_SIGNUP_DOMAINS = ["example.gov.uk"]
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    found += offences(client, "/accounts/signup/")
    assert found == [], "\n".join(map(str, found))


def test_the_two_factor_step_of_sign_in_is_in_sentence_case(client, make_user):
    """The code asked for at sign-in by someone with an authenticator app."""
    person = make_user("ali@example.gov.uk", totp=True)
    client.post("/accounts/login/", {"login": person.email, "password": PASSWORD})
    assert offences(client, "/accounts/2fa/authenticate/") == []


def test_pages_reached_signed_in_are_in_sentence_case(client, civil_servant, sso):
    """Sign out, email addresses, change password, confirm access, two-factor authentication and
    setting up an authenticator app, and connected accounts."""
    sign_in(client, civil_servant)
    found = offences(client, "/accounts/reauthenticate/")
    confirm_access(client)
    for url in (
        "/accounts/logout/",
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/2fa/",
        "/accounts/2fa/totp/activate/",
        "/accounts/3rdparty/",
    ):
        found += offences(client, url)
    assert found == [], "\n".join(map(str, found))


def test_pages_of_someone_with_an_authenticator_app_are_in_sentence_case(client, make_user):
    """Two-factor authentication with an app and recovery codes: the overview, turning the app off,
    the recovery codes and making new ones, and confirming access with a code."""
    person = make_user("ali@example.gov.uk", totp=True)
    RecoveryCodes.activate(person)
    sign_in(client, person, code=True)
    found = offences(client, "/accounts/2fa/reauthenticate/")
    confirm_access(client)
    for url in (
        "/accounts/2fa/",
        "/accounts/2fa/totp/deactivate/",
        "/accounts/2fa/recovery-codes/",
        "/accounts/2fa/recovery-codes/generate/",
    ):
        found += offences(client, url)
    assert found == [], "\n".join(map(str, found))


def test_setting_a_first_password_is_in_sentence_case(client, civil_servant):
    """Someone without a password (signed up through SSO) is offered to set one."""
    civil_servant.set_unusable_password()
    civil_servant.save()
    client.force_login(civil_servant)
    assert offences(client, "/accounts/password/set/") == []
