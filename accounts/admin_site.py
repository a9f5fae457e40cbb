"""The admin site signs people in through allauth, never through its own login form.

Django admin's login view authenticates with ``ModelBackend`` directly: no two-factor stage and no
``ACCOUNT_RATE_LIMITS``. ``secure_admin`` replaces it with a view that never authenticates anyone:
it sends the browser to allauth's sign-in (keeping ``next``), where the MFA stage and the login rate
limits apply, and it admits only staff who have the MFA their role needs (``has_staff_role``).

allauth's own ``secure_admin_login`` decorator is not used because it hands a signed-in staff user
to Django's login view, whose POST would still sign in whoever's password is posted, without MFA.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.roles import has_staff_role, holds_staff, mfa_setup_redirect


def _next_url(request: HttpRequest, site: AdminSite) -> str:
    """The admin page to return to: ``next`` if it is a local URL, else the admin index."""
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(f"{site.name}:index")


def secure_admin(site: AdminSite) -> None:
    """Make ``site`` (an AdminSite instance) sign in via allauth and require staff MFA."""

    def has_permission(request: HttpRequest) -> bool:
        return has_staff_role(request.user)

    def login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # Whatever the method: a POST with credentials here signs nobody in.
        user = request.user
        next_url = _next_url(request, site)
        if not user.is_authenticated:
            return redirect_to_login(next_url, settings.LOGIN_URL)
        if has_staff_role(user):
            return HttpResponseRedirect(next_url)
        if holds_staff(user):
            return mfa_setup_redirect(request)
        # Signed in but not staff: a 403, not allauth's login (which would send them straight back).
        raise PermissionDenied("The admin site is for staff only.")

    site.has_permission = has_permission
    site.login = login
