"""The one interface every chat model implements, and the circuit breaker they share.

Plain Python: no Django. A provider streams ``TextDelta`` and (at most once, at the end) ``Usage``
for a ``ChatRequest``, and raises ``assistant.core.errors.ModelError`` subclasses with stable codes.
A provider reached over HTTP also streams, once and before any text, the ``Attempts`` the call took
(retries included); when it fails before that, its error carries them (``ModelError.attempts``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from assistant.core.errors import ModelUnavailable
from assistant.core.types import Attempts, ChatRequest, ModelInfo, TextDelta, Usage

MARKINGS = ("OFFICIAL", "OFFICIAL-SENSITIVE")


@runtime_checkable
class ChatModel(Protocol):
    alias: str
    max_marking: str  # the highest security marking this endpoint is approved for
    info: ModelInfo
    uses_language_model: bool  # False for the extractive answerer

    def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | Usage | Attempts]: ...


class CircuitBreaker:
    """Fail fast while an endpoint is down: after ``threshold`` failures in a row, refuse calls for
    ``cooldown`` seconds, then let one trial call through (half-open); a success closes it again."""

    def __init__(self, *, threshold: int = 5, cooldown: float = 30.0, clock=time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None

    def check(self) -> None:
        if self.opened_at is None:
            return
        if self.clock() - self.opened_at >= self.cooldown:
            self.opened_at = None  # half-open: this call is the trial
            self.failures = self.threshold - 1
            return
        raise ModelUnavailable()

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None and self.clock() - self.opened_at < self.cooldown


def check_marking(alias: str, marking: str) -> str:
    if marking not in MARKINGS:
        raise ValueError(f"chat model {alias!r}: max_marking must be one of {', '.join(MARKINGS)}, not {marking!r}")
    return marking
