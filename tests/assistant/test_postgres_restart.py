"""PostgreSQL restarts while answers stream: each answer is completed and audited after reconnect, or
recorded as failed with a stable code and a plain-English message; nothing is left half-written and the
audit chain still verifies.

A throwaway embedded PostgreSQL 16 (pgvector) in a temporary directory, migrated and seeded by
``manage.py`` child processes, serves a real Daphne child whose chat model is the fake
OpenAI-compatible server. Four people ask at once over websockets. Two answers are long (they stream
across the whole outage); two are short (their text ends while PostgreSQL is down, so they can only
be stored once it is back).
PostgreSQL is stopped with ``pg_ctl -m fast stop`` (which kills every live connection) once every
socket has streamed text, and started again two seconds later. Nothing else (this run's test
database included) is touched.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from websockets.asyncio.client import connect as ws_connect

from tests.conftest import (
    ROOT,
    free_port,
    server_environment,
    stop_postgres,
    stop_process,
    throwaway_postgres,
    wait_for_port,
)
from tests.fakes.openai_server import FakeOpenAIServer

QUESTION = "How many days of annual leave do full-time staff get?"
LEAVE = (
    "Annual leave: full-time staff get 25 days of annual leave a year, rising to 30 days after five years "
    "of service. Part-time staff get annual leave pro rata."
)
# 34 words at 8 a second: about 4 s, so these stream across the whole outage.
LONG_REPLY = (
    "According to the leave policy, full-time staff get 25 days of annual leave a year [1]. "
    "After five years of service this rises to 30 days, and part-time staff get leave pro rata [1]."
)
# 11 words at 8 a second: about 1.3 s, so their text ends while PostgreSQL is down.
SHORT_REPLY = "Full-time staff get 25 days of annual leave a year [1]."
TOKENS_PER_SECOND = 8
PEOPLE = 4
DOWN_SECONDS = 2.0
# Codes an answer may end with when it could not be completed (docs/websocket-protocol.md).
FAILURE_CODES = {"storage_error"}

SEED = f"""
import json
from django.contrib.auth.models import Group
from accounts.services import user_create
from documents.models import Collection
from tests.factories import add_document, signed_in_session

group = Group.objects.create(name="All staff")
hr = Collection.objects.create(name="HR", slug="hr")
hr.reader_groups.add(group)
add_document(hr, [{LEAVE!r}], title="Leave policy", headings=["Leave policy > Annual leave"])
keys = []
for i in range({PEOPLE}):
    user = user_create(email=f"person{{i}}@example.gov.uk", password="correct-horse-battery-staple")
    user.groups.add(group)
    keys.append(signed_in_session(user))
print("RESULT=" + json.dumps(keys))
"""

STATE = """
import json
from assistant.models import Message, Speaker
from audit.models import AuditEvent

