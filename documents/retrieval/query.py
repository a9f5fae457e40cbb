"""The question as the statement searches it: cleaned, and its code-like phrases picked out.

Plain Python (no Django imports).
"""

from __future__ import annotations

import re

MAX_QUERY_CHARS = 4000  # longer questions are cut before they reach the full-text parser

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# websearch syntax the user typed on purpose (a quoted phrase, an excluded -word): then the words are
# ANDed as PostgreSQL documents; otherwise a question's words are ORed (a question rarely repeats
# every word of its answer). "or" is not taken as syntax: in "category 1, 2 or 3" it is English, the
# words are ORed anyway, and ANDing the rest (websearch's reading) was slow (docs/retrieval.md).
_OPERATORS = re.compile(r'"|(^|\s)-\w')


def clean_query(query: str) -> str:
    return _CONTROL.sub(" ", query or "").strip()[:MAX_QUERY_CHARS]


def or_semantics(text: str) -> bool:
    """True when the question's words are to be ORed: it uses no websearch syntax on purpose."""
    return not _OPERATORS.search(text)


_WORD_EDGE = re.compile(r"^[^\w&]+|[^\w&]+$")


def _is_code(word: str) -> bool:
    """Form codes, section numbers and acronyms: a digit, an inner & . /, or two+ capitals.

    A hyphen alone does not make a code: "sign-on" and "third-party" are words, which the English
    channel finds (it keeps the compound and its parts), while "COVID-19" and "OFFICIAL-SENSITIVE"
    are codes by their digits or capitals. (As phrases in the unstemmed channel, hyphenated words
    cost a read of their commonest part's posting list: "on" is in nearly every chunk.)"""
    if any(ch.isdigit() for ch in word):
        return True
    if re.search(r"\w[&./]\w", word):
        return True
    return len(word) >= 2 and word.isupper()


# English function words (PostgreSQL's english stop list, in part): a number after one is prose.
_FUNCTION_WORDS = frozenset(
    (  # noqa: SIM905 - a word list reads better as words
        "a about above after again against all an and any are as at be before below between both but by can"
        " did do does during each every few for from had has have how if in into is it its more most no nor"
        " not of off on once only or other our out over own same should so some such than that the their"
        " then there these they this those through to too under until up very was we were what when where"
        " which while who why will with within would you your"
    ).split()
)


def code_spans(query: str) -> list[str]:
    """The code-like phrases of a question, each searched as a phrase without stemming or stop words.

    "Can I claim T&S under MPM A.4 or section 21?" -> ["T&S", "MPM A.4", "section 21"]. A bare
    number keeps the word before it ("point 12"), since the number alone matches too much; after a
    function word ("1, 2 or 3", "within 28") it is prose, not a reference, and is left to the English
    channel (as a phrase, "or 3" meant reading the posting list of "or": in nearly every chunk).
    """
    words = [_WORD_EDGE.sub("", w) for w in query.split()]
    spans: list[str] = []
    i = 0
    while i < len(words):
        if words[i] and _is_code(words[i]):
            start = i
            while i + 1 < len(words) and words[i + 1] and _is_code(words[i + 1]):
                i += 1
            if words[start].isdigit() and start > 0 and words[start - 1]:
                if words[start - 1].lower() in _FUNCTION_WORDS and start == i:
                    i += 1
                    continue
                start -= 1
            spans.append(" ".join(words[start : i + 1]).replace('"', ""))
        i += 1
    return list(dict.fromkeys(spans))[:12]
