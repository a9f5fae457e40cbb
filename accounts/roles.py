"""Roles: the one place that says who is a curator or an auditor.

Every signed-in user is a civil servant. Curators and auditors are Django groups (created by a
migration). Views, consumers and admin screens all ask ``has_role`` or use ``role_required``; a user
without the role gets a 403 page, never part of a page.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class Role(enum.StrEnum):
    CIVIL_SERVANT = "civil servant"
    CURATOR = "curator"
    AUDITOR = "auditor"


#: The Django group that carries each elevated role.
ROLE_GROUPS: dict[Role, str] = {Role.CURATOR: "Curators", Role.AUDITOR: "Auditors"}


def has_role(user: AbstractBaseUser | AnonymousUser | None, role: Role) -> bool:
    """True if ``user`` is signed in, active and holds ``role``.

    Superusers are not implicitly auditors: reading the audit trail is a separate duty.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if role is Role.CIVIL_SERVANT:
        return True
    cache = getattr(user, "_humphrey_group_names", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._humphrey_group_names = cache  # one query per request, not per check
    return ROLE_GROUPS[role] in cache


def roles_of(user: AbstractBaseUser | AnonymousUser | None) -> list[Role]:
    return [role for role in Role if has_role(user, role)]


def role_required(role: Role) -> Callable:
    """View decorator: sign-in first (redirect), then the role (403)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                raise PermissionDenied(f"This page is for {role.value}s only.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def grant_role(user: AbstractBaseUser, role: Role) -> None:
    """Give ``user`` an elevated role (a no-op for civil servant)."""
    from django.contrib.auth.models import Group

    if role is Role.CIVIL_SERVANT:
        return
    group, _ = Group.objects.get_or_create(name=ROLE_GROUPS[role])
    user.groups.add(group)
    if hasattr(user, "_humphrey_group_names"):
        del user._humphrey_group_names
