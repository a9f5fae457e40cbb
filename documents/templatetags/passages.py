"""``text|readable``: guidance text as a person reads it, on the passage pages.

Passages keep their document's text exactly (answers quote it, highlights point into it), so a
Markdown or plain-text document's headings are still written ``## 1. Principles``. Shown to a person,
such a line is a heading in bold, without its marker. Everything else is escaped text, as before.
"""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_HEADING_LINE = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


@register.filter
def readable(text, as_read: bool = True) -> SafeString:
    """``text`` escaped, its heading lines in bold without their marker (``as_read`` False: exactly as
    stored, for the curator's view of a version's text)."""
    escaped = escape(text or "")
    if not as_read:
        return escaped
    return mark_safe(  # noqa: S308 - escaped above; only the heading's own escaped text is wrapped
        _HEADING_LINE.sub(lambda m: f'<strong class="app-passage__heading">{m.group(1)}</strong>', escaped)
    )
