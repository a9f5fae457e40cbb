"""Django's ``{# #}`` comment ends at the end of its line: one spread over two lines is shown to people
as text (a status tag once showed its own comment on every collection page)."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_no_template_comment_spans_lines():
    open_comments = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert list(TEMPLATES.rglob("*.html")), "no templates found"
    assert open_comments == [], "use {% comment %} for comments over several lines"
