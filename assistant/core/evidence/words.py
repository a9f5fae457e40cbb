"""A question's words and a passage's: stop words, stems as PostgreSQL's ``english`` configuration
makes them, shorthand spelt out, rarity weights, the weighted share of a question's words a text holds."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import snowballstemmer

# Words that carry no topic of their own in a question: English function words, question and
# request words. Topic words common in the guidance ("leave", "data") are not listed: their weight
# comes from how often the guidance uses them.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
    don't down during each either else ever every few for from further get gets getting got had hadn't
    has hasn't have haven't having he her here hers herself him himself his how i i'd i'm i've if in
    into is isn't it it's its itself just let let's may me might mine more most much must mustn't my
    myself need needs no nor not now of off on once one only or other ought our ours ourselves out over
    own per please rather really same say says shall shan't she should shouldn't so some such than that
    that's the their theirs them themselves then there there's these they they'd they're this those
    though through to too under until up upon us use used using very via want wants was wasn't way we
    we'd we're we've were weren't what what's whatever when whenever where where's whether which while
    who who's whom whose why will with within without won't would wouldn't yes yet you you'd you're
    you've your yours yourself yourselves tell know explain mean means meant happen happens anything
    something someone anyone thing things kind sort okay ok hi hello thanks thank etc eg ie""".split()  # noqa: SIM905 - a word list reads best as words
)


_WORD = re.compile(r"[a-z0-9]+(?:['’\-][a-z0-9]+)*")


@functools.cache
def _stemmer():
    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


_HOW = re.compile(r"\bhow (long|many|much|often|soon|far|quickly)\b|\bwhat time\b|\bby when\b")


_DIGIT = re.compile(r"\d")


@functools.lru_cache(maxsize=32_768)  # a passage's units are scored again for every question that finds it
def terms(text: str) -> tuple[str, ...]:
    """The content words of ``text``, stemmed (as PostgreSQL's ``english`` configuration stems them),
    in order, repeats kept. Numbers and codes are kept as they are; "how long", "how many" and the
    like ask for an amount, they are not the topic."""
    out = []
    for word in _WORD.findall(_HOW.sub(" ", text.lower().replace("’", "'"))):
        word = word.strip("'")
        if word.endswith("'s"):
            word = word[:-2]
        if not word or word in STOP_WORDS or (len(word) < 2 and not word.isdigit()):
            continue
        out.append(word if _DIGIT.search(word) else stem(word.replace("'", "")))
    return tuple(out)


@dataclass(frozen=True)
class Weights:
    """Word rarity: ``share`` maps a stem to the share of chunks containing it; words not listed are
    rarer than ``floor``. Weight is -log(share), as inverse document frequency is."""

    share: dict[str, float] = field(default_factory=dict)
    floor: float = 0.002

    def of(self, term: str) -> float:
        share = self.share.get(term)
        if share is None:
            share = self.floor / 2
        return max(0.05, -math.log(min(max(share, 1e-6), 0.95)))


def _has(term: str, words: set[str]) -> bool:
    """``term`` is in ``words``, or one of them is it with a longer ending: Snowball stems
    "classification" to "classif" and "classified" to "classifi"."""
    if term in words:
        return True
    if len(term) >= 5:
        return any(len(w) >= 5 and (w.startswith(term) or term.startswith(w)) for w in words)
    return False


def _word_share(question: dict[str, float], present: set[str], partly: set[str] = frozenset()) -> float:
    """The weighted share of ``question``'s words in ``present`` (words only in ``partly``, the heading
    above a unit or the unit it leans on, count half)."""
    total = sum(question.values())
    if not total:
        return 0.0
    found = 0.0
    for t, w in question.items():
        if _has(t, present):
            found += w
        elif _has(t, partly):
            found += HEADING_WEIGHT * w
    return found / total


SUBJECT_WEIGHT = 0.5  # an earlier question's words count half in a follow-up (the new words lead)


HEADING_WEIGHT = 0.5  # a word found only in the heading above a unit (the whole section shares it) or in


# Shorthand people type into a chat box, spelt out before a question's words are matched with the
# guidance's ("pwd" is "password" when counting what a passage holds). Only the question is read this way.
SHORTHAND = {
    "b4": "before", "r": "are", "u": "you", "ur": "your", "pls": "please", "hav": "have", "w/": "with",
    "pt": "part", "std": "standard", "info": "information", "docs": "documents", "doc": "document",
    "min": "minimum", "max": "maximum", "org": "organisation", "dept": "department", "govt": "government",
    "hols": "holidays", "hol": "holiday", "mat": "maternity", "pat": "paternity", "wfh": "working from home",
    "pwd": "password", "pw": "password", "passwd": "password", "dob": "date of birth", "mgr": "manager",
    "3rd": "third", "cat": "category", "reqs": "requirements", "req": "request", "approx": "approximately",
    "asap": "as soon as possible", "appt": "appointment", "yr": "year", "yrs": "years", "wk": "week",
    "wks": "weeks", "mth": "month", "mths": "months", "no.": "number", "tel": "telephone", "msg": "message",
}  # fmt: skip


_SHORT = re.compile(
    r"(?<![\w/])(" + "|".join(re.escape(k) for k in sorted(SHORTHAND, key=len, reverse=True)) + r")(?![\w/])",
    re.IGNORECASE,
)


def spelt_out(question: str) -> str:
    """``question`` with common shorthand spelt out ("pwd" -> "password")."""
    return _SHORT.sub(lambda m: SHORTHAND[m.group(1).lower()], question)


def question_terms(question: str, weights: Weights, subject: str = "") -> dict[str, float]:
    """The question's distinct content words (shorthand spelt out) with their weights; ``subject``
    (the earlier question a follow-up leans on) adds its words at half weight."""
    wanted = {t: weights.of(t) for t in dict.fromkeys(terms(spelt_out(question)))}
    for t in dict.fromkeys(terms(spelt_out(subject))):
        wanted.setdefault(t, SUBJECT_WEIGHT * weights.of(t))
    return wanted


def _with_negations(found: list[str]) -> set[str]:
    """A unit's words, with "unpaid" also counting as "paid": a sentence saying something is not so
    answers the question whether it is."""
    words = set(found)
    words.update(
        w[2:] for w in found if w.startswith("un") and len(w) > 5 and w not in _NOT_NEGATIONS and w[:5] != "under"
    )
    return words


_NOT_NEGATIONS = frozenset(terms("unless under until union unit unique uniform universal understand undertake"))


def missing_words(question: str, missing: Iterable[str], *, limit: int = 3) -> list[str]:
    """The words of ``question`` (as typed, shorthand spelt out) whose stems are in ``missing``."""
    wanted, out = set(missing), []
    for word in _WORD.findall(spelt_out(question).lower().replace("’", "'")):
        found = terms(word)
        if found and found[0] in wanted and word not in out:
            out.append(word)
            wanted.discard(found[0])
    return out[:limit]
