"""Answer units: a chunk cut into sentences, whole list items and whole table rows (no database)."""

from __future__ import annotations

from documents.ingest.units import HEADER, HEADING, ITEM, ROW, SENTENCE, embed_text, furniture, split_units, unit_text

LIST = """You must report a lost device at once. You should:

- call the Service Desk on the number on your badge
- tell your line manager, who will record it

This means the device can be wiped quickly."""

TABLE = """Mileage rates for business travel.

| Vehicle | First 10,000 miles | Over 10,000 miles |
|---|---|---|
| Car | 45p | 25p |
| Bicycle | 20p | 20p |"""


def texts(text: str) -> list[tuple[str, str]]:
    return [(u.kind, unit_text(text, u)) for u in split_units(text)]


def test_every_unit_is_an_exact_slice_of_the_chunk():
    """A unit's offsets point at its own text, so a page can highlight it in the passage."""
    for text in (LIST, TABLE):
        for unit in split_units(text):
            assert text[unit.start : unit.end].strip() == text[unit.start : unit.end]
            assert unit.end > unit.start


def test_list_items_are_whole_and_lean_on_their_lead_in():
    """Each list item is one unit and its context is the sentence that introduces the list."""
    units = split_units(LIST)
    kinds = texts(LIST)
    assert kinds[:2] == [(SENTENCE, "You must report a lost device at once."), (SENTENCE, "You should:")]
    items = [u for u in units if u.kind == ITEM]
    assert [unit_text(LIST, u) for u in items] == [
        "- call the Service Desk on the number on your badge",
        "- tell your line manager, who will record it",
    ]
    assert all(unit_text(LIST, units[u.context]) == "You should:" for u in items)


def test_a_sentence_that_leans_back_keeps_the_one_before_as_context():
    """'This means...' needs what 'this' is: the unit before it is its context."""
    units = split_units("Lock your screen when you leave your desk. This means nobody can read it.")
    assert [u.kind for u in units] == [SENTENCE, SENTENCE]
    assert units[1].context == 0 and units[0].context == -1


def test_table_rows_are_whole_with_their_header_as_context():
    """A row is one unit; the header row is its context and is never quoted alone; the rule line is no unit."""
    units = split_units(TABLE)
    assert [u.kind for u in units] == [SENTENCE, HEADER, ROW, ROW]
    assert all(units[u.context].kind == HEADER for u in units if u.kind == ROW)
    assert embed_text(TABLE, units, 2).endswith(
        "| Vehicle | First 10,000 miles | Over 10,000 miles | | Car | 45p | 25p |"
    )


def test_abbreviations_and_numbers_do_not_end_a_sentence():
    """'e.g. The' and '1.5 days' stay inside one sentence; a full stop before a capital ends one."""
    text = "Some tools, e.g. Slack, are approved. Staff get 1.5 days. Mr. Smith agreed."
    assert [t for _, t in texts(text)] == [
        "Some tools, e.g. Slack, are approved.",
        "Staff get 1.5 days.",
        "Mr. Smith agreed.",
    ]


def test_headings_and_stray_line_breaks():
    """Heading lines are units never quoted; a sentence broken by a stray blank line stays one."""
    text = (
        "### Why it matters\n\nUsers should not have an worse\n\nexperience because of it.\n\nShort Title\n\nNext rule."
    )
    kinds = texts(text)
    assert kinds[0] == (HEADING, "### Why it matters")
    assert (SENTENCE, "Users should not have an worse experience because of it.") in kinds
    assert (HEADING, "Short Title") in kinds


PDF_PAGE = """IT security: rules for everyone
Department for Digital Examples. Fictional guidance written for the Humphrey project.
1 Passwords and sign-in
Use a passphrase of at least 3 random words and 14 characters for your account. It needs approval from your
Deputy Director before it is shared with anyone at all, even for a day or a single piece of work.
Acas helpline
Telephone: 0300 123 1100
Monday to Friday, 8am to 6pm"""


def test_headings_in_a_pdfs_text_are_found_without_blank_lines():
    """A PDF's text runs a heading straight into its section ("1 Passwords and sign-in\nUse a
    passphrase..."): the heading is its own unit, not the start of the first sentence, which the
    extractive answer would otherwise quote with the page's title and the section number. A wrapped
    line stopping before a capital ("from your\nDeputy Director") and a contact block's label stay text."""
    kinds = texts(PDF_PAGE)
    assert kinds[0] == (HEADING, "IT security: rules for everyone")
    assert (HEADING, "1 Passwords and sign-in") in kinds
    assert (SENTENCE, "Use a passphrase of at least 3 random words and 14 characters for your account.") in kinds
    assert (
        SENTENCE,
        "It needs approval from your Deputy Director before it is shared with anyone at all, even for a day or a "
        "single piece of work.",
    ) in kinds
    assert (SENTENCE, "Acas helpline Telephone: 0300 123 1100 Monday to Friday, 8am to 6pm") in kinds
    assert sum(kind == HEADING for kind, _ in kinds) == 2


def test_the_heading_above_a_unit_is_part_of_what_is_embedded():
    """A sentence under 'Selflessness' is embedded with that heading, so its meaning carries the topic."""
    text = "Selflessness\n\nHolders of public office should act solely in terms of the public interest."
    units = split_units(text)
    assert embed_text(text, units, 1).startswith("Selflessness: Holders of public office")
    plain = "Holders of public office should act in the public interest."
    assert embed_text(plain, split_units(plain), 0, "Selflessness").startswith("Selflessness: ")


def test_a_documents_furniture_is_told_from_its_guidance():
    """Version and date lines, markings and a name alone are furniture; a rule, an instruction naming a
    team, or a sentence that only starts like a version line is not."""
    for line in (
        "Department for Digital Examples (DDE).",
        "Version 3.2, April 2026.",
        "v1.2 (2024-03-01)",
        "Last updated 12 March 2024",
        "Page 3 of 10",
        "OFFICIAL-SENSITIVE",
        "April 2026.",
    ):
        assert furniture(line), line
    for line in (
        "Alcohol is never paid for.",
        "Contact HR Operations.",
        "Call the IT Service Desk.",
        "Issue 2 of the form must be used.",
        "Updated guidance on travel applies to all staff from 1 April.",
        "Version control is required for all code.",
        "Fictional guidance written for the Humphrey project.",
        "Yes.",
    ):
        assert not furniture(line), line
