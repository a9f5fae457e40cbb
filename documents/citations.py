"""Whether a passage was given to a person in one of their own answers: a door the assistant opens.

A retired document, a superseded version or an unfinished ingest is never searched, and its passages
are not for reading by URL; but an answer that cited one keeps working for the person it was given
to. Which answers cite what is the assistant's to know, and this app imports nothing of it: the
assistant registers its check here when it starts (``register_cited_check``).
"""

from __future__ import annotations

from collections.abc import Callable

CitedCheck = Callable[[object, int], bool]  # (user, chunk id) -> was it cited to them?
_checks: list[CitedCheck] = []


def register_cited_check(check: CitedCheck) -> None:
    if check not in _checks:
        _checks.append(check)


def cited_to(user, chunk_id: int) -> bool:
    """Whether ``chunk_id`` was cited in an answer given to ``user``."""
    return any(check(user, chunk_id) for check in _checks)
