"""allauth adapters: sign-up only for allowed email domains, closed when none are set."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms
from django.conf import settings


def email_domain_allowed(email: str) -> bool:
    domains = settings.HUMPHREY_SIGNUP_DOMAINS
    if not domains or "@" not in email:
        return False
    return email.rsplit("@", 1)[1].lower() in domains


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return bool(settings.HUMPHREY_SIGNUP_DOMAINS)

    def clean_email(self, email: str) -> str:
        email = super().clean_email(email)
        if not email_domain_allowed(email):
            raise forms.ValidationError(
                "Use your work email address. Sign-up is open to: "
                + ", ".join("@" + d for d in settings.HUMPHREY_SIGNUP_DOMAINS)
            )
        return email


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        # The identity provider has already vouched for the person; the domain list still applies
        # when set, so a multi-tenant issuer cannot let outsiders in.
        email = (sociallogin.user.email or "").lower()
        if settings.HUMPHREY_SIGNUP_DOMAINS:
            return email_domain_allowed(email)
        return True
