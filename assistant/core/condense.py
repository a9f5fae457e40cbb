"""Condense a follow-up into a standalone question for retrieval, from recent turns.

Without asking a model (which would add a whole round trip before the first token): a question that
leans on the conversation ("what about part-time staff?", "does that apply to them?") is joined to
the previous question, so retrieval searches for both topics; a question that stands alone is used
as it is.
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


def is_follow_up(question: str) -> bool:
    words = question.split()
    return len(words) <= SHORT_QUESTION_WORDS or bool(_FOLLOW_UP.search(question))


def condense(question: str, turns: list[Turn]) -> str:
    """A standalone question: ``question`` itself, or the previous question plus it for a follow-up."""
    question = question.strip()
    previous = [t.text.strip() for t in turns if t.role == "user" and t.text.strip()]
    if not previous or not is_follow_up(question):
        return question
    return f"{previous[-1]} {question}"[-MAX_CONDENSED_CHARS:].strip()
