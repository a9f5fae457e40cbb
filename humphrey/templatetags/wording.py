"""Wording written elsewhere, in GOV.UK's style: ``sentence_case`` turns django-allauth's Title Case
("Change Password", "Two-Factor Authentication") into sentence case ("Change password", "Two-factor
authentication") on the sign-in and account pages (``templates/allauth/``), whose own templates,
allauth's, we do not copy, except the few whose sentences had to change (``templates/account/``:
sign-up offered while closed, "contact us" with nothing to contact). ``service_desk`` says, on
those, who to ask: the one place that wording lives."""

from __future__ import annotations

import re

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

_MARKUP = re.compile(r"(<[^>]*>|&#?\w+;)")  # tags and character references hold no words to change
_WORD = re.compile(r"[^\W\d_][\w'’]*")  # a hyphen ends a word: "Two-Factor" is two
_TITLE_CASED = re.compile(r"[A-Z][a-z]+")  # not "ID", "TOTP", "GOV.UK", "McDonald" or "I"
_SENTENCE_ENDED = re.compile(r"[.?!]\s*$")


def proper_nouns() -> frozenset[str]:
    """Words that keep their capital: the service's name and the names the single sign-on providers
    are given in settings (shown as "Sign in via Microsoft Entra ID")."""
    names = [settings.HUMPHREY_SERVICE_NAME, getattr(settings, "HUMPHREY_OIDC_NAME", "")]
    for provider in (getattr(settings, "SOCIALACCOUNT_PROVIDERS", None) or {}).values():
        names += [str(app.get("name", "")) for app in provider.get("APPS", ()) if isinstance(app, dict)]
    return frozenset(word for name in names for word in _WORD.findall(name or ""))


@register.filter(is_safe=True)
def sentence_case(value) -> str:
    """``value`` (text or HTML) in sentence case: after its first word, and except where a sentence
    begins, a word capitalised as Title Case capitalises it ("Password") is lower-cased, unless it is
    a proper noun (``proper_nouns``). Acronyms and words with capitals inside are left as they are,
    and so is markup."""
    keep = proper_nouns()
    said = ""  # the text so far, to tell the first word and a sentence's first word

    def word(match: re.Match) -> str:
        text = match.group(0)
        before = said + match.string[: match.start()]
        opens = not before.strip() or _SENTENCE_ENDED.search(before)
        if opens or text in keep or not _TITLE_CASED.fullmatch(text):
            return text
        return text.lower()

    parts = []
    for part in _MARKUP.split(str(value)):
        if part and not _MARKUP.fullmatch(part):
            part = _WORD.sub(word, part)
            said += part
        parts.append(part)
    return "".join(parts)


SERVICE_DESK = "your department's IT service desk"


@register.simple_tag
def service_desk(opens_sentence: bool = False) -> SafeString:
    """Who gives accounts and helps with signing in, where allauth's pages said "contact us" with
    nothing to contact: "email your department's IT service desk at <the address>" (a mailto: link)
    or "contact your department's IT service desk" (a link to the page) for ``HUMPHREY_SUPPORT_CONTACT``,
    else "ask your department's IT service desk", which promises no link. ``opens_sentence``
    capitalises its first word."""
    contact = getattr(settings, "HUMPHREY_SUPPORT_CONTACT", "")

    def verb(word: str) -> str:
        return word.capitalize() if opens_sentence else word

    if not contact:
        return format_html("{} " + SERVICE_DESK, verb("ask"))
    if "://" in contact:
        return format_html('<a class="govuk-link" href="{}">{} ' + SERVICE_DESK + "</a>", contact, verb("contact"))
    return format_html(
        "{} " + SERVICE_DESK + ' at <a class="govuk-link" href="mailto:{}">{}</a>', verb("email"), contact, contact
    )
