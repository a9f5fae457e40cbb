"""Roles: the one place that says who is a curator, an auditor or staff.

Every signed-in user is a civil servant. Curators and auditors are Django groups (created by a
migration); staff is Django's ``is_staff`` (the admin site and operational metrics). Views, consumers,
selectors and admin screens all ask ``has_role`` / ``has_staff_role`` or use ``role_required``; a
user without the role gets a 403 page, never part of a page.

Roles named in ``HUMPHREY_REQUIRE_MFA_FOR`` count only once their holder has enrolled an
authenticator app (TOTP). Until then the role is *held* (``holds_role``: group membership) but not
*usable* (``has_role``), so every check that asks ``has_role`` (pages, websocket consumers,
selectors, management commands) treats it as absent: the enforcement cannot be skipped by a page
that forgets a decorator. Pages add only the friendlier answer: a redirect to set up two-factor
authentication instead of a 403.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect


class Role(enum.StrEnum):
    CIVIL_SERVANT = "civil servant"
    CURATOR = "curator"
    AUDITOR = "auditor"


#: The Django group that carries each elevated role.
ROLE_GROUPS: dict[Role, str] = {Role.CURATOR: "Curators", Role.AUDITOR: "Auditors"}

#: The name ``HUMPHREY_REQUIRE_MFA_FOR`` uses for Django's is_staff (not a Role: it is not a group).
STAFF = "staff"
#: Every name ``HUMPHREY_REQUIRE_MFA_FOR`` may list.
MFA_ROLE_NAMES = (Role.CURATOR.value, Role.AUDITOR.value, STAFF)

MFA_SETUP_MESSAGE = "Your role needs two-factor authentication: set it up to continue."

_User = AbstractBaseUser | AnonymousUser | None


def _signed_in(user: _User) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def has_totp(user: _User) -> bool:
    """True if ``user`` has enrolled an authenticator app (allauth's TOTP authenticator)."""
    if not _signed_in(user):
        return False
    cached = getattr(user, "_humphrey_has_totp", None)
    if cached is None:
        from allauth.mfa.models import Authenticator

        cached = Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()
        user._humphrey_has_totp = cached  # one query per request, not per check
    return cached


def _mfa_satisfied(user: _User, name: str) -> bool:
    return name not in settings.HUMPHREY_REQUIRE_MFA_FOR or has_totp(user)


def holds_role(user: _User, role: Role) -> bool:
    """True if ``user`` is in the role's group, whether or not they may use it yet (see ``has_role``).

    Only for deciding what to tell the person (set up MFA vs. 403); never for granting access.
    """
    if not _signed_in(user):
        return False
    if role is Role.CIVIL_SERVANT:
        return True
    cache = getattr(user, "_humphrey_group_names", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._humphrey_group_names = cache  # one query per request, not per check
    return ROLE_GROUPS[role] in cache


def has_role(user: _User, role: Role) -> bool:
    """True if ``user`` is signed in, active, holds ``role`` and has the MFA the role requires.

    Superusers are not implicitly auditors: reading the audit trail is a separate duty.
    """
    return holds_role(user, role) and (role is Role.CIVIL_SERVANT or _mfa_satisfied(user, role.value))


def holds_staff(user: _User) -> bool:
    """``is_staff`` on an active, signed-in user, MFA or not (for messages, never for access)."""
    return _signed_in(user) and bool(user.is_staff)


def has_staff_role(user: _User) -> bool:
    """Staff who may use the admin site and see operational detail: ``is_staff`` plus MFA if required."""
    return holds_staff(user) and _mfa_satisfied(user, STAFF)


def roles_awaiting_mfa(user: _User) -> list[str]:
    """Names of the roles ``user`` holds but cannot use until they enrol an authenticator app."""
    held = [role.value for role in ROLE_GROUPS if holds_role(user, role)]
    if holds_staff(user):
        held.append(STAFF)
    return [name for name in held if not _mfa_satisfied(user, name)]


def roles_of(user: _User) -> list[Role]:
    return [role for role in Role if has_role(user, role)]


def mfa_setup_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """Send someone whose role waits on MFA to allauth's authenticator-app set-up, saying why."""
    from django.contrib import messages
    from django.urls import reverse

    messages.warning(request, MFA_SETUP_MESSAGE)
    return HttpResponseRedirect(reverse("mfa_activate_totp"))


def _awaits_mfa_for(user: _User, roles: tuple[Role, ...]) -> bool:
    """True if none of ``roles`` is usable yet but one of them would be after MFA enrolment."""
    if any(has_role(user, role) for role in roles):
        return False
    return any(role.value in roles_awaiting_mfa(user) for role in roles)


def mfa_enrolment_for(*roles: Role) -> Callable:
    """View decorator for pages that check ``has_role`` themselves (and may 404 rather than 403):
    someone who holds one of ``roles`` but lacks the MFA it needs is sent to set it up first."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any):
            if _awaits_mfa_for(request.user, roles):
                return mfa_setup_redirect(request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def role_required(role: Role) -> Callable:
    """View decorator: sign-in first (redirect), then MFA if the role needs it (redirect to set it
    up), then the role (403)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                if _awaits_mfa_for(request.user, (role,)):
                    return mfa_setup_redirect(request)
                raise PermissionDenied(f"This page is for {role.value}s only.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def forget_cached_roles(user: AbstractBaseUser) -> None:
    """Drop what ``has_role`` remembered on this user object (after a grant or an MFA change)."""
    for attribute in ("_humphrey_group_names", "_humphrey_has_totp"):
        if hasattr(user, attribute):
            delattr(user, attribute)


def grant_role(user: AbstractBaseUser, role: Role) -> None:
    """Give ``user`` an elevated role (a no-op for civil servant)."""
    from django.contrib.auth.models import Group

    if role is Role.CIVIL_SERVANT:
        return
    group, _ = Group.objects.get_or_create(name=ROLE_GROUPS[role])
    user.groups.add(group)
    forget_cached_roles(user)
