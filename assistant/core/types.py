"""The data the core works on. Frozen dataclasses; no Django."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """A passage as shown to the model, numbered ``n`` (1-based) in the prompt."""

    n: int
    chunk_id: int
    text: str
    document_id: int
    document_title: str
    version_id: int
    version_number: int
    version_sha256: str
    collection_slug: str
    marking: str
    heading_path: str = ""
    anchor: str = ""
    page: int | None = None
    vector_score: float | None = None
    keyword_score: float | None = None
    score: float = 0.0
    # Answer units ([start, end, kind, context] in ``text``) and their vectors (n x 384), when stored.
    units: tuple = ()
    unit_vectors: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation (role is ``user`` or ``assistant``)."""

    role: str
    text: str


@dataclass(frozen=True)
class ChatRequest:
    """Everything a chat model is given for one answer."""

    messages: list[dict]  # OpenAI-style [{"role": ..., "content": ...}], exactly as sent
    sources: list[Source]
    question: str  # the standalone question (after condensing and any redaction)
    evidence: list | None = None  # the sources' units scored against the question, best first
    quotes: list | None = None  # what an extractive answer quotes, chosen once (streamed, then highlighted)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def as_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class ModelInfo:
    """What the audit says about the model: endpoint alias, model name, parameters."""

    endpoint: str
    name: str
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"endpoint": self.endpoint, "name": self.name, "params": dict(self.params)}
