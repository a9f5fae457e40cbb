"""Parsing: each format keeps its headings (and PDF pages); each bad input gets a plain refusal."""

from __future__ import annotations

import pytest

from documents.ingest.parse import ParseError, ParseLimits, parse
from documents.ingest.units import split_units, unit_text
from tests.documents.files import make_docx, make_pdf, make_sized_pdf, make_zip_bomb_docx


def section_for(parsed, needle: str):
    for section in parsed.sections:
        if needle in section.text:
            return section
    raise AssertionError(f"no section contains {needle!r}")


def assert_exact_sections(parsed) -> None:
    for section in parsed.sections:
        assert parsed.text[section.char_start : section.char_end] == section.text


def test_pdf_keeps_page_numbers_and_bookmarks():
    """A PDF's text is found on the page it is printed on, under its bookmark heading."""
    data = make_pdf(
        ["Introduction to travel.", "Mileage is paid at 45p a mile.", "Hotels are capped at 100 pounds."],
        title="Travel policy",
        bookmarks={1: "Introduction", 2: "Mileage"},
    )
    parsed = parse(data, "travel.pdf")
    assert parsed.content_type == "application/pdf"
    assert parsed.page_count == 3
    assert parsed.title == "Travel policy"
    assert section_for(parsed, "45p a mile").page == 2
    assert section_for(parsed, "45p a mile").heading_path == ("Mileage",)
    assert section_for(parsed, "capped at 100").page == 3
    assert_exact_sections(parsed)


def test_a_pdf_without_bookmarks_has_its_headings_found_by_size():
    """A PDF printed without bookmarks: its title and headings are only larger text. They are headings
    (the largest the first level), so they no longer run into the sentence below them, in passages
    or in the answer units quoted from them; the one largest line stands as its title when the file's
    own title is a placeholder (a browser writes "about:blank")."""
    body = "The zebra pension scheme requires members to give 3 months notice before opting out."
    data = make_sized_pdf(
        [
            (24, "Pension contributions guide"),
            (18, "Opting out"),
            (12, body),
            (18, "Employer contributions"),
            (12, "Employer contributions are 27.1 percent of pensionable pay. Members may buy added pension."),
        ],
        title="about:blank",
    )
    parsed = parse(data, "pension-guide.pdf")
    assert parsed.title == "Pension contributions guide"
    assert section_for(parsed, "3 months notice").heading_path == ("Pension contributions guide", "Opting out")
    assert section_for(parsed, "27.1 percent").heading_path == ("Pension contributions guide", "Employer contributions")
    assert_exact_sections(parsed)
    units = [unit_text(parsed.text, u) for u in split_units(parsed.text)]
    assert body in units, units
    assert "title_heading" not in parsed.metadata


def test_a_pdf_set_in_one_size_has_no_headings_found_by_size():
    data = make_sized_pdf([(12, "Travel policy"), (12, "Mileage is paid at 45p a mile.")], title="Travel")
    parsed = parse(data, "travel.pdf")
    assert {s.heading_path for s in parsed.sections} == {()}
    assert parsed.title == "Travel"


def test_a_word_file_titled_document1_is_named_by_its_title_style():
    """Word names a new file "Document1"; its Title style (or first heading) names it better than its
    file name does."""
    data = make_docx([("Title", "Flexible working policy"), ("Heading 1", "Who can ask"), ("", "Anyone can.")])
    assert parse(data, "fw-final-v3.docx").title == "Flexible working policy"
    data = make_docx([("Title", "Flexible working policy"), ("", "Anyone can.")], title="Document1")
    assert parse(data, "fw-final-v3.docx").title == "Flexible working policy"
    data = make_docx([("", "Anyone can ask.")], title="Document1")
    assert parse(data, "fw-final-v3.docx").title == "Fw final v3"


def test_docx_keeps_heading_styles_and_tables():
    """Word heading styles become the heading path; each table row is kept with its header, as one
    answer unit (as in OpenDocument, slides and sheets)."""
    data = make_docx(
        [
            ("Title", "Expenses guide"),
            ("Heading 1", "3 Claims"),
            ("", "Claim within 30 days."),
            ("Heading 2", "3.2 Expenses"),
            ("", "Receipts are needed for every item."),
            ("table", "Item|Limit\nLunch|£10"),
        ]
    )
    parsed = parse(data, "guide.docx")
    assert parsed.title == "Expenses guide"
    assert section_for(parsed, "30 days").heading_path == ("Expenses guide", "3 Claims")
    receipts = section_for(parsed, "Receipts")
    assert receipts.heading_path == ("Expenses guide", "3 Claims", "3.2 Expenses")
    assert "Item | Limit\n- Item: Lunch | Limit: £10" in receipts.text
    units = [(u.kind, unit_text(receipts.text, u)) for u in split_units(receipts.text)]
    assert ("item", "- Item: Lunch | Limit: £10") in units
    assert_exact_sections(parsed)


