"""Output safety against the planted prompt-injection payloads (tests/data/injection.py, 57 of them).

Each payload is planted in a guidance passage and echoed by an obedient model that also cites the
passage. Whatever it says, the answer HTML holds no image, script, frame, style, form or event handler,
and every link is either the cited passage in Humphrey or an allowed host that the cited passage itself
contains. (The full socket path with one payload is in test_core.)
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from assistant.core.types import Source
from assistant.services.frames import answer_html
from tests.data.injection import PAYLOADS

SAFE_TAGS = {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "h2", "h3", "h4", "a", "sup",
             "table", "thead", "tbody", "tr", "th", "td", "hr", "span"}  # fmt: skip
# A span only as Humphrey writes it: a citation's words for screen readers, added after sanitising.
CITATION_SPAN_CLASSES = {"govuk-visually-hidden", "govuk-visually-hidden humphrey-citation__title"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def passage(text: str) -> Source:
    return Source(
        n=1,
        chunk_id=77,
        text=text,
        document_id=1,
        document_title="Leave policy",
        version_id=1,
        version_number=1,
        version_sha256="0" * 64,
        collection_slug="hr",
        marking="OFFICIAL",
    )


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"payload-{i}" for i in range(len(PAYLOADS))])
def test_planted_payload_echoed_by_the_model_renders_nothing_dangerous(payload, settings):
    """Echoed payloads leave no active content and no link to a host outside the allowed list."""
    settings.HUMPHREY_CHAT_LINK_HOSTS = ["gov.uk"]
    source = passage("Full-time staff get 25 days of annual leave. " + payload)
    answer = payload + "\n\nFull-time staff get 25 days of annual leave [1]."
    html = answer_html(answer, [source], [1])
    parser = Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag in SAFE_TAGS, (tag, html)
        assert not [a for a in attrs if a.startswith("on") or a in ("style", "src", "srcset", "action")], html
        if tag == "span":
            assert attrs == {"class": attrs.get("class")} and attrs["class"] in CITATION_SPAN_CLASSES, html
        if tag == "a":
            href = attrs.get("href", "")
            parts = urlsplit(href)
            if parts.scheme:
                assert parts.scheme == "https" and (parts.hostname or "").endswith(".gov.uk"), html
            else:
                assert href.startswith("/") and not href.startswith("//"), html
    assert any(tag == "a" and "humphrey-citation" in attrs.get("class", "") for tag, attrs in parser.tags)


def test_a_gov_uk_link_in_the_cited_passage_survives_but_the_same_link_uncited_does_not(settings):
    """Links are kept only when the cited passage holds them (and the host is allowed)."""
    settings.HUMPHREY_CHAT_LINK_HOSTS = ["gov.uk"]
    source = passage("Apply at https://www.gov.uk/apply-leave within 30 days.")
    answer = "Apply [online](https://www.gov.uk/apply-leave) [1]."
    assert 'href="https://www.gov.uk/apply-leave"' in answer_html(answer, [source], [1])
    assert 'href="https://www.gov.uk/apply-leave"' not in answer_html(answer, [source], [])
    lookalike = passage("See https://gov.uk.evil.example.net/login")
    html = answer_html("[login](https://gov.uk.evil.example.net/login) [1]", [lookalike], [1])
    assert 'evil.example.net/login"' not in html


@pytest.mark.django_db
def test_the_not_covered_reply_links_its_nearest_documents_and_nothing_else_of_the_site():
    """The honest reply names the nearest guidance as links to those passages' own pages; a link to
    any other address of the site (another passage, the admin) written the same way stays text."""
    from assistant.services.frames import not_covered_text, passage_urls

    (own,) = passage_urls([77])
    (other,) = passage_urls([78])
    source = passage("Full-time staff get 25 days of annual leave.")
    html = answer_html(not_covered_text([source]), [source], [])
    assert f'href="{own}"' in html and ">Leave policy</a>" in html
    smuggled = answer_html(f"See [this]({other}) and [that](/admin/) [1].", [source], [1])
    assert f'href="{other}"' not in smuggled and 'href="/admin/"' not in smuggled
