"""Wording written elsewhere, in GOV.UK's style: ``sentence_case`` turns django-allauth's Title Case
("Change Password", "Two-Factor Authentication") into sentence case ("Change password", "Two-factor
authentication") on the sign-in and account pages (``templates/allauth/``), whose own templates,
allauth's, we do not copy."""

from __future__ import annotations

import re

from django import template
from django.conf import settings

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
