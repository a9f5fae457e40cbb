"""Security events recorded without anyone having to remember: sign-ins, sign-outs, role changes.

Connected in ``AuditConfig.ready``. Each handler writes inside the transaction of the change it
records (Django sends these signals inside it). Passwords are never read: a failed sign-in records
only the address that was tried.
"""

from __future__ import annotations

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


def _group_change(user_ids, group_names, action: str) -> None:
    for user_id in sorted(user_ids):
        for name in sorted(group_names):
            audit_record(
                action=Action(f"role.{action}"),
                actor=_acting_user(),
                subject=subject("user", user_id),
                data={"user_id": user_id, "group": name},
            )


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="audit_role_groups")
def record_role_groups(sender, instance, action, reverse, model, pk_set, **kwargs):
    """Curators/Auditors membership changes, from either side (user.groups or group.user_set)."""
    if action == "pre_clear":
        # Which role groups are about to be removed is only knowable before the clear.
        if reverse:
            instance._audit_cleared = (
                set(instance.user_set.values_list("pk", flat=True)) if instance.name in ROLE_GROUP_NAMES else set()
            )
        else:
            instance._audit_cleared = set(
                instance.groups.filter(name__in=ROLE_GROUP_NAMES).values_list("name", flat=True)
            )
        return
    if action == "post_clear":
        cleared = getattr(instance, "_audit_cleared", set())
        if reverse:
            _group_change(cleared, {instance.name}, "revoke")
        else:
            _group_change({instance.pk}, cleared, "revoke")
        return
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    verb = "grant" if action == "post_add" else "revoke"
    if reverse:  # instance is a Group, pk_set are users
        if instance.name in ROLE_GROUP_NAMES:
            _group_change(pk_set, {instance.name}, verb)
    else:  # instance is a user, pk_set are groups
        names = set(Group.objects.filter(pk__in=pk_set, name__in=ROLE_GROUP_NAMES).values_list("name", flat=True))
        if names:
            _group_change({instance.pk}, names, verb)


@receiver(post_init, sender=User, dispatch_uid="audit_user_flags_seen")
def remember_user_flags(sender, instance, **kwargs):
    deferred = instance.get_deferred_fields()
    instance._audit_flags = {flag: getattr(instance, flag) for flag in _FLAGS if flag not in deferred}


@receiver(post_save, sender=User, dispatch_uid="audit_user_flags")
def record_user_flags(sender, instance, created, raw=False, **kwargs):
    """is_staff / is_superuser granted or removed (including a new superuser)."""
    if raw:
        return
    before = {} if created else getattr(instance, "_audit_flags", {})
    for flag in _FLAGS:
        was = before.get(flag, False if created else None)
        now = getattr(instance, flag)
        if was is not None and was != now:
            audit_record(
                action=Action.ROLE_GRANT if now else Action.ROLE_REVOKE,
                actor=_acting_user(),
                subject=subject("user", instance.pk),
                data={"user_id": instance.pk, "flag": flag},
            )
    instance._audit_flags = {flag: getattr(instance, flag) for flag in _FLAGS}
