"""Scale-out: two ASGI processes share PostgreSQL and Redis; a conversation started on one continues on
the other after the first is stopped, with nothing lost and the audit chain linear."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import pytest
import websockets
from django.conf import settings

from tests.conftest import AsgiServer, free_port, wait_for_port
from tests.factories import signed_in_session


def session_cookie_for(user) -> str:
    """A real signed-in session in the shared database, as the browser would hold it."""
    return f"{settings.SESSION_COOKIE_NAME}={signed_in_session(user)}"


async def ask(port: int, cookie: str, text: str, conversation: int | None, collection: str) -> dict:
    """Ask one question over a real websocket; return the accepted and done frames."""
    uri = f"ws://127.0.0.1:{port}/ws/chat/"
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    frames: dict[str, dict] = {}
    async with websockets.connect(uri, additional_headers=headers) as socket:
        frame = {"type": "ask", "conversation": conversation, "text": text, "collections": [collection]}
        await socket.send(json.dumps(frame))
        while "done" not in frames and "error" not in frames:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=60))
            frames.setdefault(message["type"], message)
    return frames


@pytest.fixture
def redis_url():
    """A redis-server of this test's own, so stopping things here disturbs nothing else."""
    port = free_port()
    cmd = [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    wait_for_port(port, process=process)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_conversation_continues_on_second_process(redis_url, make_user, settings):
    """Process A answers the first question; A is stopped; process B answers the follow-up in the same
    conversation. Both answers are stored, each has one audit event, and the chain verifies."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from assistant.models import Conversation, Message
    from audit.models import AuditEvent
    from documents import services as documents

    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}
    settings.HUMPHREY_TASKS_IMMEDIATE = True
    user = make_user("casey@example.gov.uk", groups=["All staff"])
    curator = make_user("cara@example.gov.uk")
    collection = documents.collection_create(
        user=curator, name="HR", slug="hr", reader_groups=[Group.objects.get(name="All staff")]
    )
    text = (
        b"# Leave\n\nStaff get 25 days of annual leave a year plus bank holidays.\n\n"
        b"# Expenses\n\nClaim T&S within 30 days."
    )
    version = documents.document_upload(collection=collection, filename="leave.md", data=text, user=curator)
    documents.version_ingest(version.pk)
    cookie = session_cookie_for(user)
    env = {"REDIS_URL": redis_url, "HUMPHREY_EMBEDDINGS_PROVIDER": "fake"}

    first = AsgiServer(**env)
    second = AsgiServer(**env)
    try:
        frames = asyncio.run(ask(first.port, cookie, "How many days of annual leave do staff get?", None, "hr"))
        assert "done" in frames, frames
        conversation_id = frames["accepted"]["conversation"]
        first.stop()
        frames = asyncio.run(ask(second.port, cookie, "And when must T&S be claimed?", conversation_id, "hr"))
        assert "done" in frames, frames
        assert frames["accepted"]["conversation"] == conversation_id
    finally:
        first.stop()
        second.stop()

    conversation = Conversation.objects.get(pk=conversation_id)
    messages = list(Message.objects.filter(conversation=conversation).order_by("created_at", "pk"))
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    answers = AuditEvent.objects.filter(action="answer", subject=f"conversation:{conversation_id}")
    assert answers.count() == 2
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    call_command("verify_audit")  # raises CommandError (non-zero exit) on any break in the chain
