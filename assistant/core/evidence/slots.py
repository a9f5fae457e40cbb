"""The detail a question asks for (an amount of money, a length of time, a count, a time of day, a
phone number; a person's name or a moment when the gate reads them) and whether a unit holds one.

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

MONEY, DURATION, COUNT, TIME, PHONE, NAME, DATE = "money", "duration", "count", "time", "phone", "name", "date"
LENGTH = "length"  # "how long should a password be?": a size (14 characters) or, as often, a length of time

_NUMBER = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
    r"|sixteen|eighteen|twenty|thirty|forty|fifty|sixty|hundred|a|an|half|several|few|couple of)"
)
_TIME_UNIT = r"(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|yrs?|fortnights?|nights?)"

# What a question asks for, tried in this order (the first that matches).
_ASKS = (
    (
        NAME,  # a named person: "who is the Cabinet Secretary?", "who chairs the committee?"
        re.compile(
            r"(?i:\bwho (is|was|are) (the|our|my|this|that) (current |new |present )?([a-z]+'s )?)(?=[A-Z])"
            r"|(?i:\bwho (currently )?(chairs|heads|leads|runs)\b)|(?i:\bname of (the|our|my) )(?=[A-Z])"
        ),
    ),
    (PHONE, re.compile(r"\b(phone|telephone|contact) number\b")),
    (TIME, re.compile(r"\b(what|which) time\b|\bopening (hours|times)\b|\b(what|which) hours\b.*\bopen\b")),
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
            # "how much is SPP a week?", "the lower earnings limit", "the cap on a week's pay"
            r"|\bhow much (is|are|does|do|will|would|should|can)\b.*"
            r"\b((a|per|each|every) (week|month|year|day|hour)|weekly|monthly|yearly|hourly|per annum)\b"
            r"|\b(earnings|income|pay|salary|payment) (limit|threshold|cap|ceiling)s?\b"
            r"|\b(cap|ceiling|limit|maximum|max|minimum|min) (on|of|for)( \w+['’]?s?){0,3} (pay|salary|earnings"
            r"|compensation|award|payout|payment)s?\b"
            r"|\b(maximum|max|minimum|min)( \w+)? (compensation|award|payout)s?\b"
        ),
    ),
    (
        LENGTH,  # "how long should my password be?", "how long must a report be?", "what length..."
        re.compile(
            r"\bhow (long|short) (is|are|should|must|can|does|do|has to|have to|needs? to|ought to)\b[^?.]*\bbe\W*$"
            r"|\b(what|which|minimum|maximum|min|max) length\b"
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
    (
        DATE,  # a moment: "when will the pay award be paid?", "by when...?", "what date...?" (last: after the others)
        re.compile(
            r"^\W*((and|so|but|then|ok|okay|please|hi|hello)\W+)*(by |until |from )?when(\W?s| (is|are|was|were|will"
            r"|would|do|does|did|should|must|can|could|have|has|shall|am|may|might|need|needs|exactly))\b"
            r"|\b(tell me|know|ask|find out|check|say|explain) (by |until |from )?when\b|\bby when\b"
            r"|\b(what|which) (date|dates|day|days|month|week)\b|\bby what (date|day|point)\b"
        ),
    ),
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
    LENGTH: re.compile(
        rf"\b{_NUMBER}[\s-]+(\w+[\s-]+)?(characters?|letters?|digits?|numbers|words?|pages?|lines?|metres?|meters?"
        rf"|centimetres?|cm|mm|km|kilometres?|miles?|inches|inch|feet|foot|mb|gb|kb|megabytes?)\b"
        rf"|\b{_NUMBER}[\s-]+(\w+[\s-]+)?{_TIME_UNIT}\b"
    ),
    COUNT: re.compile(
        r"\b(\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
        r"|sixteen|eighteen|twenty|thirty|forty|fifty|hundred|both|once|twice)\b"
    ),
    TIME: re.compile(
        r"\b\d{1,2}(:\d\d)?\s?(am|pm|a\.m\.|p\.m\.)|\b\d{1,2}[:.]\d\d\b|\b(noon|midday|midnight)\b"
        r"|\b24 ?hours\b|\b24/7\b|\bround the clock\b|\bat any time\b"
    ),
    PHONE: re.compile(r"(?<![\w.])\+?\d[\d ()-]{6,}\d\b"),
}
_MONTH = (
    r"(january|february|march|april|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
)
# A moment (lowercased): a date, a month ("may" only after a day: it is a verb too), a weekday, a year,
# a length of time tied to something ("within 56 days", "15 weeks before", "28 days' notice"; not "one
# year's service"), or a point ("immediately", "as soon as", "by the end of", "on the first day").
_FILLS[DATE] = re.compile(
    rf"\b(within|before|after|by|until|from|at least|no later than|up to|for)( the)? {_NUMBER}[\s-]+(\w+[\s-]+)?"
    rf"{_TIME_UNIT}\b"
    rf"|\b{_NUMBER}[\s-]+(\w+[\s-]+)?{_TIME_UNIT}['’]?s?['’]? (before|after|from|of|ahead|in advance|notice)\b"
    r"|\b\d+(st|nd|rd|th) \w+\b"
    r"|\b(immediately|straight away|at once|annually|yearly|monthly|every \w+|each year|once a \w+)\b"
    rf"|\b\d{{1,2}}(st|nd|rd|th)? ({_MONTH}|may)\b|\b{_MONTH}\b|\b(19|20)\d\d\b"
    r"|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend|bank holidays?)\b"
    r"|\bas soon as\b|\b(by|at|before|until|from) the (end|start|beginning) of\b|\b(first|last) day\b"
    r"|\bon or (before|after)\b|\bno later than\b|\bin advance\b"
)

# A person's name, read in the text as written (not lowercased): an honorific and a capitalised word,
# or exactly two capitalised words (a run of them, "Senior Information Risk Owner", is a title) in
# mid-sentence, not led by "the", "a", "your"... ("Simon Case", not "the Information Asset Owner" or
# "your Line Manager").
_HONORIFIC = re.compile(r"\b(Mr|Mrs|Ms|Miss|Dr|Sir|Dame|Lord|Lady|Baroness|Baron|Professor|Prof)\.? [A-Z][a-z]+")
_CAPITALISED_RUN = re.compile(r"\b[A-Z][A-Za-z]*(?: (?:of |and |on |for |in |to |the )?[A-Z][A-Za-z]*)+\b")
_TWO_WORD_NAME = re.compile(r"[A-Z][a-z]+ [A-Z][a-z]+")
_NOT_A_NAME_BEFORE = re.compile(
    r"(^|[.:;!?(\[|•*#-]\s*|\b(the|a|an|your|our|my|their|his|her|its|this|that|each|any)\s+)$", re.IGNORECASE
)

_ACRONYM_AFTER = re.compile(r"\s*\(([A-Z]{2,})\)")


def _defined_term(words: str, text: str, end: int) -> bool:
    """Whether two capitalised words are followed by their own initials in brackets: "Impact Level
    (IL)" is a term being defined, not a person ("Jane Smith (DPO)" is a person)."""
    match = _ACRONYM_AFTER.match(text, end)
    return bool(match) and match.group(1) == "".join(w[0] for w in words.split())


