"""Security events recorded without anyone having to remember: sign-ins, sign-outs, role changes,
and what else changes who may read what: accounts created, deactivated or given another e-mail
address, passwords and two-factor authenticators changed, and membership of every other group
(collections are granted to groups).

Connected in ``AuditConfig.ready``. Each handler writes inside the transaction of the change it
records (Django sends these signals inside it). Passwords are never read: a failed sign-in records
only the address that was tried, a password change only that it changed.
"""

from __future__ import annotations

from allauth.mfa.signals import authenticator_added, authenticator_removed
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_init, post_save
from django.dispatch import receiver

from accounts.roles import ROLE_GROUPS
from audit.actions import Action, subject
from audit.context import current_request
from audit.services import audit_record

User = get_user_model()
ROLE_GROUP_NAMES = frozenset(ROLE_GROUPS.values())
_FLAGS = ("is_staff", "is_superuser")
#: Account fields whose change is recorded (the password by whether its hash changed, never its value).
_FIELDS = ("is_active", "email", "password")


def _acting_user():
    """The signed-in user of the request being served, if any (who made a role change)."""
    request = current_request.get()
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _attempted_email(credentials: dict) -> str:
    for key in ("email", "login", "username"):
        value = credentials.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()[:254]
    return ""


@receiver(user_logged_in, dispatch_uid="audit_sign_in")
def record_sign_in(sender, request, user, **kwargs):
    audit_record(
        action=Action.AUTH_SIGN_IN, actor=user, outcome="success", subject=subject("user", user.pk), request=request
    )


@receiver(user_login_failed, dispatch_uid="audit_sign_in_failed")
def record_sign_in_failed(sender, credentials, request=None, **kwargs):
    # Only the address tried: never the password (Django masks it, but we do not even look).
    audit_record(
        action=Action.AUTH_SIGN_IN,
        outcome="failure",
        data={"email": _attempted_email(credentials or {})},
        request=request,
    )


@receiver(user_logged_out, dispatch_uid="audit_sign_out")
def record_sign_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action=Action.AUTH_SIGN_OUT, actor=user, subject=subject("user", user.pk), request=request)


def _group_change(user_ids, group_names, added: bool) -> None:
    """Role groups' changes are role grants and revocations; any other group's, group membership
    (what a collection granted to that group may be read by)."""
    for user_id in sorted(user_ids):
        for name in sorted(group_names):
            if name in ROLE_GROUP_NAMES:
                action = Action.ROLE_GRANT if added else Action.ROLE_REVOKE
            else:
                action = Action.ACCOUNT_GROUP_ADD if added else Action.ACCOUNT_GROUP_REMOVE
            audit_record(
                action=action,
                actor=_acting_user(),
                subject=subject("user", user_id),
                data={"user_id": user_id, "group": name},
            )


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="audit_role_groups")
def record_group_membership(sender, instance, action, reverse, model, pk_set, **kwargs):
    """Group membership changes, from either side (user.groups or group.user_set)."""
    if action == "pre_clear":
        # Who or what is about to be removed is only knowable before the clear.
        if reverse:
            instance._audit_cleared = set(instance.user_set.values_list("pk", flat=True))
        else:
            instance._audit_cleared = set(instance.groups.values_list("name", flat=True))
        return
    if action == "post_clear":
        cleared = getattr(instance, "_audit_cleared", set())
        if reverse:
            _group_change(cleared, {instance.name}, added=False)
        else:
            _group_change({instance.pk}, cleared, added=False)
        return
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    added = action == "post_add"
    if reverse:  # instance is a Group, pk_set are users
        _group_change(pk_set, {instance.name}, added)
    else:  # instance is a user, pk_set are groups
        _group_change({instance.pk}, set(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True)), added)


def _remember(instance) -> None:
    deferred = instance.get_deferred_fields()
    instance._audit_seen = {name: getattr(instance, name) for name in _FLAGS + _FIELDS if name not in deferred}


@receiver(post_init, sender=User, dispatch_uid="audit_user_flags_seen")
def remember_user_fields(sender, instance, **kwargs):
    _remember(instance)


@receiver(post_save, sender=User, dispatch_uid="audit_user_flags")
def record_user_changes(sender, instance, created, raw=False, update_fields=None, **kwargs):
    """A new account; is_staff / is_superuser granted or removed (including a new superuser); an
    account deactivated or reactivated, its e-mail address changed, its password changed."""
    if raw:
        return
    actor, about = _acting_user(), subject("user", instance.pk)
    before = {} if created else getattr(instance, "_audit_seen", {})
    if created:
        audit_record(
            action=Action.ACCOUNT_CREATE,
            actor=actor,
            subject=about,
            data={"user_id": instance.pk, "email": instance.email, "is_active": instance.is_active},
        )
    for flag in _FLAGS:
        was = before.get(flag, False if created else None)
        now = getattr(instance, flag)
        if was is not None and was != now:
            audit_record(
                action=Action.ROLE_GRANT if now else Action.ROLE_REVOKE,
                actor=actor,
                subject=about,
                data={"user_id": instance.pk, "flag": flag},
            )
    if not created:
        changed = {
            name: getattr(instance, name)
            for name in ("is_active", "email")
            if name in before and before[name] != getattr(instance, name)
        }
        if changed:
            audit_record(
                action=Action.ACCOUNT_UPDATE,
                actor=actor,
                subject=about,
                data={"user_id": instance.pk, "changed": changed, "was": {name: before[name] for name in changed}},
            )
        # Django saves only the password when it rehashes one at sign-in: the same password, not a change.
        rehashed = update_fields is not None and set(update_fields) == {"password"}
        if "password" in before and before["password"] != instance.password and not rehashed:
            audit_record(
                action=Action.ACCOUNT_CREDENTIALS,
                actor=actor,
                subject=about,
                data={"user_id": instance.pk, "what": "password_changed"},
            )
    _remember(instance)


def _authenticator_change(request, user, authenticator, what: str) -> None:
    audit_record(
        action=Action.ACCOUNT_CREDENTIALS,
        actor=user,
        subject=subject("user", user.pk),
        data={"user_id": user.pk, "what": what, "type": str(authenticator.type)},
        request=request,
    )


@receiver(authenticator_added, dispatch_uid="audit_mfa_added")
def record_authenticator_added(sender, request, user, authenticator, **kwargs):
    _authenticator_change(request, user, authenticator, "authenticator_added")


@receiver(authenticator_removed, dispatch_uid="audit_mfa_removed")
def record_authenticator_removed(sender, request, user, authenticator, **kwargs):
    _authenticator_change(request, user, authenticator, "authenticator_removed")
