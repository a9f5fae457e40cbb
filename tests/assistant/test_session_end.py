"""A chat socket is closed (4401) as soon as its session ends, not on its next frame: signed out in
another tab, or the account deactivated, deleted or given a new password, while an answer streams.
Other sessions of the same person, and other people, keep working."""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from assistant.models import Message, Speaker, Status
from tests.factories import signed_in_session

from .helpers import ask, connect
from .test_browser import chat_site

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How many days of annual leave do full-time staff get?"
# About six seconds at 8 words a second: long enough to sign out while it streams.
SLOW_REPLY = " ".join(["Full-time staff get 25 days of annual leave a year [1]."] * 5)
# How long a test waits for a signed-out socket to close: far less than the answer it was showing
# takes to finish, so a close that came only with the answer's end (or the next frame) is not one.
PROMPTLY = 3.0


# --- Signing out in another tab, over real sockets on Daphne ------------------------------------


@pytest.fixture
def slow_site(guidance, openai_server):
    """Daphne (its in-memory channel layer, as ``make run``), answering slowly via the fake server."""
    server = chat_site(openai_server, ttft_ms=100, tokens_per_second=8, reply=SLOW_REPLY)
    yield server
    server.stop()


def sign_out(url: str, session: str) -> None:
    """What the "Sign out" button does: the confirmation page's form posted with its CSRF token."""
    with httpx.Client(base_url=url, timeout=10) as http:
        page = http.get("/accounts/logout/", headers={"Cookie": f"sessionid={session}"})
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        cookie = re.search(r"csrftoken=([^;]+)", "; ".join(page.headers.get_list("set-cookie"))).group(1)
        response = http.post(
            "/accounts/logout/",
            data={"csrfmiddlewaretoken": token},
            headers={"Cookie": f"sessionid={session}; csrftoken={cookie}"},
        )
    assert response.status_code == 302, response.status_code


class Tab:
    """A chat page's socket, signed in with ``session``."""

    def __init__(self, url: str, session: str) -> None:
        self.url, self.session = url, session

    async def __aenter__(self) -> Tab:
        self.ws = await ws_connect(
            self.url.replace("http://", "ws://") + "/ws/chat/",
            origin=self.url,
            additional_headers={"Cookie": f"sessionid={self.session}"},
            open_timeout=10,
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def frame(self, timeout: float = 15) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout=timeout))

    async def until(self, kinds: tuple[str, ...]) -> list[dict]:
        frames = [await self.frame()]
        while frames[-1]["type"] not in kinds:
            frames.append(await self.frame())
        return frames

    async def closed(self, timeout: float) -> tuple[int | None, list[dict]]:
        """The close code, and the frames that arrived before it."""
        frames = []
        try:
            while True:
                frames.append(await self.frame(timeout))
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None), frames


def test_signing_out_in_another_tab_closes_that_sessions_sockets_and_no_other(slow_site, staff):
    """Two tabs share a session (one answering a slow question, one idle); another browser of the same
    person has its own session. Signing out in a third tab of the first session closes both of its
    sockets with 4401 within seconds, mid-answer, with no ``done``; the other browser's socket still
    answers. The answer being written is not lost: it completes and is stored, as for a dropped socket."""
    here, elsewhere = signed_in_session(staff), signed_in_session(staff)

    async def run():
        async with (
            Tab(slow_site.url, here) as asking,
            Tab(slow_site.url, here) as idle,
            Tab(slow_site.url, elsewhere) as other,
        ):
            await asking.send({"type": "ask", "conversation": None, "text": QUESTION, "collections": None})
            before = await asking.until(("delta", "done", "error"))
            assert before[-1]["type"] == "delta", before  # streaming when the session ends
            await asyncio.to_thread(sign_out, slow_site.url, here)
            asking_closed = await asking.closed(timeout=PROMPTLY)
            idle_closed = await idle.closed(timeout=PROMPTLY)
            await other.send({"type": "ping"})
            pong = await other.frame()
            await other.send({"type": "ask", "conversation": None, "text": QUESTION, "collections": None})
            answered = await other.until(("done", "error"))
        return asking_closed, idle_closed, pong, answered

    (code, after), (idle_code, idle_frames), pong, answered = asyncio.run(run())
    assert code == 4401
    assert {f["type"] for f in after} <= {"delta", "sources", "notice"}  # the rest of the answer is not shown
    assert idle_code == 4401 and idle_frames == []
    assert pong == {"type": "pong"}
    assert answered[-1]["type"] == "done" and answered[-1]["status"] == "complete"
    # The first answer completed on the server after its tab was closed, and was stored whole.
    deadline = time.monotonic() + 20
    while Message.objects.filter(role=Speaker.ASSISTANT, status=Status.STREAMING).exists():
        assert time.monotonic() < deadline, "an answer was never stored"
        time.sleep(0.2)
    first = Message.objects.filter(role=Speaker.ASSISTANT).order_by("pk").first()
    assert first.status == Status.COMPLETE and "25 days" in first.text


