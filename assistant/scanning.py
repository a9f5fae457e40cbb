"""Looking for personal data in a question, in worker processes of its own.

Detection is the one piece of a question's intake whose cost depends on what was typed: the costliest
inputs known (runs of digits and punctuation that libphonenumber parses piece by piece) take tens of
milliseconds of CPU, where an ordinary question takes about one. Run in the web process, on any thread,
that CPU holds the interpreter's lock, and every other person's question (the event loop, the database
threads) waits behind it. So questions are scanned in a few long-lived worker processes
(``python -m assistant.pii``, plain Python with no Django), and each person has at most one question
being scanned at a time in a web process: one person's costly questions queue behind each other and
occupy one worker, never every worker. A scan that does not finish within
``HUMPHREY_CHAT_SCAN_TIMEOUT`` seconds is abandoned (its worker replaced) and the question refused:
it is never stored or sent unchecked.

The pool is shared by every event loop of the process; a thread per worker waits on its pipes, so no
Python code of the web process runs while a question is scanned.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import queue
import select
import subprocess
import sys
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from assistant.batching import per_loop
from assistant.core.errors import AnswerError
from assistant.pii import Finding

logger = logging.getLogger(__name__)


class ScanFailed(RuntimeError):
    """The worker did not answer in time, or died."""


class _Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assistant.pii"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            cwd=settings.BASE_DIR,
        )

    def scan(self, text: str, timeout: float) -> list[Finding]:
        # ensure_ascii: lone surrogates and every other character cross the pipe as escapes.
        self.process.stdin.write((json.dumps(text, ensure_ascii=True) + "\n").encode("ascii"))
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise ScanFailed(f"no answer within {timeout}s")
        line = self.process.stdout.readline()
        if not line:
            raise ScanFailed(f"the worker stopped (exit code {self.process.poll()})")
        return [Finding(kind, start, end) for kind, start, end in json.loads(line)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class ScanPool:
    """``size`` worker processes, started on first use; a worker that fails is replaced."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size, self.timeout = size, timeout
        self.idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        self.workers: list[_Worker] = []
        self.threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="chat-scan")
        self.lock = threading.Lock()
        for _ in range(size):
            self.idle.put(None)  # a slot; its worker is started when first needed

    def start(self) -> None:
        """Start every worker now (the web process's warm start), not on the first questions."""
        slots = [self.idle.get() or self._spawn() for _ in range(self.size)]
        for worker in slots:
            self.idle.put(worker)

    def scan(self, text: str) -> list[Finding]:
        """Blocking: run on ``self.threads`` (as many as workers, so a call never waits for a worker)."""
        worker = self.idle.get()
        try:
            worker = worker or self._spawn()
            found = worker.scan(text, self.timeout)
        except (ScanFailed, OSError, ValueError) as exc:
            logger.warning("scanning a question for personal data failed (%s): replacing the worker", exc)
            if worker is not None:
                worker.stop()
                with self.lock:
                    self.workers.remove(worker)
            self.idle.put(None)
            raise ScanFailed(str(exc)) from exc
        self.idle.put(worker)
        return found

    def _spawn(self) -> _Worker:
        worker = _Worker()
        with self.lock:
            self.workers.append(worker)
        return worker

    def stop(self) -> None:
        with self.lock:
            for worker in self.workers:
                worker.stop()
            self.workers.clear()


_pool: ScanPool | None = None
_pool_lock = threading.Lock()


def scan_pool() -> ScanPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ScanPool(settings.HUMPHREY_CHAT_SCAN_PROCESSES, settings.HUMPHREY_CHAT_SCAN_TIMEOUT)
            atexit.register(_pool.stop)
        return _pool


async def personal_data_scan(text: str, *, person) -> list[Finding]:
    """The personal data in ``text``, found in a worker process; ``person``'s scans run one at a time.
    Raises ``AnswerError`` (``question_unchecked``) when the scan fails: the question is not stored."""
    locks: weakref.WeakValueDictionary = per_loop("scan-locks", weakref.WeakValueDictionary)
    lock = locks.get(person)
    if lock is None:
        lock = locks[person] = asyncio.Lock()
    pool = scan_pool()
    async with lock:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool.threads, pool.scan, text)
        except ScanFailed:
            raise AnswerError(
                "Your question could not be checked for personal data, so it was not sent. "
                "Shorten it, or remove long runs of numbers and punctuation, and try again.",
                code="question_unchecked",
            ) from None
