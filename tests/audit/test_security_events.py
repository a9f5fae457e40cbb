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
    """Joining or leaving Curators/Auditors (via user.groups or group.user_set) is recorded; other groups are not."""
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
