"""The whole path over real sockets: browser-like websocket client -> Daphne -> Humphrey -> the
``openai`` SDK -> the fake OpenAI-compatible HTTP server, and back. Also the model's faults."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import Client
from django.urls import reverse
from websockets.asyncio.client import connect as ws_connect

from assistant.models import Message, Status
from audit.models import AuditEvent
from tests.conftest import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)


def live_server(staff, openai_server, **settings):
    """Daphne on the test database, its chat model the fake server (short timeouts, one retry)."""
    openai_server.configure(scenario="ok", tokens_per_second=200)
    server = AsgiServer(
        OPENAI_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY="test-key",
        HUMPHREY_CHAT_MODEL="fake-model",
        HUMPHREY_EMBEDDINGS_PROVIDER="fake",
        HUMPHREY_ANSWER_MIN_EVIDENCE="0.2",
        HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY="0.1",
        HUMPHREY_CHAT_FIRST_TOKEN_TIMEOUT="1.5",
        HUMPHREY_CHAT_BETWEEN_TOKENS_TIMEOUT="1",
        HUMPHREY_CHAT_RETRIES="1",
        **settings,
    )
    client = Client()
    client.force_login(staff)
    return server, client.cookies["sessionid"].value


@pytest.fixture
def live(guidance, staff, openai_server):
    """The model's faults end answers with their error (no quoting instead), so each can be seen."""
    server, session = live_server(staff, openai_server, HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS="0")
    yield server, session
    server.stop()


@pytest.fixture
def live_quoting(guidance, staff, openai_server):
    """As deployed by default: a model that fails before its first word is answered for by quoting."""
    server, session = live_server(staff, openai_server)
    yield server, session
    server.stop()


async def ask_over_socket(url: str, session: str, text: str, *, origin: str | None = None) -> list[dict]:
    ws_url = url.replace("http://", "ws://") + "/ws/chat/"
    async with ws_connect(
        ws_url, origin=origin or url, additional_headers={"Cookie": f"sessionid={session}"}, open_timeout=10
    ) as ws:
        await ws.send(json.dumps({"type": "ask", "conversation": None, "text": text, "collections": None}))
        frames = []
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
            frames.append(frame)
            if frame["type"] in ("done", "error"):
                return frames


QUESTION = "How many days of annual leave do full-time staff get?"


def test_streamed_answer_over_a_real_socket_and_the_models_faults(live, openai_server):
    """Over Daphne and the openai SDK: streamed deltas and usage; then a model that errors (500 after
    retries), never starts (first-token timeout), stalls mid-stream (partial kept as stalled) and
    sends garbage. Each ends with a stable code, a stored status and exactly one audit event."""
    server, session = live

    frames = asyncio.run(ask_over_socket(server.url, session, QUESTION))
    done = frames[-1]
    assert done["type"] == "done" and done["status"] == "complete", frames
    assert [f["type"] for f in frames[:2]] == ["accepted", "sources"]
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == done["text"]
    assert done["usage"] == {"prompt_tokens": 123, "completion_tokens": 24, "total_tokens": 147}
    assert done["citations"][0]["document_title"] == "Leave policy"
    sent = openai_server.requests[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}

    outcomes = {}
    for scenario, extra in [
        ("error", {"status": 500}),
        ("no_first_token", {}),
        ("stall", {"stall_after": 4}),
        ("garbage", {}),
    ]:
        openai_server.configure(scenario=scenario, **extra)
        frames = asyncio.run(ask_over_socket(server.url, session, QUESTION))
        outcomes[scenario] = frames[-1]
        answer = Message.objects.get(pk=frames[0]["answer"])
        outcomes[scenario]["stored"] = (answer.status, answer.error_code, answer.text)

    assert outcomes["error"]["type"] == "error" and outcomes["error"]["code"] == "model_unavailable"
    assert outcomes["error"]["stored"][:2] == (Status.FAILED, "model_unavailable")
    assert outcomes["no_first_token"]["code"] == "model_timeout"
    assert outcomes["garbage"]["code"] == "model_bad_response"
    stalled = outcomes["stall"]
    assert stalled["type"] == "done" and stalled["status"] == "stalled"
    assert stalled["error"]["code"] == "model_stalled" and stalled["text"].startswith("According to the guidance")
    assert stalled["stored"][0] == Status.STALLED and stalled["stored"][2] == stalled["text"]
    for outcome in ("error", "no_first_token", "garbage"):
        assert outcomes[outcome]["message"]  # plain English for the person asking

    events = list(AuditEvent.objects.filter(action="answer").order_by("seq"))
    assert [e.outcome for e in events] == ["answered", "error", "error", "stalled", "error"]
    assert [e.data["error_code"] for e in events] == [
        None,
        "model_unavailable",
        "model_timeout",
        "model_stalled",
        "model_bad_response",
    ]
    assert events[0].data["usage"]["total_tokens"] == 147
    host = openai_server.base_url.split("//", 1)[1].split("/", 1)[0]
    assert events[0].data["model"] == {  # where the question went, for the auditor: the service's host only
        "endpoint": "default",
        "name": "fake-model",
        "params": {"temperature": 0.1, "max_tokens": 800},
        "provider": "openai-compatible",
        "host": host,
        "max_marking": "OFFICIAL",
        "attempts": 1,  # HTTP requests sent, retries included
        "failed_attempts": [],
    }


