"""``{% signup_open as open %}``: whether this request may sign up with a password, as the adapter
decides (``accounts.adapters.AccountAdapter.is_open_for_signup``), so a page offers sign-up only
where the sign-up page would take it."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def signup_open(context) -> bool:
    request = context.get("request")
    return request is not None and get_adapter(request).is_open_for_signup(request)