def _names(text: str) -> bool:
    """Whether ``text`` (as written) names a person."""
    if _HONORIFIC.search(text):
        return True
    return any(
        _TWO_WORD_NAME.fullmatch(m.group(0))
        and not _NOT_A_NAME_BEFORE.search(text[: m.start()])
        and not _defined_term(m.group(0), text, m.end())
        for m in _CAPITALISED_RUN.finditer(text)
    )


# What a question asks the rate, limit or deadline *of*: "the weekly rate of Maternity Allowance",
# "the time limit for taking a discrimination claim" (a leading verb in -ing, articles skipped).
_CASE = re.compile(
    r"\b(rates?|limits?|deadlines?|notice periods?|caps?|timescales?|thresholds?)( \w+)? (of|for|on) (.*)"
)


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


def asked_case(question: str) -> tuple[str, ...]:
    """The words, as written (lowercased, a plural "s" dropped), of what a question asks the rate, limit
    or deadline of: "what is the weekly rate of Maternity Allowance?" -> maternity, allowance; "the time
    limit for taking a discrimination claim to a tribunal" -> discrimination, claim. Up to the first
    stop word after them; empty when the question names none. Matched as written, not stemmed:
    "allowance" and "allowed" share a stem."""
    match = _CASE.search(spelt_out(question).lower().replace("’", "'"))
    if not match:
        return ()
    out: list[str] = []
    for word in _WORD.findall(match.group(4)):
        if not out and (word in STOP_WORDS or word in _LEADING_VERBS):
            continue
        if word in STOP_WORDS:
            break
        out.append(_surface(word))
    return tuple(out)


