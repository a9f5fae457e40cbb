"""One person's costly questions do not hold up another person's: measured over real sockets on Daphne.

The attackers send, at the same moment as the person they want to slow down, the questions that cost
personal-data detection the most (the worst inputs of tests/pii, at the longest length allowed), from
several accounts and sockets each. The other person's time from sending a question to its ``accepted``
frame is compared with the same person asking alone, in the same run, interleaved round by round (a
ratio, not a number of seconds: a slow or busy machine does not decide the result).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import AsgiServer
from tests.factories import signed_in_session
from tests.pii.test_pii_worst_case import ALL_CASES, MAX_CHARS, REVIEW_QUESTION, cost_ratio

pytestmark = pytest.mark.django_db(transaction=True)

ATTACKERS = 1  # accounts: one person, as many sockets as they may open
SOCKETS_EACH = 9  # the tenth is the most one person may have open (HUMPHREY_CHAT_MAX_SOCKETS_PER_USER)
ROUNDS = 5
# The issue allows another person's question 50 ms more; asked alone, its accepted frame takes a few
# hundredths of that, so five times alone is the bound (docs/security.md has the measured figures).
MAX_RATIO = 5
# The victim's question holds figures, so it is scanned for personal data too (a question with no digit
# and no "@" cannot hold any and skips the scan): the case where it could queue behind the attackers'.
VICTIM_QUESTION = "Can I carry over 5 days of annual leave into 2027 if I joined on 3 April?"


@pytest.fixture
def server(guidance):
    server = AsgiServer(HUMPHREY_EMBEDDINGS_PROVIDER="fake")
    yield server
    server.stop()


class Socket:
    def __init__(self, url: str, session: str) -> None:
        self.url, self.session = url.replace("http://", "ws://") + "/ws/chat/", session

    async def __aenter__(self):
        self.ws = await ws_connect(
            self.url,
            origin=self.url.replace("ws://", "http://"),
            additional_headers={"Cookie": f"sessionid={self.session}"},
            open_timeout=10,
            max_size=None,
        )
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def ask(self, text: str) -> float:
        """Seconds from sending ``text`` to its ``accepted`` (or refusing ``error``) frame; the rest of
        the answer is then read to its end, so the next round starts with nothing in flight."""
        started = time.perf_counter()
        await self.ws.send(json.dumps({"type": "ask", "conversation": None, "text": text, "collections": None}))
        took = None
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=30))
            if took is None and frame["type"] in ("accepted", "error"):
                took = time.perf_counter() - started
                self.last_first = frame
            if frame["type"] in ("done", "error"):
                return took


def costliest_questions(n: int) -> list[str]:
    """The ``n`` worst inputs of personal-data detection at the longest length, costliest first."""
    ordinary = "How do I claim travel expenses for a training course? " * 40
    texts = [build(MAX_CHARS).strip() or build(MAX_CHARS) for build in ALL_CASES.values()] + [REVIEW_QUESTION]
    texts = [t for t in texts if t.strip()]
    ranked = sorted(texts, key=lambda t: cost_ratio(t, ordinary[:MAX_CHARS], rounds=1), reverse=True)
    return [ranked[i % len(ranked)] for i in range(n)]


def test_costly_questions_from_others_do_not_delay_a_persons_accepted_frame(server, make_user):
    victim = make_user(groups=["All staff"])
    attackers = [make_user(groups=["All staff"]) for _ in range(ATTACKERS)]
    attacks = costliest_questions(ATTACKERS * SOCKETS_EACH)

    async def run() -> tuple[list[float], list[float]]:
        # A socket may ask 10 questions a minute: the victim uses a fresh one for each round.
        victim_sockets = [Socket(server.url, sessions[victim.pk]) for _ in range(ROUNDS + 1)]
        sockets = [Socket(server.url, sessions[a.pk]) for a in attackers for _ in range(SOCKETS_EACH)]
        for s in [*victim_sockets, *sockets]:
            await s.__aenter__()
        try:
            await victim_sockets[-1].ask(VICTIM_QUESTION)  # the process's first question warms it
            alone, attacked = [], []
            for me in victim_sockets[:ROUNDS]:
                alone.append(await me.ask(VICTIM_QUESTION))
                assert me.last_first["type"] == "accepted", me.last_first
                results = await asyncio.gather(
                    *(s.ask(text) for s, text in zip(sockets, attacks, strict=True)), me.ask(VICTIM_QUESTION)
                )
                assert me.last_first["type"] == "accepted", me.last_first
                attacked.append(results[-1])
            return alone, attacked
        finally:
            for s in [*victim_sockets, *sockets]:
                await s.__aexit__(None, None, None)

    sessions = {u.pk: signed_in_session(u) for u in [victim, *attackers]}
    alone, attacked = asyncio.run(run())
    ratio = statistics.median(attacked) / statistics.median(alone)
    print(f"accepted alone {[round(t * 1000, 1) for t in alone]} ms, attacked {[round(t * 1000, 1) for t in attacked]}")
    assert ratio <= MAX_RATIO, f"under attack the accepted frame took {ratio:.1f}x as long as alone"


def test_the_workers_find_what_detection_in_process_finds():
    """Across the pipe (lone surrogates and every script included) the findings are the same."""
    from assistant.pii import find_personal_data
    from assistant.scanning import ScanPool

    pool = ScanPool(1, timeout=30)
    try:
        texts = [build(200) for build in ALL_CASES.values()] + [
            "Call 07911 123456 or write to Jo Bloggs, SW1A 2AA, jo@example.gov.uk \ud800 AB123456C",
        ]
        for text in texts:
            assert pool.scan(text) == find_personal_data(text), text
    finally:
        pool.stop()


def test_a_scan_that_does_not_finish_in_time_refuses_the_question_and_replaces_its_worker():
    from assistant import scanning
    from assistant.core.errors import AnswerError

    pool = scanning.ScanPool(1, timeout=0.000001)
    try:
        with pytest.raises(scanning.ScanFailed):
            pool.scan(ALL_CASES["digits between spaced hyphens"](MAX_CHARS))
        assert pool.workers == []  # the stuck worker was stopped; the next scan starts another
        pool.timeout = 30
        assert pool.scan("Call 07911 123456")[0].kind == "phone"
        assert len(pool.workers) == 1
    finally:
        pool.stop()

    async def ask_with(pool):
        scanning._pool = pool
        return await scanning.personal_data_scan(ALL_CASES["digits between spaced hyphens"](MAX_CHARS), person=1)

    stuck = scanning.ScanPool(1, timeout=0.000001)
    try:
        with pytest.raises(AnswerError) as refused:
            asyncio.run(ask_with(stuck))
        assert refused.value.code == "question_unchecked"
    finally:
        stuck.stop()
        scanning._pool = None
