"""Condense a follow-up into a standalone question for retrieval, from recent turns.

Without asking a model (which would add a whole round trip before the first token): a question that
leans on the conversation ("and on my phone?", "does that apply to them?") is joined to the subject
it leans on, the earlier question (and the one before that, when the earlier one was itself a
follow-up), so retrieval searches for both; a question that stands alone is used as it is. The
evidence scoring then counts the follow-up's own words in full and the subject's at half weight
(``assistant.core.evidence``), so the answer is about what was asked now.

A question of several sentences is searched whole, but judged on the sentences that ask: the
statements around them ("I am asking because my situation is complicated") only set the scene, and
their words cannot make a covered question look uncovered. A sentence that held personal
data, removed before searching (``[phone number]``), is about the person, not the guidance: it is
left out of what is searched and judged (the model is still given the question as redacted), unless
what is left leans on it ("Is he right?"): then only the labels are left out.
"""

from __future__ import annotations

import re

from .evidence.claims import split_sentences as sentences
from .evidence.words import terms
from .types import Turn

_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|and if|so|then|or)\b"
    r"|\b(it|its|it's|that|this|those|these|they|them|their|there|he|she|his|her|same|above|previous|earlier)\b",
    re.IGNORECASE,
)
# "who usually sits on one?", "before using one?": "one" ending a question stands for something named before.
_POINTS_BACK = re.compile(r"\bones?\W*$", re.IGNORECASE)
# A question asked in a whole clause of its own: a question word or a verb first ("What is failure demand?",
# "Can I work from a cafe?"), not a phrase leaning on the last answer ("part-time staff?", "TOP SECRET?").
_ASKS_WHOLE = re.compile(
    r"^(what|what's|whats|who|who's|when|where|why|how|which|can|could|do|does|did|is|are|am|should|shall|may|"
    r"must|will|would|has|have)\b",
    re.IGNORECASE,
)
SHORT_QUESTION_WORDS = 6
MAX_CONDENSED_CHARS = 1000
MAX_SUBJECT_QUESTIONS = 2  # a chain of follow-ups keeps the question that started it


def is_follow_up(question: str, previous: str = "") -> bool:
    """Whether ``question`` leans on ``previous`` (the question before it): it says so ("and", "what
    about", "it", "that", a closing "one"), or it is short without being a question of its own. A short
    question with two content words is one of its own when it is asked in a whole clause ("What is
    failure demand?") or shares no word with ``previous`` ("model drift?" after a question about
    laptops); "Part-time staff?" after a question about full-time staff's leave leans on it. Joined to
    the last subject, a change of topic was searched, and answered, as the old one."""
    if _FOLLOW_UP.search(question) or _POINTS_BACK.search(question):
        return True
    if len(question.split()) > SHORT_QUESTION_WORDS:
        return False
    own = set(terms(question))
    if len(own) < 2:
        return True
    return not (_ASKS_WHOLE.match(question) or (previous and not own & set(terms(previous))))


def follow_up_subject(question: str, turns: list[Turn]) -> str:
    """The earlier question(s) a follow-up leans on, oldest first; "" for a question standing alone."""
    previous = [t.text.strip() for t in turns if t.role == "user" and t.text.strip()]
    if not previous or not is_follow_up(question.strip(), previous[-1]):
        return ""
    subject = [previous[-1]]
    for earlier in reversed(previous[:-1]):
        if len(subject) >= MAX_SUBJECT_QUESTIONS or not is_follow_up(subject[0], earlier):
            break
        subject.insert(0, earlier)
    return " ".join(subject)


def condense(question: str, turns: list[Turn]) -> str:
    """A standalone question: ``question`` itself, or for a follow-up its subject then it."""
    question = question.strip()
    subject = follow_up_subject(question, turns)
    if not subject:
        return question
    return f"{subject} {question}"[-MAX_CONDENSED_CHARS:].strip()


def _leans(asking: str) -> bool:
    """Whether a question cannot stand without the sentences before it: short, or pointing back
    ("Is he right?", "Can I ask for that instead?")."""
    return len(asking.split()) <= SHORT_QUESTION_WORDS or is_follow_up(asking)


def without_redacted(text: str, labels: tuple[str, ...]) -> str:
    """``text`` less its sentences holding one of ``labels`` (what redaction left, "[phone number]"),
    or, when every sentence holds one or what is left leans on them ("My colleague ([email address])
    says he can carry over 10 days. Is he right?"), less the labels alone: a question left with
    nothing to ask about would be judged "not covered"."""
    if not any(label in text for label in labels):
        return text
    parts = sentences(text)
    kept = [s for s in parts if not any(label in s for label in labels)]
    if kept and not _leans(" ".join(kept)):
        return " ".join(kept)
    for label in labels:
        text = text.replace(label, " ")
    return re.sub(r"\s+", " ", text).strip()


def asked_and_context(text: str) -> tuple[str, str]:
    """The sentences of ``text`` that ask (ending in "?") and the statements around them, when there
    are both and the asking ones have two content words of their own; else ``(text, "")``. "My manager says
    I need approval to work abroad. Is that right?" asks nothing without its statement: it is
    judged whole."""
    parts = sentences(text)
    asking = [s for s in parts if s.endswith("?")]
    context = [s for s in parts if not s.endswith("?")]
    # "Can I ask for that instead?" leans on its statement as a follow-up leans on its subject, and so
    # does any short question beside one ("I work part-time. How much leave do I get?").
    joined = " ".join(asking)
    if not asking or not context or len(terms(joined)) < 2 or _leans(joined):
        return text.strip(), ""
    return " ".join(asking), " ".join(context)
