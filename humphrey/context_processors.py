"""Values every page needs: the service name, the phase and the signed-in user's roles."""

from django.conf import settings
from django.http import HttpRequest

from accounts.roles import Role, has_role


def humphrey(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "service_name": settings.HUMPHREY_SERVICE_NAME,
        "service_phase": settings.HUMPHREY_PHASE,
        "is_curator": bool(user and has_role(user, Role.CURATOR)),
        "is_auditor": bool(user and has_role(user, Role.AUDITOR)),
    }