answers = list(Message.objects.filter(role=Speaker.ASSISTANT).values("id", "status", "error_code", "text"))
events = [
    {"message_id": e.data.get("message_id"), "outcome": e.outcome, "error_code": e.data.get("error_code")}
    for e in AuditEvent.objects.filter(action="answer").order_by("seq")
]
print("RESULT=" + json.dumps({"answers": answers, "events": events}))
"""


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def manage_result(env: dict[str, str], code: str):
    """Run ``code`` in ``manage.py shell`` on the throwaway database; return what it printed as RESULT=."""
    done = manage(env, "shell", "-c", code)
    assert done.returncode == 0, done.stderr
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT=")), None)
    assert line is not None, done.stdout + done.stderr
    return json.loads(line.removeprefix("RESULT="))


class Asker:
    """One person's socket: ask, then read frames until the answer's ``done`` or ``error``."""

    def __init__(self, url: str, session: str) -> None:
        self.url, self.session = url, session
        self.frames: list[dict] = []
        self.arrived: list[float] = []  # time.monotonic() of each frame
        self.streaming = asyncio.Event()  # set at the first delta
        self.ws = None

    async def ask(self) -> None:
        self.ws = await ws_connect(
            self.url.replace("http://", "ws://") + "/ws/chat/",
            origin=self.url,
            additional_headers={"Cookie": f"sessionid={self.session}"},
            open_timeout=10,
        )
        await self.ws.send(json.dumps({"type": "ask", "conversation": None, "text": QUESTION, "collections": None}))

    async def read(self, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=max(left, 0.01)))
                self.frames.append(frame)
                self.arrived.append(time.monotonic())
                if frame["type"] == "delta":
                    self.streaming.set()
                if frame["type"] in ("done", "error"):
                    return self.frames
        finally:
            await self.ws.close()


async def ask_all(askers: list[Asker], fake: FakeOpenAIServer, reply: str) -> list[asyncio.Task]:
    """Ask on every socket with the fake model set to ``reply``; return once each has streamed text
    (each request keeps the reply it started with, so the next group can have another)."""
    fake.configure(reply=reply, tokens_per_second=TOKENS_PER_SECOND)
    await asyncio.gather(*(a.ask() for a in askers))
    readers = [asyncio.create_task(a.read()) for a in askers]
    try:
        await asyncio.wait_for(asyncio.gather(*(a.streaming.wait() for a in askers)), timeout=15)
    except TimeoutError:
        raise AssertionError(f"not every socket streamed before the restart: {[a.frames for a in askers]}") from None
    return readers


def test_postgres_restart_while_answers_stream(private_dir: Path):
    """Every answer ends ``done``/complete (stored and audited after reconnect) or with an ``error``
    whose code is stable and message plain English, recorded as failed; none is left streaming; one
    ``answer`` audit event per answer; ``verify_audit`` passes; the site answers again afterwards."""
    workdir = private_dir  # not tmp_path: see the fixture
    fake = FakeOpenAIServer().start()
    server = throwaway_postgres(workdir / "pg")
    daphne = None
    log = open(workdir / "daphne.log", "w+")  # noqa: SIM115 - closed in finally
    try:
        server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        socket_dir = server.get_postmaster_info().socket_dir
        env = server_environment(
            DATABASE_URL=f"postgres://postgres@/postgres?host={socket_dir}",
            HUMPHREY_WARM_START="0",
            HUMPHREY_EMBEDDINGS_PROVIDER="fake",
            HUMPHREY_ANSWER_MIN_EVIDENCE="0.2",
            HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY="0.1",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="test-key",
            HUMPHREY_CHAT_MODEL="fake-model",
            HUMPHREY_LOG_FORMAT="plain",
        )
        migrated = manage(env, "migrate", "--noinput")
        assert migrated.returncode == 0, migrated.stderr
        sessions = manage_result(env, SEED)

        port = free_port()
        daphne = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "humphrey.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(port, process=daphne)
        url = f"http://127.0.0.1:{port}"

        outage: dict[str, float] = {}

        async def go() -> tuple[list[Asker], list[dict]]:
            askers = [Asker(url, key) for key in sessions]
            half = PEOPLE // 2
            readers = await ask_all(askers[:half], fake, LONG_REPLY)
            readers += await ask_all(askers[half:], fake, SHORT_REPLY)
            # Every socket is streaming: stop PostgreSQL (fast: live connections are killed).
            await asyncio.to_thread(stop_postgres, server)
            outage["down"] = time.monotonic()
            await asyncio.sleep(DOWN_SECONDS)
            outage["starting"] = time.monotonic()  # nothing can be stored before this
            await asyncio.to_thread(server.ensure_postgres_running)
            await asyncio.gather(*readers)
            # The same server takes new questions once PostgreSQL is back.
            fake.configure(reply=SHORT_REPLY, tokens_per_second=200)
            after = Asker(url, sessions[0])
            await after.ask()
            return askers, await after.read(timeout=20)

        askers, after = asyncio.run(go())
        outcomes = [a.frames for a in askers]

        log.flush()
        log.seek(0)
        server_log = log.read()[-6000:]  # shown when an assertion fails
        answer_ids = []
        for frames in outcomes:
            assert frames[0]["type"] == "accepted", (frames, server_log)
            answer_ids.append(frames[0]["answer"])
            last = frames[-1]
            if last["type"] == "done":
                assert last["status"] == "complete", (frames, server_log)
                assert last["text"] and last["citations"], frames
            else:
                assert last["type"] == "error", (frames, server_log)
                assert last["code"] in FAILURE_CODES, (frames, server_log)
                assert re.fullmatch(r"[A-Z][^<>{}]+\.", last["message"]), last  # a plain-English sentence
        assert after[-1]["type"] == "done" and after[-1]["status"] == "complete", (after, server_log)
        answer_ids.append(after[0]["answer"])

        state = manage_result(env, STATE)
        stored = {a["id"]: a for a in state["answers"]}
        assert sorted(stored) == sorted(answer_ids)
        for frames in outcomes:
            answer = stored[frames[0]["answer"]]
            last = frames[-1]
            if last["type"] == "done":
                assert (answer["status"], answer["text"]) == ("complete", last["text"]), answer
            else:  # recorded as failed, with the code the person was shown
                assert (answer["status"], answer["error_code"]) == ("failed", last["code"]), answer
        assert not [a for a in stored.values() if a["status"] == "streaming"], stored

        per_answer = Counter(e["message_id"] for e in state["events"])
        assert per_answer == Counter(answer_ids), state["events"]  # exactly one answer event each
        for event in state["events"]:
            answer = stored[event["message_id"]]
            expected = "answered" if answer["status"] == "complete" else "error"
            assert event["outcome"] == expected, (event, answer)

        verified = manage(env, "verify_audit")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "OK" in verified.stdout

        # The outage really overlapped the answers: every socket streamed before PostgreSQL stopped,
        # and some answer's text ended while it was down, so it was stored (its final frame is sent
        # only then) after PostgreSQL started again.
        # Seconds from the moment PostgreSQL was down, per socket: (first delta, last delta, final frame).
        timeline = []
        for a in askers:
            deltas = [t - outage["down"] for t, f in zip(a.arrived, a.frames, strict=True) if f["type"] == "delta"]
            timeline.append((deltas[0], deltas[-1], a.arrived[-1] - outage["down"]))
        starting = outage["starting"] - outage["down"]
        shown = (round(starting, 2), [tuple(round(t, 2) for t in times) for times in timeline])
        assert all(first < 0 for first, _, _ in timeline), shown
        assert any(last < starting < final for _, last, final in timeline), ("none ended during the outage", shown)
    finally:
        if daphne is not None:
            stop_process(daphne)
        fake.stop()
        server.cleanup()
        log.close()