# --- The account changed while an answer streams (in process) -----------------------------------


def _deactivate(user) -> None:
    fresh = get_user_model().objects.get(pk=user.pk)
    fresh.is_active = False
    fresh.save()  # as the admin does


def _change_password(user) -> None:
    fresh = get_user_model().objects.get(pk=user.pk)
    fresh.set_password("a-quite-different-passphrase-2")
    fresh.save()


@database_sync_to_async
def db(fn, *args, **kwargs):
    return fn(*args, **kwargs)


async def _closed(ws, timeout: float) -> tuple[dict, list[dict]]:
    """The close message, and the frames sent before it."""
    frames = []
    while True:
        output = await ws.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output, frames
        frames.append(json.loads(output["text"]))


@pytest.mark.parametrize("change", [_deactivate, _change_password], ids=["deactivated", "password changed"])
async def test_an_account_changed_mid_answer_has_its_sockets_closed_at_once(
    guidance, staff, make_user, fake_model, change
):
    """The account is deactivated, or its password changed, while its answer streams and another of
    its sockets is idle: both are closed with 4401 at once, without waiting for a frame from them, and
    the answer is not shown further. Another person's socket is not touched."""
    fake_model(reply=SLOW_REPLY, delay=0.1)
    other = await db(make_user, "olive@example.gov.uk", groups=["All staff"])
    asking, idle, others = await connect(staff), await connect(staff), await connect(other)
    try:
        await ask(asking, QUESTION)
        first = json.loads(await asking.receive_from(timeout=10))
        while first["type"] != "delta":
            first = json.loads(await asking.receive_from(timeout=10))
        await db(change, staff)
        closed, after = await _closed(asking, PROMPTLY)
        idle_closed, _ = await _closed(idle, PROMPTLY)
        await others.send_to(text_data='{"type": "ping"}')
        pong = json.loads(await others.receive_from(timeout=5))
    finally:
        for ws in (asking, idle, others):
            await ws.disconnect()
    assert closed == idle_closed == {"type": "websocket.close", "code": 4401}
    assert "done" not in {f["type"] for f in after}  # closed mid-answer, not when it finished
    assert pong == {"type": "pong"}


async def test_a_deleted_account_has_its_socket_closed(guidance, make_user):
    user = await db(make_user, "leaver@example.gov.uk", groups=["All staff"])
    ws = await connect(user)
    try:
        await db(lambda: get_user_model().objects.filter(pk=user.pk).get().delete())
        closed = await ws.receive_output(timeout=PROMPTLY)
    finally:
        await ws.disconnect()
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_signing_in_again_or_editing_the_name_leaves_the_socket_open(guidance, staff):
    """Saves that cannot end a session (``last_login`` at a sign-in elsewhere, a changed name) close nothing."""

    def touch(user) -> None:
        fresh = get_user_model().objects.get(pk=user.pk)
        Client().force_login(fresh)  # saves last_login alone
        fresh.first_name = "Sam"
        fresh.save()

    ws = await connect(staff)
    try:
        await db(touch, staff)
        assert await ws.receive_nothing(timeout=1)
        await ws.send_to(text_data='{"type": "ping"}')
        pong = json.loads(await ws.receive_from(timeout=5))
    finally:
        await ws.disconnect()
    assert pong == {"type": "pong"}
