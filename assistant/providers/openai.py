"""OpenAI, Azure OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp), streamed.

Timeouts: ``connect`` (TCP/TLS), ``first_token`` (request sent -> first text) and ``between_tokens``
(gap between chunks; a stall after some text keeps the partial answer as *stalled*). Retries are
ours, not the SDK's, so they are bounded and visible: one retry on a connection error, and up to
``retries`` on 429/500/502/503/504 with exponential backoff and full jitter (honouring a short
Retry-After), and only before any text has arrived; the ``Attempts`` a call took (how many requests,
why each failed one failed) are streamed before its text, or carried by its error, for the answer's
audit event. A circuit breaker per endpoint fails fast while it is down. Usage comes from the final
chunk (``stream_options.include_usage``).

An answer is finished only when the model says so, with a ``finish_reason`` or ``data: [DONE]``. A
stream that ends or breaks off otherwise (its server killed, the connection dropped, an error event)
after some text raises ``ModelCutOff``: the fragment is kept as *stalled*, never judged as an answer;
before any text it fails as a model failing before its first word does (the guidance is quoted instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
import weakref
from collections.abc import AsyncIterator

import aiohttp
import httpx
import openai

from assistant.core.errors import (
    ModelBadStream,
    ModelBusy,
    ModelCutOff,
    ModelError,
    ModelMaxTokens,
    ModelStalled,
    ModelTimeout,
    ModelTooLong,
    ModelTooSlow,
    ModelUnavailable,
    ModelWithheld,
)
from assistant.core.types import Attempts, ChatRequest, ModelInfo, TextDelta, Usage, service_host

from .base import CircuitBreaker, check_marking

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


_DONE = object()


def _sse_event(event: bytes):
    """One event's JSON object; ``None`` for an event without data; ``_DONE`` for ``[DONE]``."""
    data = [
        line[6:] if line.startswith(b"data: ") else line[5:] for line in event.splitlines() if line.startswith(b"data:")
    ]
    if not data:
        return None  # comments (": keep-alive"), bare event names, retry hints
    payload = b"\n".join(data)
    if payload.strip() == b"[DONE]":
        return _DONE
    value = json.loads(payload)
    if not isinstance(value, dict):
        raise ValueError("an event that is not a JSON object")
    return value


class SSEPayloads:
    """The JSON objects of an OpenAI-style server-sent event stream (iterate over it), until
    ``data: [DONE]``; ``done`` says, once it has ended, whether it ended there rather than with the
    bytes running out.

    Parsed with ``json.loads`` rather than into one SDK (pydantic) object per token: with a hundred
    answers streaming, those objects were a fifth of the web process's CPU. Raises ``ValueError``
    for an event that is not a JSON object.
    """

    def __init__(self, blocks: AsyncIterator[bytes]) -> None:
        self.blocks = blocks
        self.done = False

    def __aiter__(self) -> AsyncIterator[dict]:
        return self._payloads()

    async def _payloads(self) -> AsyncIterator[dict]:
        buffer = b""
        async for block in self.blocks:
            buffer += block
            *events, buffer = _EVENT_END.split(buffer)
            for event in events:
                value = _sse_event(event)
                if value is _DONE:
                    self.done = True
                    return
                if value is not None:
                    yield value
        value = _sse_event(buffer)  # a last event the server did not end with a blank line
        if value is _DONE:
            self.done = True
        elif value is not None:
            yield value


def _closed_with_loop(client):
    """Close ``client`` when its event loop shuts down, not at garbage collection (where aiohttp
    complains of an unclosed session). ``loop.shutdown_asyncgens()`` (called by ``asyncio.run``,
    servers and test loops) finishes every suspended async generator: this one closes the client.
    Returns the generator, which the caller keeps for as long as the client."""

    async def until_loop_shutdown():
        try:
            yield
        finally:
            await client.close()

    holder = until_loop_shutdown()
    with contextlib.suppress(StopIteration):
        holder.__anext__().send(None)  # run to the ``yield``: now the loop knows it
    return holder


