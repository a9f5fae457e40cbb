"""Sign-ins, failed sign-ins, sign-outs and role changes are recorded without anyone calling audit_record."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.roles import Role, grant_role
from audit.integrity import audit_verify
from audit.models import AuditContent, AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_sign_in_and_sign_out_are_recorded(client, civil_servant):
    """A sign-in records the person and their IP address; a sign-out records them too."""
    client.post("/accounts/login/", {"login": "casey@example.gov.uk", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3")
    event = AuditEvent.objects.get(action="auth.sign_in")
    assert (event.outcome, event.actor_id, event.subject) == ("success", civil_servant.pk, f"user:{civil_servant.pk}")
    assert event.data["ip"] == "10.1.2.3"
    client.post("/accounts/logout/")
    assert AuditEvent.objects.filter(action="auth.sign_out", actor=civil_servant).count() == 1
    assert audit_verify().ok


def test_failed_sign_in_records_the_email_never_the_password(client, civil_servant):
    """A failed attempt records the address tried and nothing of the password."""
    client.post("/accounts/login/", {"login": "Casey@Example.gov.uk", "password": "hunter2-wrong-secret"})
    event = AuditEvent.objects.get(action="auth.sign_in")
    assert event.outcome == "failure"
    assert event.actor_id is None
    assert event.data["email"] == "casey@example.gov.uk"
    assert "hunter2" not in event.canonical
    assert not AuditContent.objects.exists()


def test_failed_sign_in_for_unknown_address_is_recorded(client, db):
    """An attempt on an address with no account is recorded as well."""
    client.post("/accounts/login/", {"login": "nobody@example.gov.uk", "password": "whatever-it-is"})
    assert AuditEvent.objects.filter(action="auth.sign_in", outcome="failure").count() == 1
    assert AuditEvent.objects.get(action="auth.sign_in").data["email"] == "nobody@example.gov.uk"


def test_role_group_changes_are_recorded_from_both_sides(make_user):
    """Joining or leaving Curators/Auditors (via user.groups or group.user_set) is recorded as a role change."""
    user = make_user("robin@example.gov.uk", groups=["HR"])
    assert not AuditEvent.objects.filter(action__startswith="role.").exists()
    grant_role(user, Role.AUDITOR)
    auditors = Group.objects.get(name="Auditors")  # made by grant_role if a flush removed it
    curators, _ = Group.objects.get_or_create(name="Curators")
    curators.user_set.add(user)
    user.groups.remove(auditors)
    curators.user_set.clear()
    changes = list(AuditEvent.objects.filter(action__startswith="role.").values_list("action", "data"))
    assert changes == [
        ("role.grant", {"user_id": user.pk, "group": "Auditors"}),
        ("role.grant", {"user_id": user.pk, "group": "Curators"}),
        ("role.revoke", {"user_id": user.pk, "group": "Auditors"}),
        ("role.revoke", {"user_id": user.pk, "group": "Curators"}),
    ]


def test_staff_and_superuser_flags_are_recorded(make_user):
    """Making someone staff or superuser, and taking it away, is recorded; ordinary saves are not."""
    user = make_user("sam@example.gov.uk")
    user.first_name = "Sam"
    user.save()
    assert not AuditEvent.objects.filter(action__startswith="role.").exists()
    user.is_superuser = True
    user.save()
    user.is_superuser = False
    user.is_staff = True
    user.save()
    changes = list(AuditEvent.objects.filter(action__startswith="role.").values_list("action", "data__flag"))
    assert changes == [("role.grant", "is_superuser"), ("role.grant", "is_staff"), ("role.revoke", "is_superuser")]


def test_every_other_group_membership_is_recorded_from_both_sides(make_user):
    """A collection is granted to groups, so joining or leaving any group changes what a person may
    read: recorded as group membership, from either side, clears included."""
    user = make_user("robin@example.gov.uk", groups=["HR"])
    finance, _ = Group.objects.get_or_create(name="Finance")
    finance.user_set.add(user)
    user.groups.remove(Group.objects.get(name="HR"))
    user.groups.clear()
    changes = list(AuditEvent.objects.filter(action__startswith="account.group").values_list("action", "data"))
    assert changes == [
        ("account.group_add", {"user_id": user.pk, "group": "HR"}),
        ("account.group_add", {"user_id": user.pk, "group": "Finance"}),
        ("account.group_remove", {"user_id": user.pk, "group": "HR"}),
        ("account.group_remove", {"user_id": user.pk, "group": "Finance"}),
    ]
    assert not AuditEvent.objects.filter(action__startswith="role.").exists()
    assert audit_verify().ok


def test_accounts_created_deactivated_readdressed_and_repassworded_are_recorded(make_user):
    """Who could sign in, as whom, with what: each change recorded, never the password itself."""
    user = make_user("sam@example.gov.uk")
    created = AuditEvent.objects.get(action="account.create")
    assert created.data == {"user_id": user.pk, "email": "sam@example.gov.uk", "is_active": True}
    user.first_name = "Sam"
    user.save()
    assert not AuditEvent.objects.filter(action="account.update").exists()
    user.is_active = False
    user.email = "sam.new@example.gov.uk"
    user.save()
    update = AuditEvent.objects.get(action="account.update")
    assert update.data["changed"] == {"is_active": False, "email": "sam.new@example.gov.uk"}
    assert update.data["was"] == {"is_active": True, "email": "sam@example.gov.uk"}
    user.set_password("a-new-long-passphrase-42")
    user.save()
    credentials = AuditEvent.objects.get(action="account.credentials")
    assert credentials.data == {"user_id": user.pk, "what": "password_changed"}
    assert "a-new-long-passphrase-42" not in credentials.canonical and user.password not in credentials.canonical
    assert audit_verify().ok


def test_a_password_rehashed_at_sign_in_is_not_a_change(make_user, settings):
    """Django saves a password again under a stronger hasher when its owner signs in: the same password."""
    user = make_user("sam@example.gov.uk")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    user.check_password(PASSWORD)  # rehashed and saved with update_fields=["password"]
    user.refresh_from_db()
    assert user.password.startswith("md5$")
    assert not AuditEvent.objects.filter(action="account.credentials").exists()


def test_authenticators_added_and_removed_are_recorded(client, make_user, django_capture_on_commit_callbacks):
    """Two-factor authentication set up or taken away, on allauth's own pages, is a change of credentials."""
    import time

    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value

    make_user("casey@example.gov.uk", totp=False)
    client.post("/accounts/login/", {"login": "casey@example.gov.uk", "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})  # allauth asks before any change
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    code = format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))
    with django_capture_on_commit_callbacks(execute=True):  # allauth says so once the change commits
        client.post("/accounts/2fa/totp/activate/", {"code": code})
    client.post("/accounts/2fa/totp/deactivate/")
    whats = list(AuditEvent.objects.filter(action="account.credentials").values_list("data__what", "data__type"))
    assert whats[0] == ("authenticator_added", "totp")
    assert ("authenticator_removed", "totp") in whats[1:]


