"""What chat would answer a question from one collection: a door the assistant opens.

The curators' "Try a question" page shows what retrieval returns, and, once the assistant has
registered its preview here when it starts (``register_answer_preview``), whether chat would answer
the question or say it is not covered, why, and what it would quote. This app imports nothing of
the assistant.
"""

from __future__ import annotations

from collections.abc import Callable

AnswerPreview = Callable[[object, str, str], dict]  # (user, question, collection slug) -> preview
_previews: list[AnswerPreview] = []


def register_answer_preview(preview: AnswerPreview) -> None:
    if preview not in _previews:
        _previews.append(preview)


def answer_preview(user, question: str, collection: str) -> dict | None:
    """The registered preview of chat's answer (None when no assistant is installed)."""
    return _previews[0](user, question, collection) if _previews else None
