"""Sign-up and SSO (issue 19, item 5), from the side of the person who must not get in: open
sign-up needs a confirmed address; password sign-up is off beside SSO; an SSO address the identity
provider did not say it verified is not treated as verified; settings refuse weaker combinations.
"""

import os
import subprocess
import sys

import pytest
from django.core import mail
from django.test import RequestFactory

from accounts.adapters import AccountAdapter, SocialAccountAdapter
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")


# --- Sign-up and SSO -------------------------------------------------------------------------


def test_an_open_sign_up_cannot_use_the_site_until_the_address_is_confirmed(client, settings):
    settings.HUMPHREY_SIGNUP_DOMAINS = ["cabinetoffice.gov.uk"]
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"  # what settings.py makes it while sign-up is open
    email = "new@cabinetoffice.gov.uk"
    data = {"email": email, "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"}
    response = client.post("/accounts/signup/", data)
    assert response.status_code == 302 and "confirm-email" in response["Location"]
    assert signed_in_user_id(client) is None
    assert client.get("/").status_code == 302
    response = client.post("/accounts/login/", {"login": email, "password": "a-long-passphrase-1"})
    assert signed_in_user_id(client) is None and "confirm-email" in response["Location"]
    # The emailed link confirms the address; then the same sign-in works.
    link = next(word for m in mail.outbox for word in m.body.split() if "/accounts/confirm-email/" in word)
    path = link[link.index("/accounts/") :]
    assert client.post(path).status_code == 302
    client.post("/accounts/login/", {"login": email, "password": "a-long-passphrase-1"})
    assert client.get("/").status_code == 200


def test_sign_up_is_closed_if_verification_is_weakened(client, settings):
    """Settings refuse the combination; the adapter holds even if settings were overridden another way."""
    settings.HUMPHREY_SIGNUP_DOMAINS = ["cabinetoffice.gov.uk"]
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    assert not AccountAdapter().is_open_for_signup(RequestFactory().get("/"))


def test_password_sign_up_is_off_beside_sso_unless_allowed(client, settings):
    settings.HUMPHREY_SIGNUP_DOMAINS = ["cabinetoffice.gov.uk"]
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    settings.HUMPHREY_OIDC_CLIENT_ID = "humphrey"
    request = RequestFactory().get("/")
    assert not AccountAdapter().is_open_for_signup(request)
    data = {"email": "new@cabinetoffice.gov.uk", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"}
    client.post("/accounts/signup/", data)
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(email="new@cabinetoffice.gov.uk").exists()
    settings.HUMPHREY_PASSWORD_SIGNUP_WITH_SSO = True
    assert AccountAdapter().is_open_for_signup(request)


@pytest.fixture
def sso(settings):
    """An OpenID Connect app configured as settings.py would with HUMPHREY_OIDC_* set (no real IdP)."""
    settings.HUMPHREY_OIDC_CLIENT_ID = "humphrey"
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": "Test IdP",
                    "client_id": "humphrey",
                    "secret": "s",
                    "settings": {"server_url": "https://idp.example.com"},
                }
            ]
        }
    }
    request = RequestFactory().get("/")
    request.session = {}
    from allauth.socialaccount.adapter import get_adapter

    provider = get_adapter().get_provider(request, "sso")

    def login(**claims):
        return provider.sociallogin_from_response(request, {"sub": "42", **claims})

    return request, login


@pytest.mark.parametrize(
    ("claim", "verified"),
    [
        ({"email_verified": True}, True),
        ({"email_verified": "true"}, True),
        ({"email_verified": False}, False),
        ({}, False),
    ],
)
def test_an_sso_address_is_verified_only_if_the_idp_says_so(sso, settings, claim, verified):
    """email_verified false or absent: not a verified address, so an allowed domain does not admit it."""
    settings.HUMPHREY_SIGNUP_DOMAINS = ["cabinetoffice.gov.uk"]
    request, login = sso
    sociallogin = login(email="pat@cabinetoffice.gov.uk", **claim)
    SocialAccountAdapter().pre_social_login(request, sociallogin)
    assert [a.verified for a in sociallogin.email_addresses] == [verified]
    assert SocialAccountAdapter().is_open_for_signup(request, sociallogin) is verified


