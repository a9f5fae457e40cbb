"""Condense a follow-up into a standalone question for retrieval, from recent turns.

Without asking a model (which would add a whole round trip before the first token): a question that
leans on the conversation ("and on my phone?", "does that apply to them?") is joined to the subject
it leans on, the earlier question (and the one before that, when the earlier one was itself a
follow-up), so retrieval searches for both; a question that stands alone is used as it is. The
evidence scoring then counts the follow-up's own words in full and the subject's at half weight
(``assistant.core.evidence``), so the answer is about what was asked now.
"""

from __future__ import annotations

import re

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
