"""allauth adapters: who may sign up, and what an SSO identity provider is trusted to say.

- Password sign-up is open only for allowed email domains (``HUMPHREY_SIGNUP_DOMAINS``), only with
  mandatory email verification, and not beside SSO unless ``HUMPHREY_PASSWORD_SIGNUP_WITH_SSO``.
- An SSO address counts as verified only when the identity provider says so (OpenID Connect's
  ``email_verified`` claim is true); an absent claim means unverified.
- allauth's form errors that GOV.UK would word differently are reworded (``error_messages``).
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms
from django.conf import settings
from django.contrib import messages

from accounts.roles import MFA_SETUP_MESSAGE, roles_awaiting_mfa


def email_domain_allowed(email: str) -> bool:
    domains = settings.HUMPHREY_SIGNUP_DOMAINS
    if not domains or "@" not in email:
        return False
    return email.rsplit("@", 1)[1].lower() in domains


class AccountAdapter(DefaultAccountAdapter):
    # allauth's form errors, where GOV.UK says it another way: what to do, with no full stop. (Its
    # messages, "Successfully signed in as ...", come from templates: templates/account/messages/.)
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "email_password_mismatch": "Enter a correct email address and password",
    }

    def is_open_for_signup(self, request) -> bool:
        if not settings.HUMPHREY_SIGNUP_DOMAINS:
            return False
        # Settings already refuse open sign-up with weaker verification; this holds even if a
        # deployment overrides settings some other way: an unconfirmed address never gets in.
        if settings.ACCOUNT_EMAIL_VERIFICATION != "mandatory":
            return False
        # With SSO, people sign in through their organisation; a password account beside it would
        # outlive their leaving (the IdP disables them, the password still works).
        return not settings.HUMPHREY_OIDC_CLIENT_ID or settings.HUMPHREY_PASSWORD_SIGNUP_WITH_SSO

    def clean_email(self, email: str) -> str:
        email = super().clean_email(email)
        # allauth also cleans the addresses an SSO identity provider sends: with no domain list
        # (sign-up closed, or SSO trusted as a whole) refusing every address would leave SSO
        # accounts without one.
        if settings.HUMPHREY_SIGNUP_DOMAINS and not email_domain_allowed(email):
            raise forms.ValidationError(
                "Use your work email address. Sign-up is open to: "
                + ", ".join("@" + d for d in settings.HUMPHREY_SIGNUP_DOMAINS)
            )
        return email

    def login(self, request, user) -> None:
        super().login(request, user)
        # Said at sign-in, so a curator, auditor or staff member learns why their pages are missing.
        if roles_awaiting_mfa(user):
            messages.warning(request, MFA_SETUP_MESSAGE)


def oidc_email_verified(sociallogin) -> bool:
    """The OpenID Connect ``email_verified`` claim, read where allauth reads the other claims
    (userinfo, else the ID token): true only for JSON ``true`` or the string "true"."""
    data = sociallogin.account.extra_data or {}
    claims = data.get("userinfo") or data.get("id_token") or data
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request, sociallogin) -> None:
        # allauth's OpenID Connect provider maps the claim the same way today; doing it here keeps
        # the rule ours, so a change in that mapping cannot mark an address verified that the
        # identity provider did not vouch for. OpenID Connect is the only provider installed, so the
        # rule applies to every social login (a provider added later fails safe: unverified).
        verified = oidc_email_verified(sociallogin)
        for address in sociallogin.email_addresses:
            address.verified = address.verified and verified
        super().pre_social_login(request, sociallogin)

    def is_open_for_signup(self, request, sociallogin) -> bool:
        # The identity provider has already vouched for the person; the domain list still applies
        # when set, so a multi-tenant issuer cannot let outsiders in, and only to an address the
        # provider says it verified (anyone can type any address into some directories).
        if not settings.HUMPHREY_SIGNUP_DOMAINS:
            return True
        email = (sociallogin.user.email or "").lower()
        verified = {a.email.lower() for a in sociallogin.email_addresses if a.verified}
        return email in verified and email_domain_allowed(email)
