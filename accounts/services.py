"""Writes on accounts: creating users with a role."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.roles import Role, grant_role


@transaction.atomic
def user_create(*, email: str, password: str, roles: list[Role] | tuple[Role, ...] = (), name: str = ""):
    """Create (or update the password and roles of) the user with ``email``; returns the user."""
    User = get_user_model()
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User(username=email[:150], email=email, first_name=name[:150])
    user.set_password(password)
    user.is_active = True
    user.save()
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    for role in roles:
        grant_role(user, role)
    return user