def test_the_adapter_unmarks_an_address_the_claims_do_not_vouch_for(sso, settings):
    """Whatever a provider mapping said, without email_verified true the address is unverified."""
    settings.HUMPHREY_SIGNUP_DOMAINS = ["cabinetoffice.gov.uk"]
    request, login = sso
    sociallogin = login(email="pat@cabinetoffice.gov.uk", email_verified=False)
    sociallogin.email_addresses[0].verified = True  # as a looser mapping might leave it
    SocialAccountAdapter().pre_social_login(request, sociallogin)
    assert sociallogin.email_addresses[0].verified is False


def test_sso_sign_up_without_a_domain_list_trusts_the_issuer(sso, settings):
    settings.HUMPHREY_SIGNUP_DOMAINS = []
    request, login = sso
    sociallogin = login(email="pat@anywhere.example", email_verified=True)
    assert SocialAccountAdapter().is_open_for_signup(request, sociallogin)
    assert [(a.email, a.verified) for a in sociallogin.email_addresses] == [("pat@anywhere.example", True)]


def test_an_sso_address_outside_the_domain_list_is_dropped(sso, settings):
    settings.HUMPHREY_SIGNUP_DOMAINS = ["cabinetoffice.gov.uk"]
    request, login = sso
    sociallogin = login(email="pat@gmail.com", email_verified=True)
    assert sociallogin.email_addresses == []
    assert not SocialAccountAdapter().is_open_for_signup(request, sociallogin)


# --- Settings --------------------------------------------------------------------------------

SHOW = (
    "import humphrey.settings as s; "
    "print(s.ACCOUNT_EMAIL_VERIFICATION, sorted(s.HUMPHREY_REQUIRE_MFA_FOR), s.HUMPHREY_PASSWORD_SIGNUP_WITH_SSO)"
)


def run_settings(**env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with these variables (and a database URL that
    parses but is never connected to)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUMPHREY_", "DATABASE_URL"))}
    base.update(DATABASE_URL="postgres://nobody@127.0.0.1:1/none", DJANGO_SECRET_KEY="x" * 50, **env)
    return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("env", "shown"),
    [
        ({}, "optional ['auditor', 'curator', 'staff'] False"),
        ({"HUMPHREY_SIGNUP_DOMAINS": "cabinetoffice.gov.uk"}, "mandatory ['auditor', 'curator', 'staff'] False"),
        ({"HUMPHREY_REQUIRE_MFA_FOR": ""}, "optional [] False"),
        ({"HUMPHREY_REQUIRE_MFA_FOR": "none"}, "optional [] False"),
        ({"HUMPHREY_REQUIRE_MFA_FOR": "Staff, auditor"}, "optional ['auditor', 'staff'] False"),
        ({"HUMPHREY_PASSWORD_SIGNUP_WITH_SSO": "1"}, "optional ['auditor', 'curator', 'staff'] True"),
    ],
)
def test_settings_defaults(env, shown):
    result = run_settings(**env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == shown


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HUMPHREY_SIGNUP_DOMAINS": "cabinetoffice.gov.uk", "HUMPHREY_EMAIL_VERIFICATION": "optional"},
            "HUMPHREY_EMAIL_VERIFICATION must be mandatory",
        ),
        ({"HUMPHREY_EMAIL_VERIFICATION": "sometimes"}, "HUMPHREY_EMAIL_VERIFICATION must be none, optional"),
        ({"HUMPHREY_REQUIRE_MFA_FOR": "curator,wizard"}, "HUMPHREY_REQUIRE_MFA_FOR lists roles"),
    ],
)
def test_settings_refuse_weaker_configurations(env, message):
    result = run_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr
