"""A fake OpenAI-compatible chat server on 127.0.0.1: the real HTTP + SSE protocol, a scripted model.

Used by the tests (in a thread, ``FakeOpenAIServer().start()``) and by the load benchmark (as a
process): ``python -m tests.fakes.openai_server --port 8081 --ttft-ms 300 --tokens-per-second 30``.

``POST /v1/chat/completions`` (stream or not) answers according to the *scenario*:

- ``ok``: after ``ttft_ms``, the reply streamed a word per chunk at ``tokens_per_second``, then a
  final chunk with ``usage`` (when ``stream_options.include_usage``) and ``data: [DONE]``;
- ``error``: HTTP ``status`` (429, 500, 503...) with an OpenAI error body; ``fail_times`` = fail that
  many requests, then behave as ``ok`` (for retry tests);
- ``stall``: ``stall_after`` words, then silence until the client gives up;
- ``error_mid_stream``: ``stall_after`` words, then an ``error`` event (as OpenAI sends when overloaded);
- ``cut_off``: ``stall_after`` words in a chunked response, then half an event and the connection
  dropped without the chunked body's end (a model server killed mid-answer: the client's read fails);
- ``ends_early``: ``stall_after`` words, then the response ends cleanly at an event's end, with no
  ``finish_reason`` and no ``data: [DONE]`` (a killed server whose response is delimited by the
  connection closing, as this server's others are);
- ``no_done``: as ``ok``, but without ``data: [DONE]`` (the ``finish_reason`` says it is finished);
- ``no_first_token``: headers, then silence;
- ``garbage``: a malformed SSE stream (text that is not JSON);
- ``echo``: the reply is the ``reply`` text with ``{passages}`` replaced by the number of
  ``<passage`` fences it was sent.

``POST /v1/embeddings`` answers with deterministic vectors (a hashed bag of words, L2-normalised, of
the ``dimensions`` asked for; base64 when ``encoding_format`` is ``base64``, as the SDK asks by
default), or fails with HTTP ``embeddings_status`` when that is not 200 (only for inputs holding
``embeddings_fail_on``, if set). Each request body is kept in ``embedding_requests`` (``GET /_embeddings``): what an
embedding endpoint was sent.

The scenario comes from the server's settings, changed with ``POST /_control`` (JSON of the fields
of ``Behaviour`` to change), or per request from a model name ``fake:<scenario>``. Every request body is kept
(``GET /_requests``, newest last; ``DELETE /_requests`` forgets them); in a test, ``seen`` holds each
chat request's path and credentials header.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import struct
import threading
import time
from dataclasses import asdict, dataclass, fields

DEFAULT_REPLY = (
    "According to the guidance, the rule is set out in the first passage [1]. "
    "It also explains how to apply it in practice [1]."
)


@dataclass
class Behaviour:
    scenario: str = "ok"
    reply: str = DEFAULT_REPLY
    ttft_ms: float = 0.0
    tokens_per_second: float = 0.0  # 0 = as fast as possible
    status: int = 503
    fail_times: int = -1  # -1: every request fails (error scenario)
    stall_after: int = 3
    finish_reason: str = "stop"  # what the last chunk says: "length" (max_tokens reached), "content_filter"...
    usage_prompt: int = 123
    usage_completion: int | None = None  # None: the number of words streamed
    embeddings_status: int = 200  # another status: /embeddings requests fail with it ...
    embeddings_fail_on: str = ""  # ... those whose input holds this text ("": every one)


class FakeOpenAIServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, **behaviour) -> None:
        self.host, self.port = host, port
        self.behaviour = Behaviour(**behaviour)
        self.requests: list[dict] = []
        self.embedding_requests: list[dict] = []  # each /embeddings request body, newest last
        self.seen: list[dict] = []  # each chat request's path (query included) and credentials header
        self.failures = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def configure(self, *, merge: bool = False, **changes) -> None:
        """Set the behaviour: the defaults plus ``changes`` (or, with ``merge``, the current one plus them)."""
        base = asdict(self.behaviour) if merge else {}
        self.behaviour = Behaviour(**{**base, **changes})
        self.failures = 0

    # --- running ---------------------------------------------------------------------------
    async def serve(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        async with self._server:
            await self._server.serve_forever()

    def start(self) -> FakeOpenAIServer:
        """Run in a daemon thread with its own event loop; returns once listening."""

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            with contextlib.suppress(asyncio.CancelledError):
                self._loop.run_until_complete(self.serve())

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:

            def shutdown() -> None:
                self._server.close()
                for task in asyncio.all_tasks(self._loop):
                    task.cancel()

            self._loop.call_soon_threadsafe(shutdown)
        if self._thread is not None:
            self._thread.join(5)

    # --- HTTP ------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                if "/chat/completions" in path:  # where each request went and how it authenticated
                    credentials = {k: headers[k] for k in ("api-key", "authorization") if k in headers}
                    self.seen.append({"path": path, **credentials})
                keep = await self._route(method, path.split("?")[0], body, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        except asyncio.CancelledError:
            raise
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _json(self, writer, status: int, payload, *, extra: str = "") -> bool:
        data = json.dumps(payload).encode()
        head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n{extra}\r\n"
        writer.write(head.encode() + data)
        await writer.drain()
        return True

    async def _route(self, method: str, path: str, body: bytes, writer) -> bool:
        if path == "/_control" and method == "POST":
            changes = json.loads(body or b"{}")
            known = {f.name for f in fields(Behaviour)}
            self.configure(merge=True, **{k: v for k, v in changes.items() if k in known})
            return await self._json(writer, 200, asdict(self.behaviour))
        if path == "/_requests":
            if method == "DELETE":
                self.requests.clear()
            return await self._json(writer, 200, self.requests)
        if path.endswith("/chat/completions") and method == "POST":
            return await self._completion(json.loads(body), writer)
        if path == "/_embeddings":
            if method == "DELETE":
                self.embedding_requests.clear()
            return await self._json(writer, 200, self.embedding_requests)
        if path.endswith("/embeddings") and method == "POST":
            return await self._embeddings(json.loads(body), writer)
        if path.endswith("/models"):
            return await self._json(writer, 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        return await self._json(writer, 404, {"error": {"message": "not found", "type": "not_found"}})

    async def _embeddings(self, request: dict, writer) -> bool:
        self.embedding_requests.append(request)
        del self.embedding_requests[:-500]
        b = self.behaviour
        if b.embeddings_status != 200 and b.embeddings_fail_on in json.dumps(request.get("input")):
            error = {"message": "embeddings unavailable", "type": "server_error", "code": None}
            return await self._json(writer, b.embeddings_status, {"error": error})
        texts = request.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        size = int(request.get("dimensions") or 384)
        as_base64 = request.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = _hashed_vector(str(text), size)
            embedding = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        words = sum(len(str(t).split()) for t in texts)
        return await self._json(
            writer,
            200,
            {
                "object": "list",
                "data": data,
                "model": str(request.get("model", "fake")),
                "usage": {"prompt_tokens": words, "total_tokens": words},
            },
        )

    async def _completion(self, request: dict, writer) -> bool:
        received = time.monotonic()  # for the load benchmark: the model's own time to first token
        self.requests.append(request)
        del self.requests[:-500]  # a long benchmark must not grow without bound
        b = self.behaviour
        scenario = b.scenario
        model = str(request.get("model", ""))
        if model.startswith("fake:"):
            scenario = model.split(":", 1)[1]
        if scenario == "error" and (b.fail_times < 0 or self.failures < b.fail_times):
            self.failures += 1
            return await self._json(
                writer,
                b.status,
                {"error": {"message": f"fake error {b.status}", "type": "server_error", "code": None}},
                extra="retry-after: 0\r\n",
            )
        reply = b.reply
        if scenario == "echo":
            text = json.dumps(request.get("messages", []))
            reply = reply.replace("{passages}", str(text.count("<passage n=")))
        words = reply.split(" ")
        words = [w if i == 0 else " " + w for i, w in enumerate(words)]
        created = int(time.time())

        def chunk(delta: dict | None, *, usage: dict | None = None, finish: str | None = None) -> bytes:
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model or "fake",
                "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                payload["usage"] = usage
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        usage = {
            "prompt_tokens": b.usage_prompt,
            "completion_tokens": b.usage_completion if b.usage_completion is not None else len(words),
            "total_tokens": b.usage_prompt + (b.usage_completion if b.usage_completion is not None else len(words)),
        }
        if not request.get("stream"):
            return await self._json(
                writer,
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": created,
                    "model": model or "fake",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                },
            )
        # ``cut_off`` frames its body in chunks, so that a client can tell a body cut short from one that
        # ended; the others end their body by closing the connection.
        chunked = scenario == "cut_off"
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            + (b"transfer-encoding: chunked\r\n" if chunked else b"")
            + b"connection: close\r\n\r\n"
        )
        await writer.drain()

        def send(data: bytes) -> None:
            writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)

        if scenario == "no_first_token":
            await asyncio.sleep(3600)
            return False
        if b.ttft_ms:
            await asyncio.sleep(b.ttft_ms / 1000)
        if scenario == "garbage":
            send(b'data: {"id": "x", "choices": [ {not json at all\n\n')
            send(b"data: \x00\x01 garbage <html>\n\n")
            await writer.drain()
            return False
        send(chunk({"role": "assistant", "content": ""}))
        interval = 1 / b.tokens_per_second if b.tokens_per_second else 0
        for i, word in enumerate(words):
            if scenario == "stall" and i == b.stall_after:
                await writer.drain()
                await asyncio.sleep(3600)
                return False
            if scenario == "cut_off" and i == b.stall_after:
                # A pause first, so the words before are read: a client's read that fails drops what
                # it had buffered (aiohttp's does), as when a server dies mid-answer.
                await asyncio.sleep(interval or 0.05)
                send(b'data: {"id": "chatcmpl-fake", "choices": [{"index": 0, "delta": {"cont')
                await writer.drain()
                writer.transport.abort()  # no end to the chunked body: gone, as a killed process is
                return False
            if scenario == "ends_early" and i == b.stall_after:
                await writer.drain()
                return False  # the connection is closed after the last whole event: no finish, no [DONE]
            if scenario == "error_mid_stream" and i == b.stall_after:
                send(b'data: {"error": {"message": "The server is overloaded.", "type": "server_error"}}\n\n')
                await writer.drain()
                return False
            if i and interval:
                await asyncio.sleep(interval)
            if i == 0:
                request["_timing"] = {"first_token_ms": round((time.monotonic() - received) * 1000, 2)}
            send(chunk({"content": word}))
            await writer.drain()
        send(chunk({}, finish=b.finish_reason))
        if (request.get("stream_options") or {}).get("include_usage"):
            send(chunk(None, usage=usage))
        if scenario != "no_done":
            send(b"data: [DONE]\n\n")
        if chunked:
            writer.write(b"0\r\n\r\n")  # the chunked body's end
        await writer.drain()
        return False


def _hashed_vector(text: str, size: int) -> list[float]:
    """Shared words make nearby vectors; meaningless otherwise (as ``documents.embeddings.FakeEmbeddings``)."""
    vector = [0.0] * size
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "little") % size] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if not norm:
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before the first token")
    parser.add_argument("--tokens-per-second", type=float, default=0.0, help="0 = as fast as possible")
    parser.add_argument(
        "--scenario",
        default="ok",
        help="ok|error|stall|error_mid_stream|cut_off|ends_early|no_done|no_first_token|garbage|echo",
    )
    parser.add_argument("--status", type=int, default=503, help="HTTP status for the error scenario")
    parser.add_argument("--reply", default=DEFAULT_REPLY, help="text streamed back, a word per chunk")
    args = parser.parse_args()
    server = FakeOpenAIServer(
        args.host,
        args.port,
        scenario=args.scenario,
        ttft_ms=args.ttft_ms,
        tokens_per_second=args.tokens_per_second,
        status=args.status,
        reply=args.reply,
    )
    print(f"fake OpenAI server on http://{args.host}:{args.port}/v1 ({args.scenario})", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve())


if __name__ == "__main__":
    main()