_LEADING_VERBS = frozenset(
    ["taking", "making", "bringing", "getting", "lodging", "submitting", "filing", "raising", "starting"]
)


def _surface(word: str) -> str:
    word = word.removesuffix("'s")
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def holds_case(case: tuple[str, ...], text: str) -> bool:
    """Whether ``text`` holds every word of ``case`` as written (a plural "s" aside)."""
    words = {_surface(w) for w in _WORD.findall(text.lower().replace("’", "'"))}
    return all(w in words for w in case)


def asked_slot(question: str, *, names: bool = True, dates: bool = True) -> str | None:
    """The kind of detail ``question`` asks for (``MONEY``, ``DURATION``, ``LENGTH``: a size or a length
    of time, ``COUNT``, ``TIME``, ``PHONE``, ``NAME``: a named person, ``DATE``: a moment), or None when
    its wording asks for none of them ("what is...", "can I...")."""
    text = question.lower().replace("’", "'")
    for slot, pattern in _ASKS:
        if slot == DATE and not dates:
            continue
        if slot == NAME:  # read as written: "who is the Cabinet Secretary?", not "who is the person to ask?"
            if names and pattern.search(question):
                return slot
        elif pattern.search(text):
            return slot
    return None


# The form of answer a question's wording expects, beyond the details above (``answer_form``): "who
# should I ask...?" is answered by a role or a team ("your Line Manager", "the Data Owner", "your
# lawyers"), "where do I send...?" by an address, a form or a page. Read by the extractive answerer
# only, to put such units first (``quotes.prefer_answer_form``); the gate never reads them.
WHO, WHERE = "who", "where"
_ASKS_WHO = re.compile(
    r"^\W*(\w+\W+){0,3}?who\b|\bwho (should|do|can|must|gives|decides|approves|is responsible)\b", re.IGNORECASE
)
_ASKS_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)
_FORMS = {
    WHO: re.compile(
        r"\b(managers?|team|owner|officer|lead|lawyers?|legal|hr|human resources|service desk|help ?desk"
        r"|adviser|advisor|representative|union|acas|committee|board|director|colleagues|professionals?|sponsor"
        r"|controller|security)\b",
        re.IGNORECASE,
    ),
    WHERE: re.compile(
        r"@|https?://|\bwww\.|\.gov\.uk\b|\b(form|portal|intranet|site|room|office|page|website|email|address"
        r"|link)\b",
        re.IGNORECASE,
    ),
}


def answer_form(question: str) -> str | None:
    """The form of answer ``question`` expects: a detail (``asked_slot``, as the gate reads it), else
    ``WHO`` (a role or a team) or ``WHERE`` (an address, a form, a page); None for any other."""
    slot = asked_slot(question, names=False, dates=False)
    if slot:
        return slot
    if _ASKS_WHO.search(question):
        return WHO
    return WHERE if _ASKS_WHERE.search(question) else None


def has_form(form: str, text: str) -> bool:
    """Whether ``text`` holds an answer of the ``form`` that ``answer_form`` read."""
    pattern = _FORMS.get(form)
    return bool(pattern.search(text)) if pattern else fills(form, text)


def fills(slot: str, text: str) -> bool:
    """Whether ``text`` holds a detail of the kind ``slot`` ("26 weeks" a duration, "£113" money, "Sir
    Laurie Magnus" a name)."""
    if slot == NAME:
        return _names(text)
    return bool(_FILLS[slot].search(text.lower()))
