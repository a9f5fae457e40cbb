"""Sign-in hardening (issue 19, item 5), from the side of the person who must not get in:

- /admin/login/ signs nobody in: it sends people to allauth's sign-in (MFA stage, rate limits);
- curator, auditor and staff roles need an authenticator app (HUMPHREY_REQUIRE_MFA_FOR) before
  they count, in pages, selectors and the admin alike.
"""

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.test import RequestFactory

from accounts.roles import MFA_SETUP_MESSAGE, Role, has_role, has_staff_role, roles_awaiting_mfa
from documents.models import Collection
from insights.access import insight_collections
from tests.conftest import PASSWORD
from tests.factories import enrol_totp, totp_code

pytestmark = pytest.mark.django_db

TOTP_SETUP = "/accounts/2fa/totp/activate/"
MFA_STEP = "/accounts/2fa/authenticate/"


@pytest.fixture
def fresh_rate_limits():
    """allauth counts failed sign-ins in the cache (per address and per account): start and end clean,
    so neither this test nor its neighbours see the other's failures."""
    cache.clear()
    yield
    cache.clear()


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")


def password_step(client, email, next_url=""):
    url = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"login": email, "password": PASSWORD})


# --- /admin/login/ goes through allauth ------------------------------------------------------


def test_posting_credentials_to_admin_login_signs_nobody_in(client, make_user):
    """Django's admin form would have signed this superuser in with a password alone: now it is a redirect."""
    root = make_user("root@example.gov.uk", staff=True)
    root.is_superuser = True
    root.save()
    response = client.post("/admin/login/", {"username": root.username, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/"
    assert signed_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302


def test_admin_login_sends_to_allauth_keeping_next(client):
    response = client.get("/admin/login/", {"next": "/admin/documents/chunk/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/documents/chunk/"
    # Anonymous /admin/ goes the same way, via admin's own redirect to its login.
    follow = client.get("/admin/", follow=True)
    assert follow.redirect_chain[-1][0] == "/accounts/login/?next=/admin/"
    # A next pointing at another site is dropped, not followed after sign-in.
    response = client.get("/admin/login/", {"next": "https://evil.example.com/"})
    assert response["Location"] == "/accounts/login/?next=/admin/"


def test_staff_reach_admin_only_after_the_two_factor_step(client, make_user):
    """Password alone is not a sign-in for someone with an authenticator app; the code completes it."""
    staff = make_user("root@example.gov.uk", staff=True)
    response = password_step(client, staff.email, next_url="/admin/")
    assert response.status_code == 302 and response["Location"].startswith(MFA_STEP)
    assert signed_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302  # not yet
    assert client.post(MFA_STEP, {"code": "000000"}).status_code == 200  # a wrong code: asked again
    assert signed_in_user_id(client) is None
    response = client.post(MFA_STEP, {"code": totp_code(staff)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_signed_in_non_staff_get_403_from_admin_not_a_sign_in_loop(client, civil_servant):
    client.force_login(civil_servant)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert client.get("/admin/login/").status_code == 403


def test_failed_sign_in_limit_applies_on_the_admin_path(client, make_user, fresh_rate_limits):
    """Five wrong passwords for an account, then even the right one is refused for a while."""
    staff = make_user("root@example.gov.uk", staff=True)
    for _ in range(5):
        response = client.post("/accounts/login/?next=/admin/", {"login": staff.email, "password": "wrong-password-x"})
        assert response.status_code == 200
    response = password_step(client, staff.email, next_url="/admin/")
    assert not (response.status_code == 302 and response["Location"].startswith(MFA_STEP))
    assert b"Too many failed login attempts" in response.content
    assert signed_in_user_id(client) is None


# --- Roles that need MFA ---------------------------------------------------------------------


def test_a_curator_without_an_authenticator_app_is_sent_to_set_one_up(client, make_user):
    """Their pages redirect with the reason; selectors treat the role as not held; chat still works."""
    cara = make_user("cara.new@example.gov.uk", roles=[Role.CURATOR], totp=False)
    collection = Collection.objects.create(name="HR", slug="hr", owner=cara)  # hers, yet out of reach
    client.force_login(cara)
    for url in ("/curate/", "/curate/c/hr/", "/insights/", "/insights/hr/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == TOTP_SETUP, url
        assert MFA_SETUP_MESSAGE in [m.message for m in get_messages(response.wsgi_request)]
    assert not has_role(cara, Role.CURATOR)
    assert roles_awaiting_mfa(cara) == ["curator"]
    assert not Collection.objects.curated_by(cara).exists()
    assert not insight_collections(cara).exists()
    home = client.get("/")  # the civil-servant chat, whose header says what is waiting
    assert home.status_code == 200
    assert f'href="{TOTP_SETUP}">Set up two-factor authentication' in home.content.decode()
    assert "to use your curator role" in home.content.decode()

    enrol_totp(cara)
    assert "Set up two-factor authentication" not in client.get("/").content.decode()
    assert has_role(cara, Role.CURATOR)
    assert list(Collection.objects.curated_by(cara)) == [collection]
    assert list(insight_collections(cara)) == [collection]
    assert client.get("/curate/").status_code == 200
    assert client.get("/insights/").status_code == 200


def test_an_auditor_without_an_authenticator_app_cannot_read_the_trail(client, make_user):
    aditya = make_user("aditya.new@example.gov.uk", roles=[Role.AUDITOR], totp=False)
    client.force_login(aditya)
    response = client.get("/audit/")
    assert response.status_code == 302 and response["Location"] == TOTP_SETUP
    assert not has_role(aditya, Role.AUDITOR)
    assert not insight_collections(aditya).exists()


def test_staff_without_an_authenticator_app_cannot_reach_admin_or_metrics(client, make_user, settings):
    settings.HUMPHREY_METRICS_NETWORKS = []
    sid = make_user("sid@example.gov.uk", staff=True, totp=False)
    sid.is_superuser = True
    sid.save()
    client.force_login(sid)
    for url in ("/admin/", "/admin/documents/chunk/", "/admin/login/"):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0].startswith(TOTP_SETUP) or any(
            TOTP_SETUP in location for location, _ in response.redirect_chain
        ), url
        assert response.status_code == 200 and b"Django administration" not in response.content
    assert not has_staff_role(sid)
    assert client.get("/metrics").status_code == 403
    enrol_totp(sid)
    assert client.get("/admin/").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_role_required_sends_a_waiting_role_to_set_up_and_others_get_403(make_user, civil_servant):
    from django.core.exceptions import PermissionDenied
    from django.http import HttpResponse

    from accounts.roles import role_required

    view = role_required(Role.CURATOR)(lambda request: HttpResponse("secret collection list"))
    request = RequestFactory().get("/curate/")
    request.session = {}
    from django.contrib.messages.storage.fallback import FallbackStorage

    request._messages = FallbackStorage(request)
    request.user = make_user("new.curator@example.gov.uk", roles=[Role.CURATOR], totp=False)
    response = view(request)
    assert response.status_code == 302 and response["Location"] == TOTP_SETUP
    request.user = civil_servant
    with pytest.raises(PermissionDenied):
        view(request)


def test_a_waiting_role_is_told_at_sign_in(client, make_user):
    make_user("cara.new@example.gov.uk", roles=[Role.CURATOR], totp=False)
    response = client.post("/accounts/login/", {"login": "cara.new@example.gov.uk", "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert MFA_SETUP_MESSAGE.encode() in response.content


def test_the_setting_lists_which_roles_need_mfa(settings, make_user):
    cara = make_user("cara.new@example.gov.uk", roles=[Role.CURATOR], totp=False)
    sid = make_user("sid@example.gov.uk", staff=True, totp=False)
    settings.HUMPHREY_REQUIRE_MFA_FOR = frozenset({"staff"})
    assert has_role(cara, Role.CURATOR) and not has_staff_role(sid)
    settings.HUMPHREY_REQUIRE_MFA_FOR = frozenset()
    assert has_role(cara, Role.CURATOR) and has_staff_role(sid)
    assert roles_awaiting_mfa(sid) == []


def test_a_curator_with_an_app_must_give_a_code_at_sign_in(client, curator):
    """The shared fixtures enrol role holders: a password alone does not reach their pages."""
    response = password_step(client, curator.email, next_url="/curate/")
    assert response["Location"].startswith(MFA_STEP)
    assert client.get("/curate/").status_code == 302 and signed_in_user_id(client) is None
    response = client.post(MFA_STEP, {"code": totp_code(curator)})
    assert response["Location"] == "/curate/"
    assert client.get("/curate/").status_code == 200
