"""A scripted chat model for unit tests: no network. Real HTTP paths use tests/fakes/openai_server.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from assistant.core.errors import ModelError
from assistant.core.types import ChatRequest, ModelInfo, TextDelta, Usage


class FakeChatModel:
    """Streams ``reply`` word by word (``{cite}`` becomes ``[1]``), optionally failing or pausing.

    Every request it receives is kept in ``requests`` (class-level, per alias) so tests can read the
    exact messages a model was sent.
    """

    uses_language_model = True
    requests: dict[str, list[ChatRequest]] = {}

    def __init__(
        self,
        *,
        alias: str = "fake",
        reply: str = "The answer is in the guidance {cite}.",
        delay: float = 0.0,
        error: str = "",
        max_marking: str = "OFFICIAL",
        **_: object,
    ) -> None:
        self.alias = alias
        self.reply = reply
        self.delay = delay
        self.error = error
        self.max_marking = max_marking
        self.info = ModelInfo(endpoint=alias, name="fake-model", params={"temperature": 0})

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | Usage]:
        FakeChatModel.requests.setdefault(self.alias, []).append(request)
        if self.error:
            raise ModelError(code=self.error)
        cite = f"[{request.sources[0].n}]" if request.sources else ""
        words = self.reply.replace("{cite}", cite).split(" ")
        for i, word in enumerate(words):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield TextDelta(word if i == 0 else " " + word)
        yield Usage(prompt_tokens=100, completion_tokens=len(words), total_tokens=100 + len(words))
