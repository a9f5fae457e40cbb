"""The detail a question asks for (an amount of money, a length of time, a count, a time of day, a
phone number) and whether a unit holds one.

A question asking "what is the weekly rate of Statutory Sick Pay?" about guidance that names SSP but
gives no figure finds passages on the topic, close in meaning and sharing its words: the coverage
gate's other evidence says "covered". What it lacks is the detail itself. When the question's
wording asks for a kind of detail (``asked_slot``) and none of the units that best answer it holds
one of that kind (``fills``), the guidance does not answer it (docs/answers.md, "Specific details").

A detail of the right kind about something else does not count either: for "how many weeks of
neonatal care leave?", a unit giving weeks of maternity leave holds a length of time but not
"neonatal" (``asked_about``: what a "how many / how much" question counts must be in the unit, its
context, its heading or its document's title).

Read from the wording only, never from the corpus: the patterns are the English of the question
("how long", "how many weeks", "what rate", "phone number") and of an answer ("14 days", "£113",
"90%", "0800 917 5148").
"""

from __future__ import annotations

import re

from .words import _WORD, STOP_WORDS, spelt_out, terms

MONEY, DURATION, COUNT, TIME, PHONE = "money", "duration", "count", "time", "phone"

_NUMBER = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
    r"|sixteen|eighteen|twenty|thirty|forty|fifty|sixty|hundred|a|an|half|several|few|couple of)"
)
_TIME_UNIT = r"(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|yrs?|fortnights?|nights?)"

# What a question asks for, tried in this order (the first that matches).
_ASKS = (
    (PHONE, re.compile(r"\b(phone|telephone|contact) number\b")),
    (TIME, re.compile(r"\b(what|which) time\b")),
    (
        DURATION,
        re.compile(rf"\bhow much (\w+ )?(leave|time|notice|holiday|holidays)\b|\bhow many (\w+ )?{_TIME_UNIT}\b"),
    ),
    (
        MONEY,
        re.compile(
            r"\bhow much\b.*\b(pay|paid|cost|costs|allowance|fee|fees|fine|fines|claim|salary|bonus|compensation"
            r"|earn|earned|worth|charge)\b"
            r"|\brates?\b|\bpay (range|band|scale)s?\b|\bin pounds\b|\bsalary\b|\bwhat (percentage|%)"
            r"|\b(what|maximum|max|minimum|min)( \w+)? (fine|fee|charge|cost|price)s?\b"
            r"|\b(cost|value|spend|spending|financial) (limit|threshold)s?\b"
        ),
    ),
    (
        DURATION,
        re.compile(
            r"\bhow (long|often|soon|quickly)\b|\b(within|after|before|in|for) how many\b"
            r"|\bhow far in advance\b|\b(deadline|time limit|timescales?|notice period)\b|\bwithin what\b"
        ),
    ),
    (COUNT, re.compile(r"\bhow many\b|\bwhat number of\b")),
)

_FILLS = {
    MONEY: re.compile(
        rf"£\s?\d|\d\s?(pounds|pence|p)\b|\d\s?%|\bper ?cent\b|\b(full|half) pay\b|\bnormal (rate of )?pay\b"
        rf"|\b{_NUMBER}[\s-]+{_TIME_UNIT}['’]?s?['’]? pay\b"
    ),
    DURATION: re.compile(
        rf"\b{_NUMBER}[\s-]+(\w+[\s-]+)?{_TIME_UNIT}\b|\b\d+(st|nd|rd|th) {_TIME_UNIT}\b"
        r"|\b(immediately|straight away|at once|annually|yearly|monthly|every \w+|each year|once a \w+)\b"
    ),
    COUNT: re.compile(
        r"\b(\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
        r"|sixteen|eighteen|twenty|thirty|forty|fifty|hundred|both|once|twice)\b"
    ),
    TIME: re.compile(r"\b\d{1,2}(:\d\d)?\s?(am|pm|a\.m\.|p\.m\.)|\b\d{1,2}:\d\d\b|\b(noon|midday|midnight)\b"),
    PHONE: re.compile(r"(?<![\w.])\+?\d[\d ()-]{6,}\d\b"),
}


_HOW_MANY = re.compile(r"\bhow (many|much)\b(.*)")
_LEADING = re.compile(rf"^(?:{_TIME_UNIT}|times|of|day's|week's|month's|year's)$")


def asked_about(question: str) -> tuple[str, ...]:
    """The content words (stemmed) of what a "how many / how much" question counts: "how many weeks
    of neonatal care leave am I entitled to?" -> neonatal, care, leave; the words after "how many"
    (a unit of time, "times" and "of" skipped) up to the first stop word. Empty for other questions."""
    match = _HOW_MANY.search(spelt_out(question).lower().replace("’", "'"))
    if not match:
        return ()
    out: list[str] = []
    for word in _WORD.findall(match.group(2)):
        if not out and _LEADING.match(word):
            continue
        if word in STOP_WORDS:
            break
        out.extend(terms(word))
    return tuple(out)


def asked_slot(question: str) -> str | None:
    """The kind of detail ``question`` asks for (``MONEY``, ``DURATION``, ``COUNT``, ``TIME``,
    ``PHONE``), or None when its wording asks for none of them ("what is...", "can I...")."""
    text = question.lower().replace("’", "'")
    for slot, pattern in _ASKS:
        if pattern.search(text):
            return slot
    return None


def fills(slot: str, text: str) -> bool:
    """Whether ``text`` holds a detail of the kind ``slot`` ("26 weeks" a duration, "£113" money)."""
    return bool(_FILLS[slot].search(text.lower()))
