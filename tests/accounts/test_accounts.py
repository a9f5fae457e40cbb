"""Sign-in with email and password, sign-out, closed or domain-limited sign-up, MFA, roles."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.roles import Role, has_role, role_required
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_sign_in_and_out(client, civil_servant):
    """A user signs in with email and password, sees the start page, and signs out."""
    response = client.post("/accounts/login/", {"login": "casey@example.gov.uk", "password": PASSWORD})
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert b"Sign out" in home.content
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # back to the sign-in page


def test_wrong_password_shows_error_summary(client, civil_servant):
    """A failed sign-in re-shows the form with a GOV.UK error summary."""
    response = client.post("/accounts/login/", {"login": "casey@example.gov.uk", "password": "nope"})
    assert response.status_code == 200
    assert b"govuk-error-summary" in response.content
    assert b"There is a problem" in response.content


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_signup_closed_without_domains(client, settings):
    """With no HUMPHREY_SIGNUP_DOMAINS nobody can sign up."""
    settings.HUMPHREY_SIGNUP_DOMAINS = []
    response = client.get("/accounts/signup/")
    assert b"Sign Up Closed" in response.content or b"closed" in response.content.lower()
    client.post(
        "/accounts/signup/",
        {"email": "new@cabinetoffice.gov.uk", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"},
    )
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(email="new@cabinetoffice.gov.uk").exists()


def test_signup_limited_to_allowed_domains(client, settings):
    """Only addresses in an allowed domain may sign up; others get a clear error."""
    from django.contrib.auth import get_user_model

    settings.HUMPHREY_SIGNUP_DOMAINS = ["cabinetoffice.gov.uk"]
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"  # what settings.py makes it while sign-up is open
    data = {"password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"}
    response = client.post("/accounts/signup/", {"email": "someone@gmail.com", **data})
    assert response.status_code == 200
    assert b"Use your work email address" in response.content
    assert not get_user_model().objects.filter(email="someone@gmail.com").exists()
    response = client.post("/accounts/signup/", {"email": "new@cabinetoffice.gov.uk", **data})
    assert response.status_code == 302
    assert get_user_model().objects.filter(email="new@cabinetoffice.gov.uk").exists()


def test_mfa_enrolment_page_reachable(client, civil_servant):
    """A user who has just signed in with their password can reach TOTP enrolment."""
    client.post("/accounts/login/", {"login": "casey@example.gov.uk", "password": PASSWORD})
    assert client.get("/accounts/2fa/").status_code == 200
    response = client.get("/accounts/2fa/totp/activate/", follow=True)
    if response.redirect_chain and "reauthenticate" in response.redirect_chain[-1][0]:
        # allauth asks for the password again before a security change: the expected, safe flow.
        response = client.post(response.redirect_chain[-1][0], {"password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/accounts/2fa/totp/activate/"
    assert b"Authenticator" in response.content or b"authenticator" in response.content


def test_roles_come_from_groups(civil_servant, curator, auditor):
    """Everyone is a civil servant; curator and auditor come from their groups; neither implies the other."""
    assert has_role(civil_servant, Role.CIVIL_SERVANT)
    assert not has_role(civil_servant, Role.CURATOR)
    assert has_role(curator, Role.CURATOR) and not has_role(curator, Role.AUDITOR)
    assert has_role(auditor, Role.AUDITOR) and not has_role(auditor, Role.CURATOR)


def test_superuser_is_not_implicitly_an_auditor(make_user):
    """Reading the audit trail is a separate duty: a superuser without the role is not an auditor."""
    admin = make_user("root@example.gov.uk")
    admin.is_superuser = True
    admin.save()
    assert not has_role(admin, Role.AUDITOR)


def test_role_required_gives_403_to_others(curator, civil_servant):
    """A role-gated view answers 403 to the wrong role, never part of the page."""
    view = role_required(Role.CURATOR)(lambda request: HttpResponse("secret collection list"))
    request = RequestFactory().get("/curate/")
    request.user = civil_servant
    with pytest.raises(PermissionDenied):
        view(request)
    request.user = curator
    assert view(request).content == b"secret collection list"


def test_nav_shows_links_by_role(client, curator, civil_servant):
    """Curators see the collections link; civil servants do not."""
    client.force_login(civil_servant)
    assert b"Collections</a>" not in client.get("/").content
    client.force_login(curator)
    assert b"Collections</a>" in client.get("/").content


def test_demo_accounts_command(db, capsys, settings, tmp_path):
    """The run command's demo accounts are created once per role and their credentials printed."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    settings.DEBUG = True
    settings.DATA_DIR = tmp_path
    settings.HUMPHREY_DEMO_PASSWORD = ""
    settings.HUMPHREY_REQUIRE_MFA_FOR = frozenset()  # as make run's launcher sets it for the demo
    call_command("create_demo_accounts")
    out = capsys.readouterr().out
    password = (tmp_path / "demo-password").read_text().strip()
    assert password in out
    users = get_user_model().objects.filter(email__endswith="@example.gov.uk")
    assert {u.email for u in users} >= {
        "civil.servant@example.gov.uk",
        "curator@example.gov.uk",
        "auditor@example.gov.uk",
    }
    assert has_role(users.get(email="auditor@example.gov.uk"), Role.AUDITOR)
