"""The chat socket under random frames (Hypothesis): whatever a signed-in person sends (any JSON, any
types, sizes, unicode, nesting, wrong fields, binary), the consumer never crashes and every reply is a
documented frame or error code, or a documented close code. The documented sets are read from
docs/websocket-protocol.md itself, so the protocol page and the code cannot drift apart."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import APP

pytestmark = [pytest.mark.django_db(transaction=True)]

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "websocket-protocol.md").read_text()


def _table(heading: str) -> set[str]:
    section = PROTOCOL.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return {code for row in re.findall(r"^\| (.+?) \|", section, re.M) for code in re.findall(r"`([\w<>]+)`", row)}


ERROR_CODES = _table("Error codes")
CLOSE_CODES = {int(code) for code in _table("Close codes") if code.isdigit()}
FRAME_TYPES = {"accepted", "notice", "sources", "delta", "done", "error", "pong"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
frames = st.one_of(
    # well-formed frames of every documented type, with fields of any type
    st.fixed_dictionaries(
        {"type": st.sampled_from(["ask", "stop", "ping", "nope", ""]) | st.text(max_size=8)},
        optional={
            "text": st.text(max_size=300) | json_values,
            "conversation": st.none() | st.integers() | st.text(max_size=10) | json_values,
            "collections": st.none() | st.lists(st.text(max_size=10), max_size=3) | json_values,
        },
    ).map(json.dumps),
    json_values.map(json.dumps),  # any JSON at all
    st.text(max_size=300),  # not JSON
    st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n),  # nested too deeply
    st.integers(min_value=1, max_value=40_000).map(lambda n: '{"type": "ask", "text": "' + "x" * n + '"}'),
    st.binary(max_size=200),
)


async def _exchange(user, frame) -> tuple[list[dict], int | None]:
    """Send one frame on a fresh socket; the replies until the exchange settles, and the close code."""
    communicator = WebsocketCommunicator(APP, "/ws/chat/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    replies, closed = [], None
    try:
        # As the server delivers it (the helper's send_to refuses an empty frame, a client may not).
        key = "bytes" if isinstance(frame, bytes) else "text"
        await communicator.send_input({"type": "websocket.receive", key: frame})
        waited = 0.0
        while waited < 5.0:
            # receive_nothing waits without cancelling the consumer (a receive_output timing out would).
            if await communicator.receive_nothing(timeout=0.2):
                waited += 0.2
                if not replies and waited >= 1.0:
                    break  # a frame answered with silence (a "stop" with nothing to stop)
                continue
            output = await communicator.receive_output(timeout=1)
            if output["type"] == "websocket.close":
                closed = output.get("code", 1000)
                break
            reply = json.loads(output["text"])
            replies.append(reply)
            if reply["type"] in ("done", "error") or reply["type"] == "pong":
                break
    finally:
        await communicator.disconnect()
    return replies, closed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_random_frames_get_documented_answers_and_never_crash_the_consumer(guidance, staff, frame):
    """Every reply is a documented frame; every error a documented code; a close a documented code."""
    replies, closed = asyncio.run(_exchange(staff, frame))
    for reply in replies:
        assert reply["type"] in FRAME_TYPES, reply
        if reply["type"] == "error":
            assert reply["code"] in ERROR_CODES or reply["code"].startswith("model_http_"), reply
            assert "Traceback" not in reply["message"] and "Error(" not in reply["message"]
    assert closed is None or closed in CLOSE_CODES or closed == 1000, closed
    assert replies or closed is not None or _is_stop(frame), f"no reply to {frame!r}"


def _is_stop(frame) -> bool:
    """A well-formed "stop" is answered with silence when nothing is being written (documented)."""
    try:
        return json.loads(frame).get("type") == "stop"
    except (ValueError, TypeError, AttributeError, RecursionError):
        return False
