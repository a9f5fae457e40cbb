"""Headings and list items of Word documents and web pages are kept as Markdown keeps them.

A Word or HTML heading was a plain line inside a chunk, so the extractive answer quoted "3. How to
claim" as if it were a sentence, and the section a quote came from was never named; a list item
was a sentence, so it was not quoted whole with the line that introduces the list."""

from __future__ import annotations

from documents.ingest.chunk import chunk_document
from documents.ingest.parse import parse
from documents.ingest.units import HEADING, ITEM, split_units
from tests.documents.files import make_docx

PAGE = b"""<html><head><title>Expenses</title></head><body><main>
<h1>Expenses</h1>
<p>This guidance covers business expenses.</p>
<h2>1. What you can claim</h2>
<p>You can claim these:</p>
<ul><li>Professional membership fees.</li><li>Eye tests for screen users.</li></ul>
<h2>2. What you cannot claim</h2>
<ul><li>Alcohol, tips above 10% of the bill, and entertainment of colleagues.</li><li>Parking fines.</li></ul>
<h2>3. How to claim</h2>
<h3>3.1 Receipts</h3>
<p>Every item needs an itemised receipt.</p>
</main></body></html>"""


def kinds(text: str) -> dict[str, str]:
    return {text[u.start : u.end]: u.kind for u in split_units(text)}


def test_a_web_pages_headings_and_list_items_are_known_as_such():
    parsed = parse(PAGE, "expenses.html")
    assert "## 2. What you cannot claim" in parsed.text.splitlines()
    assert "- Alcohol, tips above 10% of the bill, and entertainment of colleagues." in parsed.text.splitlines()
    (chunk,) = chunk_document(parsed)  # a short page: its small sections are one chunk
    found = kinds(chunk.text)
    assert found["### 3.1 Receipts"] == HEADING and found["## 3. How to claim"] == HEADING
    assert found["- Eye tests for screen users."] == ITEM
    assert [s.heading_path[-1] for s in parsed.sections][:3] == [
        "Expenses",
        "1. What you can claim",
        "2. What you cannot claim",
    ]


def test_a_word_documents_headings_and_list_paragraphs_are_known_as_such():
    data = make_docx(
        [
            ("Title", "Annual leave"),
            ("Heading 1", "1 Annual leave"),
            ("", "You must:"),
            ("List Bullet", "book leave in advance"),
            ("List Bullet", "tell your manager"),
            ("Heading 2", "1.1 Carry over"),
            ("", "You can carry over 5 days."),
        ]
    )
    parsed = parse(data, "leave.docx")
    lines = parsed.text.splitlines()
    assert "# Annual leave" in lines and "# 1 Annual leave" in lines and "## 1.1 Carry over" in lines
    assert "- book leave in advance" in lines and "- tell your manager" in lines
    found = kinds(chunk_document(parsed)[0].text)
    assert found["## 1.1 Carry over"] == HEADING
    assert found["- tell your manager"] == ITEM


def test_small_sections_joined_into_one_chunk_say_where_they_start():
    """Joined, small sections share what their headings have in common (which retrieval reads, as it
    was measured); the chunk's anchor, what people are told, names the first one's own heading."""
    parsed = parse(PAGE.replace(b"<p>This guidance covers business expenses.</p>\n", b""), "expenses.html")
    first = chunk_document(parsed)[0]
    assert first.heading_path == ("Expenses",)
    assert first.anchor == "Section 1. What you can claim"


def test_a_quote_under_no_heading_of_its_passage_is_labelled_where_the_passage_starts():
    """The extractive answer labels each quote with the heading it sits under; a quote before any heading
    of a joined passage gets the passage's own place, as its sources line says it, not the title alone
    (a list of what you cannot claim read as one of what you can)."""
    from assistant.providers.extractive import _label
    from tests.assistant.helpers import make_source

    text = "- Alcohol and tips.\n\n- Parking fines.\n\n## 3. How to claim\n\nClaim within 3 months."
    units = tuple(tuple(u.as_list()) for u in split_units(text))
    source = make_source(
        1, text, title="Expenses", heading_path="Expenses", anchor="Section 2. What you cannot claim", units=units
    )
    assert _label(source, 0) == "Expenses (Section 2. What you cannot claim)"
    last = max(i for i, u in enumerate(units) if u[2] != HEADING)
    assert _label(source, last) == "Expenses, 3. How to claim"
