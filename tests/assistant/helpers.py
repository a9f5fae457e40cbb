"""Talking to the chat consumer in-process (``WebsocketCommunicator``)."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from assistant.core.types import Source
from humphrey.routing import websocket_urlpatterns

APP = URLRouter(websocket_urlpatterns)


async def connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(APP, "/ws/chat/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def ask(communicator, text: str, *, conversation=None, collections=None) -> None:
    await communicator.send_to(
        text_data=json.dumps({"type": "ask", "conversation": conversation, "text": text, "collections": collections})
    )


async def frames_until_end(communicator, timeout: float = 10) -> list[dict]:
    """Frames up to and including the ``done`` or ``error`` that ends an answer."""
    frames = []
    while True:
        frame = json.loads(await communicator.receive_from(timeout=timeout))
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


async def ask_once(user, text: str, **ask_options) -> list[dict]:
    """Connect as ``user``, ask ``text`` and return the frames up to the answer's end."""
    communicator = await connect(user)
    try:
        await ask(communicator, text, **ask_options)
        return await frames_until_end(communicator)
    finally:
        await communicator.disconnect()


def make_source(n: int, text: str, *, title: str = "Guide", **fields) -> Source:
    """A passage as the model-facing core sees it (no database), numbered ``n``."""
    return Source(
        n=n,
        chunk_id=n,
        text=text,
        document_id=n,
        document_title=title,
        version_id=n,
        version_number=1,
        version_sha256="0" * 64,
        collection_slug="hr",
        marking="OFFICIAL",
        **fields,
    )


@database_sync_to_async
def conversation_page(user, conversation_id: int) -> str:
    """The conversation's page as its owner sees it on reopening it."""
    client = Client()
    client.force_login(user)
    return client.get(reverse("assistant:conversation", args=[conversation_id])).content.decode()
