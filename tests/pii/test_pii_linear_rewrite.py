"""The linear-time detectors find what the earlier backtracking patterns found, position for position.

The earlier patterns are kept here as the oracle. They backtrack badly on long texts, so they are only
run on short ones (up to 200 characters), where they are quick. The one deliberate difference: postcodes
were matched on ``text.upper()``, which is longer than ``text`` when it holds letters such as "ß", so
positions after such a letter were off; the oracle's texts leave those letters out.
"""

from __future__ import annotations

import re

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.pii import _NINO, Finding, _luhn_ok, find_personal_data, redact

OLD_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
OLD_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
OLD_POSTCODE = re.compile(
    r"\b(GIR ?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?) ?\d[ABD-HJLNP-UW-Z]{2})\b"
)
OLD_NAME_BEFORE = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b[^\n]{0,80}$")


def old_find_personal_data(text: str) -> list[Finding]:
    """``find_personal_data`` as it was, with the earlier patterns (NI numbers and phones are unchanged)."""
    found = [Finding("ni_number", m.start(), m.end()) for m in _NINO.finditer(text)]
    found += [Finding("email", m.start(), m.end()) for m in OLD_EMAIL.finditer(text)]
    for m in OLD_CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits) and len(set(digits)) > 1:
            found.append(Finding("card_number", m.start(), m.end()))
    for match in phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID):
        found.append(Finding("phone", match.start, match.end))
    for m in OLD_POSTCODE.finditer(text.upper()):
        raw = text[m.start() : m.end()]
        if " " not in raw and len(raw) < 6:
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        kind = "address" if OLD_NAME_BEFORE.search(text[line_start : m.start()]) else "postcode"
        found.append(Finding(kind, m.start(), m.end()))
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    result: list[Finding] = []
    for finding in found:
        if result and finding.start < result[-1].end:
            continue
        result.append(finding)
    return result


PIECES = [
    "John ",
    "Smith",
    "Mary-Jane ",
    "Ab ",
    "SW1A 2AA",
    "sw1a2aa",
    "A1 1AA",
    "GIR 0AA",
    "M1 1AE",
    "x" * 40,
    " " * 30,
    "\n",
    "\r",
    "\t",
    "\u2028",
    "é",
    "_",
    "a.b",
    "@",
    ".",
    "-",
    "%",
    "+",
    "a@b.com",
    "x.y@ex-ample.co.uk",
    "1.2",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "1 ",
    "1234567890123",
    "79927398713",
]
SAFE_LETTERS = st.characters(codec="ascii") | st.sampled_from("é\u2028\u00a0")
short_texts = st.lists(st.sampled_from(PIECES) | st.text(SAFE_LETTERS, max_size=4), max_size=30).map(
    lambda pieces: "".join(pieces)[:200]
)


@settings(max_examples=400, deadline=None)
@given(text=short_texts)
def test_findings_are_those_of_the_earlier_patterns(text):
    """Every finding (kind, start and end) is what the earlier patterns found in the same text."""
    assert find_personal_data(text) == old_find_personal_data(text)


def test_a_postcode_after_a_letter_that_upper_cases_longer_is_redacted_exactly():
    """A postcode after "ß" (upper-cased "SS") is found at its own place, so redaction removes all of it."""
    text = "Ich wohne in der Hauptstraße, SW1A 2AA"
    found = find_personal_data(text)
    assert [(f.kind, text[f.start : f.end]) for f in found] == [("postcode", "SW1A 2AA")]
    assert redact(text, found) == "Ich wohne in der Hauptstraße, [postcode]"


def test_a_name_is_an_address_only_within_80_characters_before_the_postcode_on_its_line():
    """The name must end at most 80 characters before the postcode, on the same line, however long the line."""
    near = "Ab " * 400 + "John Smith" + " " * 78 + ", SW1A 2AA"  # ends 80 before
    far = "John Smith" + " " * 81 + "SW1A 2AA"  # ends 81 before
    other_line = "John Smith\nSW1A 2AA"
    assert [f.kind for f in find_personal_data(near)] == ["address"]
    assert [f.kind for f in find_personal_data(far)] == ["postcode"]
    assert [f.kind for f in find_personal_data(other_line)] == ["postcode"]


def test_a_long_email_address_is_found_whole():
    """A long local part and a long domain are found whole, from the first word boundary to the end."""
    text = "write to " + "a." * 300 + "b@" + "c-" * 200 + "d.example.org now"
    (finding,) = find_personal_data(text)
    assert finding.kind == "email"
    assert text[finding.start : finding.end] == "a." * 300 + "b@" + "c-" * 200 + "d.example.org"
