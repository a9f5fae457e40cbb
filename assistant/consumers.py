"""The chat websocket: a doorway. Parse and check a frame, hand the question to
``assistant.services.pipeline``, send back the events, stop on request. No ORM, prompt or provider
code here.

Frames and close codes: docs/websocket-protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db.utils import Error as DatabaseError

from assistant.core.errors import AnswerError
from assistant.db import db_call
from assistant.intake import SessionEnded, account_unchanged, refuse_bad_characters
from assistant.services.pipeline import AnswerRun, answer_start
from assistant.services.record import ACCESS_REFUSALS, ask_refusal_record
from assistant.signals import account_group, session_group
from humphrey.proxies import scope_client_address

logger = logging.getLogger(__name__)

# Not signed in, the session ended, or since the socket opened the account was deactivated or its
# password changed: sign in and reconnect.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_POLICY = 1008  # too many frames
CLOSE_TOO_BIG = 1009  # a frame larger than HUMPHREY_CHAT_MAX_FRAME_BYTES
CLOSE_TOO_MANY_SOCKETS = 4429  # this person already has HUMPHREY_CHAT_MAX_SOCKETS_PER_USER chat sockets open here

# Chat sockets open in this process, by user id. Each process counts its own (a socket lives in one
# process, and a count kept elsewhere would outlive a process that was killed).
_open_sockets: Counter[int] = Counter()


class _Window:
    """At most ``limit`` events in any 60 seconds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.times: deque[float] = deque()

    def allow(self) -> bool:
        now = time.monotonic()
        while self.times and now - self.times[0] > 60:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.run: AnswerRun | None = None
        self.pump: asyncio.Task | None = None
        self.user = None  # set while the socket serves its user
        self.counted: int | None = None  # the user id this socket counts against in _open_sockets
        self.joined: list[str] = []  # the groups told when its session or account ends (assistant.signals)
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated or not user.is_active:
            # Accept then close, so the browser sees a code it can act on instead of a failed handshake.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if _open_sockets[user.pk] >= settings.HUMPHREY_CHAT_MAX_SOCKETS_PER_USER:
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        _open_sockets[user.pk] += 1
        self.counted = user.pk
        self.user = user
        # The session auth hash as the socket opened: a changed password changes it (checked each frame).
        self.auth_hash = user.get_session_auth_hash()
        self.client_ip = scope_client_address(self.scope)
        self.frames = _Window(settings.HUMPHREY_CHAT_FRAMES_PER_MINUTE)
        self.questions = _Window(settings.HUMPHREY_CHAT_QUESTIONS_PER_MINUTE)
        await self._join(user)

    async def _join(self, user) -> None:
        """Join the groups told when this socket's session is signed out or its account changes."""
        session_key = getattr(self.scope.get("session"), "session_key", None)
        groups = [account_group(user.pk)] + ([session_group(session_key)] if session_key else [])
        if self.channel_layer is None:
            return
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined.append(group)
        except Exception:  # the socket still works; it is closed on its next frame instead
            logger.warning("chat user %s's socket could not join its groups", user.pk, exc_info=True)

    async def disconnect(self, code) -> None:
        if getattr(self, "counted", None) is not None:
            _open_sockets[self.counted] -= 1
            if _open_sockets[self.counted] <= 0:
                del _open_sockets[self.counted]
            self.counted = None
        for group in getattr(self, "joined", ()):
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []
        await self._stop_listening()

    async def error(self, code: str, message: str, **extra) -> None:
        await self.send(text_data=json.dumps({"type": "error", "code": code, "message": message, **extra}))

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if getattr(self, "user", None) is None:
            return
        size = len(text_data.encode("utf-8", "surrogatepass")) if text_data is not None else len(bytes_data or b"")
        if size > settings.HUMPHREY_CHAT_MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        if not self.frames.allow():
            await self.close(code=CLOSE_POLICY)
            return
        frame = None
        if text_data is not None:
            try:
                frame = json.loads(text_data)
            except (ValueError, RecursionError):  # RecursionError: nested too deeply ("[" * 6000)
                frame = ValueError
        kind = frame.get("type") if isinstance(frame, dict) else None
        # The account is checked before any frame is handled: a question in the same transaction that
        # stores it (``questions_store``, with ``auth_hash``), which saves it a database round trip
        # before its answer can begin, or in ``refuse_ask`` if it is refused before that; every other
        # frame here.
        if kind != "ask" and not await self._account_unchanged():
            self._signed_out()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if text_data is None:
            await self.error("bad_frame", "Send text frames holding JSON.")
            return
        if frame is ValueError:
            await self.error("bad_json", "That message was not valid JSON.")
            return
        if not isinstance(frame, dict):
            await self.error("bad_frame", "Send a JSON object with a type.")
            return
        if kind == "ask":
            await self.ask(frame)
        elif kind == "stop":
            if self.run is not None:
                self.run.stop()
        elif kind == "ping":
            await self.send(text_data='{"type":"pong"}')
        else:
            await self.error("unknown_type", "Unknown message type. Use ask or stop.")

    async def ask(self, frame: dict) -> None:
        text, conversation, collections = frame.get("text"), frame.get("conversation"), frame.get("collections")
        if not isinstance(text, str):
            await self.refuse_ask("bad_frame", "An ask needs text: your question.")
            return
        if conversation is not None and (isinstance(conversation, bool) or not isinstance(conversation, int)):
            await self.refuse_ask("bad_frame", "conversation must be a number or null.")
            return
        if collections is not None and (
            not isinstance(collections, list) or not all(isinstance(c, str) for c in collections)
        ):
            await self.refuse_ask("bad_frame", "collections must be a list of collection names.")
            return
        if self.pump is not None and not self.pump.done():
            await self.refuse_ask("busy", "Wait for this answer to finish, or stop it, before asking again.")
            return
        if not self.questions.allow():
            await self.refuse_ask("rate_limited", "You are asking questions too quickly. Wait a minute and try again.")
            return
        try:
            # Refused here too, before the question reaches work shared with other people's questions.
            refuse_bad_characters(text)
        except AnswerError as exc:
            await self.refuse_ask(exc.code, exc.message)
            return
        try:
            self.run = await answer_start(
                user=self.user,
                conversation_id=conversation,
                text=text,
                collections=collections,
                session=self.scope.get("session"),  # signed out or expired since connecting: 4401
                auth_hash=self.auth_hash,  # deactivated, or the password changed, since connecting: 4401
                client_ip=self.client_ip,
            )
        except SessionEnded:
            self._signed_out()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        except AnswerError as exc:
            if exc.code in ACCESS_REFUSALS:
                await self._access_refused(exc.code, conversation, collections)
            await self.error(exc.code, exc.message)
            return
        self.pump = asyncio.get_running_loop().create_task(self._forward(self.run))

    async def refuse_ask(self, code: str, message: str) -> None:
        """An ask refused before it reaches the store, whose transaction checks the account: checked
        here instead, so a deactivated or re-passworded account is closed with 4401 whatever it sent,
        as for every other frame, and told nothing else."""
        if not await self._account_unchanged():
            self._signed_out()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.error(code, message)

    async def _access_refused(self, code: str, conversation, collections) -> None:
        try:
            await db_call(ask_refusal_record)(
                user=self.user,
                code=code,
                conversation_id=conversation,
                collections=collections,
                client_ip=self.client_ip,
            )
        except DatabaseError:  # the person is still told; the log keeps what the trail could not
            logger.exception("could not record user %s's refused question (%s)", self.user.pk, code)

    def _signed_out(self) -> None:
        self.user = None  # frames still in flight are ignored

    # --- told by assistant.signals -----------------------------------------------------------
    async def chat_session_ended(self, message: dict) -> None:
        """This socket's session was signed out (in this tab or another)."""
        await self._session_end()

    async def chat_account_changed(self, message: dict) -> None:
        """The account was saved or deleted: checked as before a frame, and the socket closed if the
        account was deactivated, deleted or its password changed."""
        if getattr(self, "user", None) is not None and not await self._account_unchanged():
            await self._session_end()

    async def _session_end(self) -> None:
        """Nothing more is shown on this socket, and it is closed with 4401 at once, mid-answer or not.
        The answer being written is not stopped: like one whose socket dropped, it completes, is stored
        and audited, and is shown once the person signs in again (as the page then tells them)."""
        if getattr(self, "user", None) is None:
            return
        self._signed_out()
        await self._stop_listening()
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _stop_listening(self) -> None:
        """Nothing more of the answer being written reaches this socket. The answer itself keeps going
        and is stored (as when a connection drops), to be read once the person is back."""
        if self.run is not None:
            self.run.detach()
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pump

    async def _account_unchanged(self) -> bool:
        """Whether the account is still active with the password it had when the socket opened."""
        try:
            return await db_call(account_unchanged)(self.user.pk, self.auth_hash)
        except DatabaseError:
            # Nothing can be asked while the database is away (a question is stored before anything
            # else), and a blip must not close every socket at once: checked again on the next frame.
            logger.warning("could not check chat user %s's account: database unavailable", self.user.pk)
            return True

    async def _forward(self, run: AnswerRun) -> None:
        async for event in run.events():
            await self.send(text_data=json.dumps(event))
