"""The answerer used when no language model is configured: it quotes the sentences that answer, cited.

It never paraphrases, so it cannot invent anything, and it says plainly that no language model is set
up. From the top passages it picks the units (sentences, whole list items, table rows with their
header) that answer the question by meaning and by the question's own words
(``assistant.core.evidence.select_units``), with the sentence or lead-in each needs, and leaves out
passages that do not help. About ``max_words`` words in all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from assistant.core.evidence import Quote, Weights, heading_line_above, score_units, select_units
from assistant.core.types import ChatRequest, ModelInfo, TextDelta, Usage
from documents.places import passage_place

NOTICE = (
    "No language model is configured, so Humphrey is quoting the guidance word for word: "
    "these are the sentences that best match your question. Check them against what you asked."
)
# Said instead when the configured language model failed before its first word (the answer pipeline's
# fallback, ``HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS``).
FALLBACK_NOTICE = (
    "The language model did not answer just now, so Humphrey is quoting the guidance word for word: "
    "these are the sentences that best match your question. Check them against what you asked."
)


def _label(source, index: int) -> str:
    """Where a quote is: its document and the heading it sits under in the passage ("2.3 Mileage", not
    the passage's first), else the passage's own place as its sources line says it (a passage of small
    sections joined: "(Section 2. What you cannot claim)", where it starts)."""
    title = source.document_title
    if heading := heading_line_above(source, index):
        return title if heading == title else f"{title}, {heading}"  # a first section is often the title
    shown, place = passage_place(title, source.heading_path, source.anchor)
    label = f"{title}, {shown.split(' > ')[-1]}" if shown else title
    return f"{label} ({place})" if place else label


def _blockquote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())


class ExtractiveAnswerer:
    uses_language_model = False

    def __init__(
        self, *, alias: str = "extractive", max_words: int = 120, passages: int = 3, notice: str = NOTICE, **_: object
    ) -> None:
        self.alias = alias
        self.notice = notice
        self.max_words = max_words
        self.passages = passages  # most sources quoted from
        self.max_marking = "OFFICIAL-SENSITIVE"  # nothing leaves the process
        self.info = ModelInfo(endpoint=alias, name="extractive", params={"max_words": max_words, "passages": passages})

    def quotes(self, request: ChatRequest) -> list[Quote]:
        """What the answer quotes (the services record these as the highlighted units)."""
        if request.quotes is not None:
            return request.quotes
        evidence = request.evidence
        if evidence is None:
            evidence = score_units(question=request.question, vector=None, sources=request.sources, weights=Weights())
        return select_units(evidence, max_words=self.max_words, max_sources=self.passages)

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | Usage]:
        yield TextDelta(self.notice + (f" **{request.caution}**" if request.caution else "") + "\n\n")
        for quote in self.quotes(request):
            source = quote.source
            yield TextDelta(f"**{_label(source, quote.indexes[0] if quote.indexes else 0)}**\n\n")
            quoted = _blockquote(quote.text())
            # After a table its own line: written on the last row, it would be a cell beyond the header's
            # and dropped, leaving a quote with no citation.
            cite = f"\n>\n> [{source.n}]" if quoted.endswith("|") else f" [{source.n}]"
            yield TextDelta(f"{quoted}{cite}\n\n")
            await asyncio.sleep(0)
        yield Usage()
