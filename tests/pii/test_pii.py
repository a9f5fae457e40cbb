"""Personal data in questions is found precisely: real identifiers flagged, form codes left alone."""

import pytest

from assistant.pii import find_personal_data, kinds, redact


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("My NI number is QQ 12 34 56 C, can I claim?", None),  # QQ is not an issued prefix
        ("My NI number is AB 12 34 56 C, can I claim?", "ni_number"),
        ("NINO: JG103759A", "ni_number"),
        ("Email me at jane.smith@cabinetoffice.gov.uk please", "email"),
        ("Call 020 7946 0018 about it", "phone"),
        ("My mobile is +44 7911 123456", "phone"),
        ("Card 4111 1111 1111 1111 was charged twice", "card_number"),
        ("I live at SW1A 2AA", "postcode"),
        ("Send it to John Smith, 10 Downing Street, SW1A 2AA", "address"),
    ],
)
def test_each_kind_is_found(text, kind):
    """Each kind of personal data in a question is detected (and an invalid NI prefix is not)."""
    found = kinds(find_personal_data(text))
    assert found == ([kind] if kind else [])


@pytest.mark.parametrize(
    "text",
    [
        "What does MPM A.4 say about T&S claims?",
        "Explain section 21 of the Service Standard",
        "Is 4111 1111 1111 1112 a valid code?",  # fails Luhn
        "How many days' holiday after 12 months?",
        "What is form P11D for?",
        "Point 12 of the standard, version 2.3.1",
    ],
)
def test_form_codes_and_numbers_are_not_personal_data(text):
    """Form codes, section numbers and ordinary numbers are not flagged."""
    assert find_personal_data(text) == []


def test_redaction_replaces_values_with_labels():
    """Redaction keeps the question readable and removes every value."""
    text = "I'm AB123456C, email a.b@example.org, card 4111-1111-1111-1111."
    redacted = redact(text, find_personal_data(text))
    assert "AB123456C" not in redacted and "a.b@example.org" not in redacted and "4111" not in redacted
    assert "[National Insurance number]" in redacted
    assert "[email address]" in redacted
    assert "[payment card number]" in redacted