def test_a_model_that_fails_before_its_first_word_is_answered_for_by_quoting_the_guidance(
    live_quoting, openai_server, auditor
):
    """Down (500 after retries), silent (first-token timeout) or garbled: the person still gets the
    guidance's own sentences, cited, saying why it quotes; the audit event is an answer that names the
    model that failed and its error. A model that stalls after its first words keeps its partial answer."""
    from assistant.providers.extractive import FALLBACK_NOTICE

    server, session = live_quoting
    done = {}
    for scenario, extra in [("error", {"status": 500}), ("no_first_token", {}), ("garbage", {}), ("stall", {})]:
        openai_server.configure(scenario=scenario, stall_after=4, **extra)
        done[scenario] = asyncio.run(ask_over_socket(server.url, session, QUESTION))[-1]
    for scenario in ("error", "no_first_token", "garbage"):
        frame = done[scenario]
        assert frame["type"] == "done" and frame["status"] == "complete", frame
        assert frame["text"].startswith(FALLBACK_NOTICE)
        assert "25 days" in frame["text"] and frame["citations"][0]["document_title"] == "Leave policy"
        assert Message.objects.get(pk=frame["message"]).status == Status.COMPLETE
    assert done["stall"]["status"] == "stalled" and done["stall"]["text"].startswith("According to the guidance")

    events = list(AuditEvent.objects.filter(action="answer").order_by("seq"))
    assert [e.outcome for e in events] == ["answered", "answered", "answered", "stalled"]
    assert [e.data["model"].get("error_code") for e in events] == [
        "model_unavailable",
        "model_timeout",
        "model_bad_response",
        None,
    ]
    assert events[0].data["model"]["name"] == "extractive"
    assert events[0].data["model"]["instead_of"]["name"] == "fake-model"
    assert events[0].data["error_code"] is None  # the person got an answer

    client = Client()
    client.force_login(auditor)
    trace = client.get(reverse("audit:event", args=[events[1].seq])).content.decode()
    assert "Quoted instead of" in trace and "model_timeout" in trace


def test_socket_from_a_foreign_origin_or_without_a_session_is_refused(live):
    """A foreign or missing Origin is refused at the handshake; a socket without a session is closed
    with 4401."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    server, session = live

    async def foreign():
        with pytest.raises(InvalidStatus) as refused:
            await ask_over_socket(server.url, session, QUESTION, origin="https://evil.example")
        return refused.value.response.status_code

    assert asyncio.run(foreign()) == 403

    async def no_origin():
        ws_url = server.url.replace("http://", "ws://") + "/ws/chat/"
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(ws_url, additional_headers={"Cookie": f"sessionid={session}"}):
                pass
        return refused.value.response.status_code

    assert asyncio.run(no_origin()) == 403

    async def anonymous():
        ws_url = server.url.replace("http://", "ws://") + "/ws/chat/"
        async with ws_connect(ws_url, origin=server.url) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
            return closed.value.rcvd.code

    assert asyncio.run(anonymous()) == 4401


def test_a_session_that_ended_closes_the_socket_on_the_next_question(live):
    """Signed out elsewhere (the session is gone): the next question closes the socket with 4401 and
    nothing is stored."""
    from django.contrib.sessions.models import Session
    from websockets.exceptions import ConnectionClosed

    server, session = live

    async def go():
        ws_url = server.url.replace("http://", "ws://") + "/ws/chat/"
        async with ws_connect(ws_url, origin=server.url, additional_headers={"Cookie": f"sessionid={session}"}) as ws:
            await ws.send('{"type": "ping"}')
            assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10)) == {"type": "pong"}
            await asyncio.to_thread(lambda: Session.objects.filter(session_key=session).delete())
            await ws.send(json.dumps({"type": "ask", "text": QUESTION}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
            return closed.value.rcvd.code

    assert asyncio.run(go()) == 4401
    assert Message.objects.count() == 0


def test_invalid_utf8_closes_the_socket_and_the_server_keeps_serving(live):
    """A text frame that is not UTF-8 makes the websocket layer drop the connection (Autobahn fails it,
    sometimes without a close frame); nothing is stored and the next socket works."""
    from websockets.exceptions import ConnectionClosed

    server, session = live
    ws_url = server.url.replace("http://", "ws://") + "/ws/chat/"

    async def go():
        headers = {"Cookie": f"sessionid={session}"}
        async with ws_connect(ws_url, origin=server.url, additional_headers=headers) as ws:
            await ws.send(b'{"type": "ask", "text": "\xff\xfe"}', text=True)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
        async with ws_connect(ws_url, origin=server.url, additional_headers=headers) as ws:
            await ws.send('{"type": "ping"}')
            pong = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        return closed.value.rcvd, pong

    received, pong = asyncio.run(go())
    assert received is None or received.code == 1007
    assert pong == {"type": "pong"}
    assert Message.objects.count() == 0
