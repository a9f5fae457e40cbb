"""No question makes personal-data detection slow: the worst inputs known cost a small multiple of an ordinary one.

Every question passes through ``find_personal_data`` on the shared intake before it is accepted, so one
slow question stalls everyone's. These tests take the attacker's side: for each detector, the inputs
most likely to make its patterns backtrack or its parser work hardest, at the longest question allowed,
timed against an ordinary question of the same length in the same run (a ratio, never a number of
seconds, so a slow or busy machine does not fail them), and against the same input a quarter as long
(time must grow in proportion to length, not faster).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.pii import find_personal_data

MAX_CHARS = 2000  # HUMPHREY_CHAT_MAX_QUESTION_CHARS: the intake refuses longer questions
MAX_RATIO = 20  # worst case against an ordinary question of the same length
# Phone numbers are parsed by libphonenumber, candidate by candidate and then the parts of each candidate:
# linear, but a question made only of digits and spaced hyphens makes it parse about one candidate per
# character (tens of times an ordinary question: docs/security.md). Capping its work would miss numbers in ordinary
# questions full of figures, so those inputs are held to this looser bound (and to linear growth).
PHONE_PARSER_RATIO = 80
MAX_GROWTH = 8  # four times the length: 4x if linear, 16x if quadratic

# An ordinary long question: prose with the figures questions carry (dates, sums, paragraph numbers,
# percentages, capitalised place and team names) and no personal data.
ORDINARY_PARAGRAPH = (
    "I joined the department on 3 April 2019 on a salary of £32,450 and moved to the Darlington office "
    "in 2022. Under paragraph 4.2 of the Flexible Working Policy (version 3, updated March 2024), can I "
    "ask to work compressed hours over 9 days instead of 10, and would that change my 25 days of annual "
    "leave plus 8 bank holidays? My line manager says the business case must show no more than a 5% drop "
    "in output and that Human Resources will decide within 28 days. "
)


def fill(unit: str, n: int) -> str:
    """``unit`` repeated to exactly ``n`` characters."""
    return (unit * (n // len(unit) + 1))[:n]


ORDINARY = fill(ORDINARY_PARAGRAPH, MAX_CHARS)

# The question from the security review: 5.3 s of CPU under the earlier name-before-postcode pattern.
REVIEW_QUESTION = "Ab " * 420 + "x" * 82 + " " + "A1 1AA " * 90


def _tail(head: str, unit: str, tail: str) -> Callable[[int], str]:
    """A builder: ``head``, then ``unit`` repeated, then ``tail``, ``n`` characters in all."""
    return lambda n: head + fill(unit, n - len(head) - len(tail)) + tail


# Each worst case as a builder of a question of n characters (n up to MAX_CHARS).
WORST_CASES: dict[str, Callable[[int], str]] = {
    # Name before a postcode: capitalised words, then postcodes far from and near to them.
    "review question, scaled": lambda n: _tail(fill("Ab ", n * 63 // 100) + "x" * (n // 24) + " ", "A1 1AA ", "")(n),
    "capitalised words then postcodes": lambda n: fill("Ab ", n // 2) + fill("A1 1AA ", n - n // 2),
    "capitalised words and postcodes interleaved": lambda n: fill("Ab Cd Ef A1 1AA ", n),
    "capitalised words, no postcode": lambda n: fill("Ab ", n),
    "one long capitalised word per postcode": lambda n: fill("A" + "b" * 90 + " A1 1AA ", n),
    "capitalised words with long spaces": lambda n: fill("Ab" + " " * 60 + "Cd" + " " * 60 + "SW1A 2AA ", n),
    "capitalised words before a postcode on the next line": lambda n: fill("Ab Cd " * 10 + "\nSW1A 2AA ", n),
    "capitalised words ending in a non-ASCII letter": lambda n: _tail(fill("Abbbbbbbbé ", n // 2), "A1 1AA ", "")(n),
    # Postcodes.
    "postcodes with spaces": lambda n: fill("A1 1AA ", n),
    "postcodes without spaces": lambda n: fill("SW1A2AA ", n),
    "postcode fragments": lambda n: fill("SW1A 2A", n),
    "lower-case postcodes": lambda n: fill("sw1a 2aa ", n),
    "GIR postcodes": lambda n: fill("GIR 0AA ", n),
    # Card numbers: digits with separators, long digit runs, near misses that fail the Luhn check.
    "digits with spaces": lambda n: fill("1 ", n),
    "digits with hyphens": lambda n: fill("1-", n),
    "one long digit run": lambda n: fill("1", n),
    "card-shaped groups": lambda n: fill("4111 ", n),
    "card numbers failing Luhn": lambda n: fill("4111 1111 1111 1112 ", n),
    "valid card numbers": lambda n: fill("4111-1111-1111-1111 ", n),
    "twenty-digit runs": lambda n: fill("41111111111111111111 ", n),
    # National Insurance numbers: near misses (bad suffix, bad prefix, one digit short).
    "NI numbers with a bad suffix": lambda n: fill("AB 12 34 56 E ", n),
    "NI numbers with a bad prefix": lambda n: fill("QQ123456C ", n),
    "NI numbers one digit short": lambda n: fill("AB12345C ", n),
    "NI numbers without a suffix": lambda n: fill("AB123456", n),
    # Phone numbers (parsed by libphonenumber): valid numbers, near misses, leading punctuation.
    "phone numbers one digit short": lambda n: fill("020 7946 001 ", n),
    "international prefixes": lambda n: fill("+44 ", n),
    "brackets and digits": lambda n: fill("(0", n),
    "plus signs": lambda n: fill("+", n),
    # Email addresses: long local parts and domains that end without a valid top-level domain.
    "long local part, no @": lambda n: fill("a.", n),
    "long local part before a late @": _tail("", "a.", "@b"),
    "long local part, one word": _tail("", "a", "@"),
    "long domain without a top-level domain": _tail("a@", "a.", ".1"),
    "long hyphenated domain": _tail("a@", "ab-", ""),
    "many @ signs": lambda n: fill("@", n),
    "many short addresses": lambda n: fill("a.b@c.io ", n),
    "addresses sharing separators": lambda n: fill("a@b.cd.", n),
    # Whitespace.
    "spaces": lambda n: " " * n,
    "line breaks": lambda n: "\n" * n,
    "mixed unicode whitespace": lambda n: fill(" \t\u00a0\u2003\u2028\r", n),
    # Unicode lookalikes: letters and digits from other scripts, letters that upper-case longer.
    "Cyrillic capitals": lambda n: fill("\u0410\u0431 ", n),
    "fullwidth letters and digits": lambda n: fill("\uff21\uff42 \uff11 ", n),
    "fullwidth digits": lambda n: fill("\uff11 ", n),
    "Arabic-Indic digits with hyphens": lambda n: fill("\u0661-", n),
    "mathematical bold digits": lambda n: fill("\U0001d7cf ", n),
    "letters that upper-case longer": lambda n: fill("\u00df\u0390", n),
    "Kelvin sign and long s in postcodes": lambda n: fill("\u212a1 1\u017f\u017f ", n),
}
# The worst cases for libphonenumber (see PHONE_PARSER_RATIO).
PHONE_PARSER_CASES: dict[str, Callable[[int], str]] = {
    "valid mobile numbers": lambda n: fill("07911123456 ", n),
    "digits with double separators": lambda n: fill("1 -", n),
    "digits between spaced hyphens": lambda n: fill("0 - ", n),
    "digits between spaced hyphens, two spaces after": lambda n: fill("0 -  ", n),
    "digits between double hyphens": lambda n: fill("0 -- ", n),
    "digits between slashes": lambda n: fill("/0", n),
    "digits between fullwidth hyphens": lambda n: fill("8\uff0d", n),
    "digits between mixed punctuation": lambda n: fill("1 - 2 / 3 . 4 ( 5 ) ", n),
}
ALL_CASES = {**WORST_CASES, **PHONE_PARSER_CASES}


def _batch(text: str, calls: int) -> float:
    """CPU seconds per call over ``calls`` calls of ``find_personal_data(text)``."""
    start = time.process_time()
    for _ in range(calls):
        find_personal_data(text)
    return (time.process_time() - start) / calls


def cost_ratio(text: str, yardstick: str, rounds: int = 5) -> float:
    """How many times the CPU time of ``yardstick`` detecting personal data in ``text`` takes.

    The two are timed in turn, ``rounds`` times, each timing over enough calls to last about 5 ms, and
    the least of each kept: both see the same machine, and a stray interruption or the clock's
    resolution does not decide the result.
    """
    calls = [max(1, int(0.005 / max(_batch(t, 1), 1e-6))) for t in (text, yardstick)]
    best_text = best_yardstick = float("inf")
    for _ in range(rounds):
        best_text = min(best_text, _batch(text, calls[0]))
        best_yardstick = min(best_yardstick, _batch(yardstick, calls[1]))
    return best_text / best_yardstick


def test_the_ordinary_question_is_the_longest_allowed_and_holds_no_personal_data():
    """The yardstick is a question of the longest allowed length with nothing in it to find."""
    assert len(ORDINARY) == MAX_CHARS
    assert find_personal_data(ORDINARY) == []


def test_the_review_question_costs_a_small_multiple_of_an_ordinary_one():
    """The question from the security review (5.3 s before) costs no more than 20 ordinary questions."""
    assert len(REVIEW_QUESTION) == 1973
    ratio = cost_ratio(REVIEW_QUESTION, ORDINARY)
    assert ratio <= MAX_RATIO, f"the review question costs {ratio:.1f}x an ordinary question"


@pytest.mark.parametrize("name", list(WORST_CASES))
def test_worst_case_costs_a_small_multiple_of_an_ordinary_question(name):
    """A worst case at the longest allowed length costs no more than 20 ordinary questions of that length."""
    text = WORST_CASES[name](MAX_CHARS)
    assert len(text) == MAX_CHARS
    ratio = cost_ratio(text, ORDINARY)
    assert ratio <= MAX_RATIO, f"{name!r} costs {ratio:.1f}x an ordinary question"


@pytest.mark.parametrize("name", list(PHONE_PARSER_CASES))
def test_phone_parser_worst_case_is_bounded(name):
    """The worst cases for libphonenumber at the longest allowed length stay within their looser bound."""
    text = PHONE_PARSER_CASES[name](MAX_CHARS)
    assert len(text) == MAX_CHARS
    ratio = cost_ratio(text, ORDINARY)
    assert ratio <= PHONE_PARSER_RATIO, f"{name!r} costs {ratio:.1f}x an ordinary question"


@pytest.mark.parametrize("name", list(ALL_CASES))
def test_worst_case_cost_grows_in_proportion_to_length(name):
    """Four times as long costs at most twice four times as much: no detector is quadratic or worse."""
    short, long = ALL_CASES[name](MAX_CHARS // 4), ALL_CASES[name](MAX_CHARS)
    growth = cost_ratio(long, short)
    assert growth <= MAX_GROWTH, f"{name!r}: four times the length costs {growth:.1f}x"


def test_worst_cases_are_still_found():
    """Speed did not come from giving up: personal data among the worst cases is still found to the end."""
    found = find_personal_data(REVIEW_QUESTION)
    assert len(found) == 90 and {f.kind for f in found} == {"postcode"}
    found = find_personal_data(WORST_CASES["capitalised words and postcodes interleaved"](MAX_CHARS))
    assert len(found) == MAX_CHARS // len("Ab Cd Ef A1 1AA ") and {f.kind for f in found} == {"address"}
    for name, kind, unit in [
        ("valid card numbers", "card_number", "4111-1111-1111-1111 "),
        ("valid mobile numbers", "phone", "07911123456 "),
        ("many short addresses", "email", "a.b@c.io "),
        ("postcodes with spaces", "postcode", "A1 1AA "),
    ]:
        found = find_personal_data(ALL_CASES[name](MAX_CHARS))
        assert {f.kind for f in found} == {kind}
        assert len(found) == MAX_CHARS // len(unit), name


# Random questions built from the pieces the worst cases are made of, and from any characters at all.
PIECES = [
    "Ab ",
    "John Smith ",
    "A1 1AA ",
    "SW1A 2AA",
    "sw1a2aa",
    "GIR 0AA",
    "4111 1111 1111 1111",
    "1 ",
    "1-",
    "12345678901234567890",
    "AB 12 34 56 C",
    "QQ123456C",
    "07911 123456",
    "+44 ",
    "(0",
    "0 - ",
    "/0",
    "a.",
    "a@",
    "x@example.gov.uk",
    "@",
    ".",
    " ",
    "\n",
    "\u2003",
    "\uff11",
    "\u00df",
    "\u0410",
]
questions = st.lists(
    st.sampled_from(PIECES) | st.text(max_size=8),
    min_size=1,
    max_size=MAX_CHARS,
).map(lambda pieces: "".join(pieces)[:MAX_CHARS])


@settings(max_examples=60, deadline=None)
@given(text=questions)
def test_random_questions_cost_a_small_multiple_of_an_ordinary_one(text):
    """No question up to the longest allowed, however made, costs more than the phone parser's worst case.

    (Which is the bound for any question: the pieces include the phone parser's worst ones.)
    """
    ratio = cost_ratio(text, ORDINARY, rounds=3)
    assert ratio <= PHONE_PARSER_RATIO, f"{ratio:.1f}x an ordinary question for {text!r}"
