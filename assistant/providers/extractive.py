"""The answerer used when no language model is configured: it quotes the best passages, cited.

It never paraphrases, so it cannot invent anything; it says plainly that no language model is set up.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from assistant.core.types import ChatRequest, ModelInfo, TextDelta, Usage

NOTICE = (
    "No language model is configured, so here are the most relevant passages from the guidance, "
    "quoted word for word. Check them against your question."
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _quote(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    sentences, out = _SENTENCE.split(text), ""
    for sentence in sentences:
        if len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    return out or text[:limit].rsplit(" ", 1)[0] + "…"


class ExtractiveAnswerer:
    uses_language_model = False

    def __init__(self, *, alias: str = "extractive", passages: int = 3, quote_chars: int = 600, **_: object) -> None:
        self.alias = alias
        self.passages = passages
        self.quote_chars = quote_chars
        self.max_marking = "OFFICIAL-SENSITIVE"  # nothing leaves the process
        self.info = ModelInfo(endpoint=alias, name="extractive", params={"passages": passages})

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | Usage]:
        yield TextDelta(NOTICE + "\n\n")
        for source in request.sources[: self.passages]:
            where = source.document_title
            if source.heading_path:
                where = f"{where}, {source.heading_path.split(' > ')[-1]}"
            quote = _quote(source.text, self.quote_chars).replace("\n", " ")
            yield TextDelta(f"**{where}**\n\n> {quote} [{source.n}]\n\n")
            await asyncio.sleep(0)
        yield Usage()