def test_html_keeps_headings_and_drops_scripts_and_styles():
    """Only the text of a web page is kept: scripts, styles and event handlers never reach the index."""
    html = b"""<!DOCTYPE html><html><head><title>Leave</title><style>p{color:red}</style>
    <script>alert('steal')</script></head><body><nav>Home | Menu</nav><h1>Annual leave</h1>
    <p onclick="evil()">You get <b>25 days</b>.</p><h2>Carry over</h2><ul><li>Up to 5 days.</li></ul>
    <script>document.write('x')</script></body></html>"""
    parsed = parse(html, "leave.html")
    assert parsed.title == "Leave"
    assert "alert" not in parsed.text and "document.write" not in parsed.text
    assert "color" not in parsed.text and "evil" not in parsed.text and "<" not in parsed.text
    assert section_for(parsed, "25 days").heading_path == ("Annual leave",)
    assert section_for(parsed, "Up to 5 days").heading_path == ("Annual leave", "Carry over")
    assert_exact_sections(parsed)


def test_markdown_front_matter_gives_the_title_and_is_not_indexed():
    """YAML front matter names the document but its fields are not part of the searchable text."""
    md = (
        b"---\ntitle: Hybrid working\nsource_url: https://example.org/x\n---\n\n# Working from home\n\n"
        b"Ask your manager.\n\n## Equipment\n\nA laptop is provided.\n\n```\n# not a heading\n```\n"
    )
    parsed = parse(md, "hybrid.md")
    assert parsed.title == "Hybrid working"
    assert "source_url" not in parsed.text
    assert section_for(parsed, "laptop").heading_path == ("Working from home", "Equipment")
    assert section_for(parsed, "not a heading").heading_path == ("Working from home", "Equipment")
    assert_exact_sections(parsed)


def test_plain_text_numbered_and_underlined_headings():
    """Plain text keeps numbered ("3.2 Expenses") and underlined headings."""
    text = b"Office guide\n============\n\nWelcome.\n\n3 Money\n\nBudgets.\n\n3.2 Expenses\n\nKeep receipts.\n"
    parsed = parse(text, "guide.txt")
    assert parsed.content_type == "text/plain"
    assert section_for(parsed, "Keep receipts").heading_path == ("Office guide", "3 Money", "3.2 Expenses")
    assert_exact_sections(parsed)


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"", "empty.txt", "empty"),
        (b"   \n\n  ", "blank.txt", "no_text"),
        (b"%PDF-1.7\n1 0 obj garbage", "broken.pdf", "corrupt"),
        (b"PK\x03\x04 not really a zip", "broken.docx", "corrupt"),
        (b"<!doctype html><html><body><p>hi</p></body></html>", "report.pdf", "type_mismatch"),
        (b"%PDF-1.4 fake", "notes.txt", "type_mismatch"),
        (b"hello", "program.exe", "unsupported_type"),
        (b"\x7fELF\x00\x00binary", "notes.txt", "unsupported_type"),
    ],
)
def test_bad_inputs_are_refused_with_a_reason(data, filename, code):
    """Each kind of bad file gets its own code and a message a curator can act on."""
    with pytest.raises(ParseError) as caught:
        parse(data, filename)
    assert caught.value.code == code
    assert len(caught.value.message) > 10


def test_encrypted_pdf_is_refused():
    """A password-protected PDF is refused, not half-read."""
    data = make_pdf(["Secret text."], password="hunter2")
    with pytest.raises(ParseError) as caught:
        parse(data, "locked.pdf")
    assert caught.value.code == "encrypted"
    assert "password" in caught.value.message


def test_docx_extension_lying_about_a_pdf():
    """A PDF renamed .docx is refused as a mismatch."""
    with pytest.raises(ParseError) as caught:
        parse(make_pdf(["Text."]), "letter.docx")
    assert caught.value.code == "type_mismatch"


def test_zip_bomb_is_refused_before_inflating():
    """A DOCX that would expand far beyond its size is refused from the zip directory alone."""
    with pytest.raises(ParseError) as caught:
        parse(make_zip_bomb_docx(20), "bomb.docx")
    assert caught.value.code == "bomb"
    with pytest.raises(ParseError) as caught:
        parse(make_zip_bomb_docx(3), "bomb.docx", limits=ParseLimits(max_uncompressed_bytes=2 * 1024 * 1024))
    assert caught.value.code == "bomb"


def test_over_the_size_limit_is_refused():
    """A file over the upload limit is refused before it is read."""
    with pytest.raises(ParseError) as caught:
        parse(b"x" * 2048, "big.txt", limits=ParseLimits(max_bytes=1024))
    assert caught.value.code == "too_large"


def test_too_many_pages_is_refused():
    """A PDF longer than the page limit is refused."""
    with pytest.raises(ParseError) as caught:
        parse(make_pdf(["one", "two", "three"]), "long.pdf", limits=ParseLimits(max_pages=2))
    assert caught.value.code == "too_many_pages"
    assert "3 pages" in caught.value.message


def test_scanned_pdf_without_text_is_refused():
    """A PDF with no text layer gets a hint that it may be a scan."""
    with pytest.raises(ParseError) as caught:
        parse(make_pdf([""]), "scan.pdf")
    assert caught.value.code == "no_text"
    assert "scanned" in caught.value.message
