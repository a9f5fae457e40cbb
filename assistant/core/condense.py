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
left out of what is searched and judged (the model is still given the question as redacted).
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
SHORT_QUESTION_WORDS = 6
MAX_CONDENSED_CHARS = 1000
MAX_SUBJECT_QUESTIONS = 2  # a chain of follow-ups keeps the question that started it


def is_follow_up(question: str) -> bool:
    words = question.split()
    return len(words) <= SHORT_QUESTION_WORDS or bool(_FOLLOW_UP.search(question))


def follow_up_subject(question: str, turns: list[Turn]) -> str:
    """The earlier question(s) a follow-up leans on, oldest first; "" for a question standing alone."""
    previous = [t.text.strip() for t in turns if t.role == "user" and t.text.strip()]
    if not previous or not is_follow_up(question.strip()):
        return ""
    subject = [previous[-1]]
    for earlier in reversed(previous[:-1]):
        if len(subject) >= MAX_SUBJECT_QUESTIONS or not is_follow_up(subject[0]):
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


def without_redacted(text: str, labels: tuple[str, ...]) -> str:
    """``text`` less its sentences holding one of ``labels`` (what redaction left, "[phone number]"),
    or, when every sentence holds one, less the labels alone."""
    if not any(label in text for label in labels):
        return text
    parts = sentences(text)
    kept = [s for s in parts if not any(label in s for label in labels)]
    if kept:
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
    # "Can I ask for that instead?" leans on its statement as a follow-up leans on its subject.
    if not asking or not context or len(terms(" ".join(asking))) < 2 or is_follow_up(" ".join(asking)):
        return text.strip(), ""
    return " ".join(asking), " ".join(context)
