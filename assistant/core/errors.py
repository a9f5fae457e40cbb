"""Errors with a stable ``code`` (what clients and the audit rely on) and a plain-English message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import Attempts


class AnswerError(Exception):
    """Something stopped an answer. ``code`` is stable; ``message`` is for the person asking."""

    code = "internal_error"
    message = "Something went wrong while answering. Try again; if it keeps happening, tell the service team."
    status = "failed"  # the Message status it leaves

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        if code:
            self.code = code
        if message:
            self.message = message
        super().__init__(self.message)


class ModelError(AnswerError):
    code = "model_error"
    message = "The language model returned an error. Try again in a moment."
    # ``assistant.core.types.Attempts``: the HTTP requests the failed call took, set by a model reached
    # over HTTP when it fails before its first word (after that, it has streamed its ``Attempts``).
    attempts: Attempts | None = None


class ModelUnavailable(ModelError):
    code = "model_unavailable"
    message = "The language model is not available at the moment. Try again in a few minutes."


class ModelBusy(ModelError):
    code = "model_busy"
    message = "The language model is too busy to answer now. Try again in a minute."


class ModelTimeout(ModelError):
    code = "model_timeout"
    message = "The language model did not start answering in time. Try again in a moment."


class ModelStalled(ModelError):
    code = "model_stalled"
    message = "The language model stopped part-way through. The partial answer is kept; ask again for a full one."
    status = "stalled"


class ModelCutOff(ModelStalled):
    """The model's stream broke off after some text: its connection dropped, it reported an error or
    sent what cannot be read, or it simply ended without saying the answer was whole (no
    ``finish_reason``, no ``[DONE]``, as when its server is killed). What came is a fragment, never an
    answer: it is kept as *stalled*, not judged as if the model had finished."""

    code = "model_cut_off"
    message = (
        "The language model's answer broke off part-way through. The partial answer is kept; ask again for a full one."
    )


class ModelTooSlow(ModelStalled):
    code = "model_too_slow"
    message = (
        "The language model took longer than this service allows for one answer, so it was cut short. "
        "The partial answer is kept; ask again for a full one."
    )


class ModelTooLong(ModelStalled):
    code = "model_too_long"
    message = "The language model's answer ran past the longest this service keeps, so it was cut short."


class ModelMaxTokens(ModelStalled):
    """The model stopped because it reached the most tokens it may write (``finish_reason: length``):
    what it wrote ends mid-thought, so it is kept as unfinished, not shown as a whole answer."""

    code = "model_max_tokens"
    message = (
        "The language model reached the longest answer it may write, so this answer stops short. "
        "The partial answer is kept; ask a narrower question for a full one."
    )


class ModelWithheld(ModelStalled):
    """The model's service stopped the answer with its content filter (``finish_reason:
    content_filter``, as Azure OpenAI's does): what came before is kept as unfinished."""

    code = "model_content_filter"
    message = "The language model's service stopped this answer part-way (its content filter). Ask in other words."


class ModelBadStream(ModelError):
    code = "model_bad_response"
    message = "The language model sent a response we could not read. Try again in a moment."


def message_for(code: str) -> str:
    """The message the person was shown live for an error ``code`` (a reopened conversation says the
    same); "" for a code no error here has. ``model_http_<status>`` is a model error."""
    found: dict[str, str] = {}
    pending = [AnswerError]
    while pending:
        kind = pending.pop()
        found.setdefault(kind.code, kind.message)
        pending.extend(kind.__subclasses__())
    if code.startswith("model_http_"):
        return ModelError.message
    return found.get(code, "")
