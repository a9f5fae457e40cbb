"""The data the core works on. Frozen dataclasses; no Django."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from urllib.parse import urlsplit

from documents.retrieval.types import VECTOR, WORDS, PassageFields


@dataclass(frozen=True, kw_only=True)
class Source(PassageFields):
    """A passage as shown to the model, numbered ``n`` (1-based) in the prompt.

    Its provenance and scores are retrieval's own fields (``PassageFields``, Django-free, from
    ``documents.retrieval.types``: documents may not import assistant, so the shared part lives
    there); build one from a retrieved passage with ``Source(n=..., **Source.passage_fields(p))``.
    """

    n: int
    # Answer units ([start, end, kind, context] in ``text``) and their vectors (n x 384), when stored.
    units: tuple = ()
    unit_vectors: object = field(default=None, compare=False, repr=False)
    # The scores' older names, still accepted when a source is built by hand: each fills its channel
    # in ``scores`` unless that is given; read back through PassageFields' properties.
    vector_score: InitVar[float | None] = None
    keyword_score: InitVar[float | None] = None

    def __post_init__(self, vector_score: float | None, keyword_score: float | None) -> None:
        given = {VECTOR: vector_score, WORDS: keyword_score}
        missing = {name: value for name, value in given.items() if value is not None and name not in self.scores}
        if missing:
            object.__setattr__(self, "scores", {**self.scores, **missing})


# @dataclass leaves the InitVars' defaults on the class, where they would hide the properties.
del Source.vector_score, Source.keyword_score


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
    caution: str = ""  # said first when the evidence was only just enough (``Coverage.caution``)


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
class Attempts:
    """The HTTP requests one call to a model took: ``count`` sent (0: refused without sending, its
    endpoint's circuit breaker open) and, in order, what each one that failed met: an HTTP status, or
    ``"connection_error"`` or ``"timeout"``. A call is retried only before its first word, so its
    attempts are all known by then."""

    count: int
    failures: tuple[int | str, ...] = ()

    def as_dict(self) -> dict:
        return {"attempts": self.count, "failed_attempts": list(self.failures)}


@dataclass(frozen=True)
class ModelInfo:
    """What the audit says about the model: endpoint alias, model name, parameters, and for a model
    reached over the network, which kind of service and which host the question was sent to, and the
    highest marking that endpoint is approved for (an auditor asks where the data went)."""

    endpoint: str
    name: str
    params: dict = field(default_factory=dict)
    provider: str = ""  # "openai", "openai-compatible", "azure"; "" for answerers in this process
    host: str = ""  # host[:port] of the service, never its path, query or credentials
    max_marking: str = ""

    def as_dict(self) -> dict:
        where = {"provider": self.provider, "host": self.host, "max_marking": self.max_marking} if self.host else {}
        return {"endpoint": self.endpoint, "name": self.name, "params": dict(self.params), **where}


def service_host(url: str) -> str:
    """The host (and port) of a service's address, for the audit: what a department asks when it
    wants to know where questions went, without the path, query or any credentials in the address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if host and port else host