def test_a_refused_page_is_recorded_with_who_and_what(client, make_user):
    """A civil servant reaching for the audit trail or a collection's curation is refused, and the
    trail says who tried which address, from where."""
    casey = make_user("casey@example.gov.uk")
    client.force_login(casey)
    for url in ("/audit/", "/audit/export.csv?action=", "/curate/"):
        assert client.get(url, REMOTE_ADDR="10.1.2.3").status_code == 403, url
    refused = list(AuditEvent.objects.filter(action="access.denied").order_by("seq"))
    assert [(e.actor_id, e.outcome, e.data["path"], e.data["ip"]) for e in refused] == [
        (casey.pk, "refused", "/audit/", "10.1.2.3"),
        (casey.pk, "refused", "/audit/export.csv?action=", "10.1.2.3"),
        (casey.pk, "refused", "/curate/", "10.1.2.3"),
    ]
    assert audit_verify().ok


def test_a_change_made_by_a_command_records_the_command_and_who_ran_it(make_user, monkeypatch):
    """No one is signed in to a command: its events say which command, the operating-system account
    that ran it and the host, so a role given from a shell is not anonymous. Never its arguments."""
    import getpass

    from audit import context

    monkeypatch.setattr(context, "_command", {})
    monkeypatch.setattr(getpass, "getuser", lambda: "deploy")
    context.note_command(["manage.py", "create_user", "--password", "hunter2-secret"])
    user = make_user("rogue@example.gov.uk")
    grant_role(user, Role.AUDITOR)
    event = AuditEvent.objects.get(action="role.grant")
    assert event.actor_id is None
    assert {k: event.data[k] for k in ("via", "command", "os_user")} == {
        "via": "command",
        "command": "create_user",
        "os_user": "deploy",
    }
    assert event.data["host"] and "hunter2" not in event.canonical


def test_refusals_hammered_in_a_minute_are_recorded_up_to_a_limit_then_said_to_go_on(client, make_user, monkeypatch):
    """Each recorded refusal takes the chain's lock every answer's record waits on: a script hammering
    a refused page gets the first ones recorded, then one saying more were not, then none that minute."""
    from django.core.cache import cache

    from humphrey import views

    cache.clear()
    monkeypatch.setattr(views, "_minute", lambda: 30_000_000)  # one minute throughout
    casey = make_user("casey@example.gov.uk")
    client.force_login(casey)
    limit = views.DENIED_RECORDED_PER_MINUTE
    for _ in range(limit + 5):
        assert client.get("/audit/").status_code == 403
    refused = list(AuditEvent.objects.filter(action="access.denied").order_by("seq"))
    assert len(refused) == limit + 1
    assert [e.data.get("more_not_recorded") for e in refused[-2:]] == [None, True]
    cache.clear()