class OpenAIChatModel:
    uses_language_model = True

    def __init__(
        self,
        *,
        alias: str = "default",
        model: str = "gpt-4o-mini",
        api_key: str = "",
        base_url: str = "",
        max_marking: str = "OFFICIAL",
        temperature: float = 0.1,
        max_tokens: int = 800,
        connect_timeout: float = 5.0,
        first_token_timeout: float = 20.0,
        between_tokens_timeout: float = 15.0,
        answer_timeout: float = 300.0,
        retries: int = 2,
        backoff: float = 0.5,
        backoff_cap: float = 4.0,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        **_: object,
    ) -> None:
        self.alias = alias
        self.model = model
        self.api_key = api_key or "not-needed"  # local OpenAI-compatible servers ignore it
        self.base_url = base_url or None
        self.max_marking = check_marking(alias, max_marking)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.connect_timeout = connect_timeout
        self.first_token_timeout = first_token_timeout
        self.between_tokens_timeout = between_tokens_timeout
        self.answer_timeout = max(answer_timeout, first_token_timeout)
        # A server that ignores max_tokens is still stopped: a token is rarely over four characters.
        self.max_chars = max_tokens * 8
        self.retries = retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.breaker = CircuitBreaker(threshold=breaker_threshold, cooldown=breaker_cooldown)
        self.info = ModelInfo(
            endpoint=alias,
            name=model,
            params={"temperature": temperature, "max_tokens": max_tokens},
            provider="openai-compatible" if base_url else "openai",
            host=service_host(base_url or "https://api.openai.com/v1"),
            max_marking=self.max_marking,
        )
        # One HTTP client per event loop: httpx pools cannot be shared between loops.
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # --- client ------------------------------------------------------------------------------
    def _timeout(self) -> httpx.Timeout:
        # The stream's own deadlines (first token, between tokens) are kept in ``stream``; the
        # transport's read timeout only backs them up, so it must not be the shorter of the two.
        read = max(self.first_token_timeout, self.between_tokens_timeout) + 1
        return httpx.Timeout(connect=self.connect_timeout, read=read, write=10.0, pool=self.connect_timeout)

    def _http_client(self):
        """aiohttp under the SDK: reading a token stream costs a fraction of the CPU of httpx's
        default transport (measured: docs/performance.md). Proxies from the environment still apply."""
        return openai.DefaultAioHttpClient(timeout=self._timeout())

    def _make_client(self):
        return openai.AsyncOpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self._timeout(),
            max_retries=0,
            http_client=self._http_client(),
        )

    def client(self):
        loop = asyncio.get_running_loop()
        held = self._clients.get(loop)
        if held is None:
            client = self._make_client()
            held = self._clients[loop] = (client, _closed_with_loop(client))
        return held[0]

    # --- streaming ---------------------------------------------------------------------------
    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                seconds = float(retry_after)
            except ValueError:
                seconds = -1
            if 0 <= seconds <= self.backoff_cap:
                return seconds
        # Full jitter: spreads retries from many users so they do not arrive together.
        return random.uniform(0, min(self.backoff_cap, self.backoff * 2**attempt))

    def _body(self, request: ChatRequest) -> dict:
        return {
            "model": self.model,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    async def _open(self, request: ChatRequest, deadline: float, failures: list[int | str]) -> httpx.Response:
        """Send the request, retrying as described above; returns the streamed HTTP response, its
        body not yet read (the SDK has raised for an error status by then). Each request that fails
        adds to ``failures`` what it met (its HTTP status, ``connection_error`` or ``timeout``)."""
        connection_retries, status_retries = 0, 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ModelTimeout()
            try:
                # The SDK's client sends it (authentication, Azure's deployment path and api-version,
                # timeouts), through ``post`` rather than ``chat.completions.create``: create() walks
                # the body against its typed parameters before sending, a cost per request that a burst
                # of a hundred questions waits for in turn on the event loop (measured: README, chat load). The body is
                # plain JSON already, and its fields are the same.
                opening = self.client().post(
                    "/chat/completions",
                    cast_to=httpx.Response,
                    body=self._body(request),
                    stream=True,
                )
                return await asyncio.wait_for(opening, timeout=remaining)
            except TimeoutError:
                failures.append("timeout")
                raise ModelTimeout() from None
            except openai.APITimeoutError:
                failures.append("timeout")
                raise ModelTimeout() from None
            except openai.APIConnectionError:
                failures.append("connection_error")
                if connection_retries >= 1:
                    raise ModelUnavailable() from None
                connection_retries += 1
                await asyncio.sleep(self._delay(0, None))
            except openai.APIStatusError as exc:
                failures.append(exc.status_code)
                if exc.status_code not in RETRY_STATUSES:
                    raise ModelError(code=f"model_http_{exc.status_code}") from None
                if status_retries >= self.retries:
                    if exc.status_code == 429:
                        raise ModelBusy() from None
                    raise ModelUnavailable() from None
                await asyncio.sleep(self._delay(status_retries, exc.response.headers.get("retry-after")))
                status_retries += 1

    async def stream(self, request: ChatRequest) -> AsyncIterator[TextDelta | Usage | Attempts]:
        failures: list[int | str] = []
        try:
            self.breaker.check()
            started = time.monotonic()
            try:
                response = await self._open(request, started + self.first_token_timeout, failures)
            except (ModelTimeout, ModelUnavailable, ModelBusy):
                self.breaker.failure()
                raise
        except ModelError as exc:
            exc.attempts = Attempts(len(failures), tuple(failures))  # every request sent failed
            raise
        yield Attempts(len(failures) + 1, tuple(failures))  # the last request sent is this one
        got_text = False
        finished = False  # a choice's finish_reason came: the model says its answer is whole
        reason = ""  # that finish_reason: "stop" is a whole answer; "length" and "content_filter" are not
        usage: Usage | None = None
        written = 0
        ends = started + self.answer_timeout
        payloads = SSEPayloads(response.aiter_bytes())
        iterator = payloads.__aiter__()
        try:
            while True:
                if got_text:
                    if time.monotonic() >= ends:
                        raise ModelTooSlow()
                    timeout = min(self.between_tokens_timeout, max(0.001, ends - time.monotonic()))
                else:
                    timeout = max(0.001, started + self.first_token_timeout - time.monotonic())
                try:
                    # asyncio.timeout, not wait_for: wait_for wraps every read in a new task, and with a
                    # hundred answers streaming that is thousands of tasks a second on the event loop.
                    async with asyncio.timeout(timeout):
                        chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except (TimeoutError, openai.APITimeoutError, httpx.TimeoutException):
                    if got_text and time.monotonic() >= ends - 0.01:
                        raise ModelTooSlow() from None  # slow, not silent: not the model's fault to count
                    self.breaker.failure()
                    raise (ModelStalled() if got_text else ModelTimeout()) from None
                except ModelError:
                    raise
                except (httpx.HTTPError, ConnectionError, aiohttp.ClientError) as exc:
                    # The connection dropped (the model's server killed or restarted, a proxy gave up).
                    logger.warning("chat model %s: the stream broke off: %s", self.alias, type(exc).__name__)
                    self.breaker.failure()
                    raise (ModelCutOff() if got_text else ModelUnavailable()) from None
                except Exception as exc:  # malformed SSE / JSON from the server
                    logger.warning("chat model %s sent an unreadable stream: %s", self.alias, type(exc).__name__)
                    raise (ModelCutOff() if got_text else ModelBadStream()) from None
                if chunk.get("error"):
                    logger.warning("chat model %s reported an error mid-stream", self.alias)
                    raise ModelCutOff() if got_text else ModelError()
                try:
                    if chunk.get("usage"):
                        u = chunk["usage"]
                        usage = Usage(
                            prompt_tokens=int(u.get("prompt_tokens") or 0),
                            completion_tokens=int(u.get("completion_tokens") or 0),
                            total_tokens=int(u.get("total_tokens") or 0),
                        )
                    for choice in chunk.get("choices") or ():
                        if choice.get("finish_reason"):
                            finished = True
                            reason = str(choice["finish_reason"])
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            if not isinstance(text, str):
                                raise TypeError("content is not text")
                            got_text = True
                            written += len(text)
                            if written > self.max_chars:
                                raise ModelTooLong()
                            yield TextDelta(text)
                except (AttributeError, TypeError, ValueError):
                    raise ModelBadStream() from None
        finally:
            # Closing a broken stream must not hide the real error.
            with contextlib.suppress(Exception):
                await response.aclose()
        if not (finished or payloads.done):
            # Ended without the model saying it had finished (no finish_reason, no [DONE]): its server
            # went away mid-answer, and a response delimited by its connection closing ends as if
            # whole. What came is a fragment, not an answer, however it reads.
            logger.warning("chat model %s: the stream ended before the answer was finished", self.alias)
            self.breaker.failure()
            raise ModelCutOff() if got_text else ModelBadStream()
        if reason == "length" and got_text:  # max_tokens reached: the answer stops mid-thought
            raise ModelMaxTokens()
        if reason == "content_filter":  # the service withheld the rest of the answer
            raise ModelWithheld() if got_text else ModelError(code="model_content_filter")
        if not got_text:  # finished, having said nothing: not an answer either
            raise ModelBadStream()
        self.breaker.success()
        if usage is not None:
            yield usage


class AzureOpenAIChatModel(OpenAIChatModel):
    """Azure OpenAI: ``endpoint``, ``api_version`` and ``deployment`` (the deployment is the model)."""

    def __init__(self, *, endpoint: str = "", api_version: str = "2024-10-21", deployment: str = "", **config) -> None:
        config.setdefault("model", deployment)
        super().__init__(**config)
        self.endpoint = endpoint
        self.api_version = api_version
        self.deployment = deployment or self.model
        self.info = ModelInfo(
            endpoint=self.alias,
            name=self.deployment,
            params=self.info.params,
            provider="azure",
            host=service_host(endpoint),
            max_marking=self.max_marking,
        )

    def _make_client(self):
        return openai.AsyncAzureOpenAI(
            azure_endpoint=self.endpoint,
            api_key=self.api_key,
            api_version=self.api_version,
            azure_deployment=self.deployment,
            timeout=self._timeout(),
            max_retries=0,
            http_client=self._http_client(),
        )
