"""Values every page needs: the service name, the phase and the signed-in user's roles."""

from django.conf import settings
from django.http import HttpRequest

from accounts.roles import Role, has_role, roles_awaiting_mfa


def humphrey(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "service_name": settings.HUMPHREY_SERVICE_NAME,
        "service_phase": settings.HUMPHREY_PHASE,
        "is_curator": signed_in and has_role(user, Role.CURATOR),
        "is_auditor": signed_in and has_role(user, Role.AUDITOR),
        # Roles held but not usable until an authenticator app is set up: the header says so, instead
        # of hiding their pages without a word.
        "roles_awaiting_mfa": roles_awaiting_mfa(user) if signed_in else [],
    }
