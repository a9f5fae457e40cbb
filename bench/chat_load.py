"""Chat under load: many signed-in websocket clients against one running Humphrey process.

Starts, on 127.0.0.1 only: the fake OpenAI-compatible server (``tests/fakes/openai_server.py``) with a
set time to first token and token rate, and one Daphne process serving Humphrey on a benchmark
database in the embedded PostgreSQL (or ``DATABASE_URL``). Then runs up to three shapes of load and
prints one JSON object:

- ``steady``: questions arriving at ``--rate`` a second for ``--duration`` seconds, each answer a
  ``--stream-seconds`` stream (so about rate x stream-seconds streams at once);
- ``burst``: ``--burst`` questions sent in the same instant;
- ``idle``: ``--idle`` signed-in sockets opened and held, then one question answered among them.

For each: the time to first token added by Humphrey over the model's own (the client's first
``delta`` minus the send time minus the model's measured time to first token for that request)
p50/p95/p99, frames per second, errors, CPU seconds and peak memory of each process, peak database
connections, and answers started against ``answer`` audit events written. Bounded in count and time;
stops by itself.

    .venv/bin/python bench/chat_load.py                       # all three shapes, defaults below
    .venv/bin/python bench/chat_load.py --shapes burst --burst 100
"""

# Over 500 lines by design: one self-contained script (servers, clients, shapes, report) to run or copy to a
# load host and read top to bottom; its parts are used nowhere else.

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_chat"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited ({process.returncode}) before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing on port {port}")


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


def setup_django(base_env: dict[str, str]) -> None:
    os.environ.update(base_env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humphrey.settings")
    import django

    django.setup()


def prepare_database(users: int, corpus: str = "") -> tuple[list[str], str]:
    """Migrate the benchmark database, load the sample collection (or ingest ``corpus``, a folder, as
    the collection ``corpus`` the first time), and sign ``users`` users in."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from accounts.services import user_create
    from documents.models import Collection
    from tests.factories import signed_in_session

    call_command("migrate", "--noinput", verbosity=0)
    if corpus:
        if not Collection.objects.filter(slug="corpus", documents__isnull=False).exists():
            call_command(
                "ingest", corpus, "--collection", "corpus", "--create", "--wait", "--group", "All staff",
                "--no-progress", stdout=io.StringIO(), stderr=io.StringIO(),
            )  # fmt: skip
        collection = Collection.objects.get(slug="corpus")
    else:
        call_command("load_sample", verbosity=0, stdout=io.StringIO())
        collection = Collection.objects.get(slug="dde-guidance")
    group = collection.reader_groups.first() or Group.objects.get_or_create(name="All staff")[0]
    cookies = []
    password = secrets.token_urlsafe(16)
    from django.contrib.auth import get_user_model

    existing = {u.email: u for u in get_user_model().objects.filter(email__startswith="load")}
    for i in range(users):
        email = f"load{i:05d}@example.gov.uk"
        user = existing.get(email) or user_create(email=email, password=password)
        user.groups.add(group)
        cookies.append(signed_in_session(user))
    return cookies, collection.slug


@dataclass
class Sample:
    marker: str
    sent: float = 0.0
    accepted: float | None = None
    first_delta: float | None = None
    done: float | None = None
    deltas: int = 0
    frames: int = 0
    error: str | None = None


@dataclass
class Watch:
    """Samples CPU and memory of the processes, and database connections, while load runs."""

    processes: dict[str, int]
    peak_rss: dict[str, int] = field(default_factory=dict)
    peak_db_connections: int = 0
    _cpu_start: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        import psutil

        for name, pid in self.processes.items():
            times = psutil.Process(pid).cpu_times()
            self._cpu_start[name] = times.user + times.system
            self.peak_rss[name] = 0

    def sample(self) -> None:
        import psutil

        for name, pid in self.processes.items():
            with contextlib.suppress(psutil.Error):
                rss = psutil.Process(pid).memory_info().rss
                self.peak_rss[name] = max(self.peak_rss[name], rss)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            self.peak_db_connections = max(self.peak_db_connections, cursor.fetchone()[0])

    def report(self) -> dict:
        import psutil

        out = {}
        for name, pid in self.processes.items():
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                out[name] = {
                    "cpu_seconds": round(times.user + times.system - self._cpu_start[name], 2),
                    "peak_rss_mb": round(self.peak_rss[name] / 2**20, 1),
                }
        out["peak_db_connections"] = self.peak_db_connections
        return out


async def watch_loop(watch: Watch, stop: asyncio.Event) -> None:
    from asgiref.sync import sync_to_async

    while not stop.is_set():
        await sync_to_async(watch.sample)()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def run_question(ws, sample: Sample, text: str, collection: str, timeout: float) -> None:
    sample.sent = time.time()
    await ws.send(json.dumps({"type": "ask", "conversation": None, "text": text, "collections": [collection]}))
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await ws.recv())
                sample.frames += 1
                kind = frame.get("type")
                if kind == "accepted":
                    sample.accepted = time.time()
                elif kind == "delta":
                    sample.deltas += 1
                    if sample.first_delta is None:
                        sample.first_delta = time.time()
                elif kind == "done":
                    sample.done = time.time()
                    return
                elif kind == "error":
                    sample.error = frame.get("code", "error")
                    return
    except TimeoutError:
        sample.error = "client_timeout"
    except Exception as exc:  # a dropped socket is an error to count, not a crash
        sample.error = type(exc).__name__


async def open_socket(port: int, session_key: str):
    import websockets
    from django.conf import settings

    return await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/chat/",
        additional_headers={
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}",
            "Origin": f"http://127.0.0.1:{port}",
        },
        open_timeout=60,
        max_size=2**22,
        ping_interval=None,
    )


def model_timings(fake_url: str) -> dict[str, float]:
    """The fake model's own time to first token per question marker, where the server recorded it."""
    with urllib.request.urlopen(f"{fake_url}/_requests", timeout=30) as response:
        requests = json.loads(response.read())
    out = {}
    for request in requests:
        timing = request.get("_timing") or {}
        if "first_token_ms" not in timing:
            continue
        text = json.dumps(request.get("messages", []))
        start = text.find("[q-")
        if start != -1:
            out[text[start + 1 : text.find("]", start)]] = timing["first_token_ms"]
    return out


def summarise(samples: list[Sample], model_ttft: dict[str, float], nominal_ttft_ms: float, elapsed: float) -> dict:
    added, e2e, accepted = [], [], []
    for s in samples:
        if s.accepted is not None:
            accepted.append((s.accepted - s.sent) * 1000)
        if s.first_delta is None:
            continue
        total_ms = (s.first_delta - s.sent) * 1000
        e2e.append(total_ms)
        added.append(total_ms - model_ttft.get(s.marker, nominal_ttft_ms))
    errors: dict[str, int] = {}
    for s in samples:
        if s.error:
            errors[s.error] = errors.get(s.error, 0) + 1
    frames = sum(s.frames for s in samples)
    return {
        "questions": len(samples),
        "answered": sum(1 for s in samples if s.done),
        "errors": errors,
        "added_ttft_ms": {"p50": percentile(added, 50), "p95": percentile(added, 95), "p99": percentile(added, 99)},
        "client_ttft_ms": {"p50": percentile(e2e, 50), "p99": percentile(e2e, 99)},
        # ask sent -> "accepted" frame: the question checked and stored, before retrieval starts
        "accepted_ms": {"p50": percentile(accepted, 50), "p99": percentile(accepted, 99)},
        "model_ttft_measured": sum(1 for s in samples if s.marker in model_ttft),
        "delta_frames_per_answer": round(statistics.mean([s.deltas for s in samples if s.done] or [0]), 1),
        "frames_per_second": round(frames / elapsed, 1) if elapsed else None,
        "elapsed_s": round(elapsed, 1),
    }


def tag(prefix: str, i: int, digits: bool) -> str:
    """A question's marker, found again in what the fake model was sent. Letters only unless
    ``--marker-digits``: a digit makes a question one that may hold personal data, scanned in a worker
    process before it is stored and embedded only after, which most real questions are not."""
    if digits:
        return f"q-{prefix}{i:05d}"
    letters = ""
    for _ in range(4):
        i, rest = divmod(i, 26)
        letters = chr(ord("a") + rest) + letters
    return f"q-{prefix}{letters}"


QUESTIONS = [
    "How do I claim travel and subsistence?",
    "What is the hybrid working policy?",
    "How much annual leave do I get?",
    "What should I do if I lose my laptop?",
    "Can I claim for a taxi after working late?",
]


async def shape_steady(args, port, cookies, collection, on_start=lambda: None) -> tuple[list[Sample], float]:
    count = int(args.rate * args.duration)
    sockets = await asyncio.gather(*(open_socket(port, cookies[i % len(cookies)]) for i in range(count)))
    samples = [Sample(marker=tag("s", i, args.marker_digits)) for i in range(count)]
    on_start()
    started = time.time()
    tasks = []
    for i, (ws, sample) in enumerate(zip(sockets, samples, strict=True)):
        delay = started + i / args.rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        text = f"{QUESTIONS[i % len(QUESTIONS)]} [{sample.marker}]"
        tasks.append(asyncio.create_task(run_question(ws, sample, text, collection, args.answer_timeout)))
    await asyncio.gather(*tasks)
    elapsed = time.time() - started
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return samples, elapsed


async def shape_burst(args, port, cookies, collection, on_start=lambda: None) -> tuple[list[Sample], float]:
    sockets = await asyncio.gather(*(open_socket(port, cookies[i % len(cookies)]) for i in range(args.burst)))
    samples = [Sample(marker=tag("b", i, args.marker_digits)) for i in range(args.burst)]
    on_start()
    started = time.time()
    await asyncio.gather(
        *(
            run_question(ws, s, f"{QUESTIONS[i % len(QUESTIONS)]} [{s.marker}]", collection, args.answer_timeout)
            for i, (ws, s) in enumerate(zip(sockets, samples, strict=True))
        )
    )
    elapsed = time.time() - started
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return samples, elapsed


async def shape_idle(args, port, cookies, collection) -> dict:
    opened, failed, sockets = 0, 0, []
    started = time.time()
    for start in range(0, args.idle, 250):
        batch = await asyncio.gather(
            *(open_socket(port, cookies[i % len(cookies)]) for i in range(start, min(args.idle, start + 250))),
            return_exceptions=True,
        )
        for ws in batch:
            if isinstance(ws, Exception):
                failed += 1
            else:
                opened += 1
                sockets.append(ws)
    open_seconds = time.time() - started
    await asyncio.sleep(2)
    alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
    sample = Sample(marker="q-idle")
    probe = await open_socket(port, cookies[0])
    await run_question(probe, sample, f"{QUESTIONS[0]} [q-idle]", collection, args.answer_timeout)
    await probe.close()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "requested": args.idle,
        "opened": opened,
        "failed": failed,
        "still_open_after_2s": alive,
        "open_seconds": round(open_seconds, 1),
        "answer_while_held": {"ok": sample.done is not None, "error": sample.error},
    }


def count_answers_since(since: float) -> int:
    from datetime import UTC, datetime

    from audit.models import AuditEvent

    return AuditEvent.objects.filter(action="answer", created_at__gte=datetime.fromtimestamp(since, UTC)).count()


async def cpu_window(pid: int, seconds: float) -> dict:
    """Where the CPU went in a shape's first ``seconds``: the machine's busy share, the web process's
    CPU, and its main thread's (the event loop's). A loop thread near 1,000 ms a second while the
    machine has idle time means the one event loop, not the cores, is what the questions wait for."""
    import psutil

    def snap():
        process = psutil.Process(pid)
        loop_thread = next((t.user_time + t.system_time for t in process.threads() if t.id == pid), 0.0)
        times, machine = process.cpu_times(), psutil.cpu_times()
        idle = machine.idle + getattr(machine, "iowait", 0.0)
        busy = sum(getattr(machine, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
        return time.monotonic(), times.user + times.system, loop_thread, busy, idle

    t0, web0, loop0, busy0, idle0 = snap()
    await asyncio.sleep(seconds)
    t1, web1, loop1, busy1, idle1 = snap()
    total = (busy1 - busy0) + (idle1 - idle0)
    return {
        "seconds": round(t1 - t0, 2),
        "machine_busy_share": round((busy1 - busy0) / total, 2) if total > 0 else None,
        "web_cpu_ms": round(1000 * (web1 - web0)),
        "web_event_loop_thread_cpu_ms": round(1000 * (loop1 - loop0)),
    }


async def main_async(args, port, fake_url, cookies, collection, watch) -> dict:
    from asgiref.sync import sync_to_async

    results: dict = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_loop(watch, stop))
    watch.start()
    for shape in args.shapes:
        since = time.time()
        if shape == "idle":
            results["idle"] = await shape_idle(args, port, cookies, collection)
            continue
        runner = shape_steady if shape == "steady" else shape_burst
        # From the first question sent (its sockets open): the burst's first second, or the steady arrivals.
        seconds = 1.0 if shape == "burst" else args.duration
        windows: list[asyncio.Task] = []

        def measure_cpu(seconds=seconds, windows=windows) -> None:
            windows.append(asyncio.create_task(cpu_window(watch.processes["web"], seconds)))

        samples, elapsed = await runner(args, port, cookies, collection, measure_cpu)
        cpu = await windows[0]
        await asyncio.sleep(args.settle)  # answers are written after their last frame
        timings = await sync_to_async(model_timings)(fake_url)
        summary = summarise(samples, timings, args.ttft_ms, elapsed)
        started = sum(1 for s in samples if s.accepted)
        audited = await sync_to_async(count_answers_since)(since)
        summary["answers_started"] = started
        summary["answer_audit_events"] = audited
        summary["answers_without_audit_event"] = max(0, started - audited)
        summary["cpu_first_second" if shape == "burst" else "cpu_during_arrivals"] = cpu
        results[shape] = summary
    stop.set()
    await watcher
    results["processes"] = watch.report()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="Humphrey chat load benchmark (JSON to stdout)")
    parser.add_argument("--shapes", nargs="+", default=["steady", "burst", "idle"], choices=["steady", "burst", "idle"])
    parser.add_argument("--rate", type=float, default=10.0, help="steady: questions per second")
    parser.add_argument("--duration", type=float, default=30.0, help="steady: seconds of arrivals")
    parser.add_argument("--stream-seconds", type=float, default=10.0, help="length of each streamed answer")
    parser.add_argument("--ttft-ms", type=float, default=300.0, help="the fake model's time to first token")
    parser.add_argument("--tokens-per-second", type=float, default=30.0, help="the fake model's token rate")
    parser.add_argument("--burst", type=int, default=100, help="burst: questions sent at once")
    parser.add_argument("--idle", type=int, default=5000, help="idle: signed-in sockets held")
    parser.add_argument("--users", type=int, default=400, help="distinct signed-in users")
    parser.add_argument("--answer-timeout", type=float, default=120.0)
    parser.add_argument("--warm", type=int, default=20, help="questions asked at once to warm up (0: one only)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait for answers to be stored")
    parser.add_argument(
        "--marker-digits",
        action="store_true",
        help="tag each question with digits, so every one takes the personal-data scan's slower path",
    )
    parser.add_argument("--redis", default="", help="REDIS_URL for the channel layer (default: in-memory)")
    parser.add_argument("--corpus", default="", help="a folder of guidance to ask about instead of the sample")
    parser.add_argument(
        "--questions", nargs="*", default=[], help="JSONL question files to ask (default: five sample questions)"
    )
    args = parser.parse_args()
    if args.questions:
        QUESTIONS[:] = [
            json.loads(line)["question"]
            for path in args.questions
            for line in Path(path).read_text().splitlines()
            if line.strip()
        ]
    raise_fd_limit()

    base_env = {
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "HUMPHREY_BEHIND_TLS_PROXY": "0",
        "HUMPHREY_EMBEDDED_DB_NAME": DB_NAME,
        "HUMPHREY_LOG_LEVEL": "WARNING",
        "HUMPHREY_TASKS_IMMEDIATE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    setup_django(base_env)
    cookies, collection = prepare_database(args.users, args.corpus)

    from django.conf import settings

    fake_port, web_port = free_port(), free_port()
    words = max(20, int(args.stream_seconds * args.tokens_per_second))
    reply = " ".join(["The guidance says claims are made within thirty days [1]."] * (words // 10 + 1)).split(" ")
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.openai_server",
            "--port",
            str(fake_port),
            "--ttft-ms",
            str(args.ttft_ms),
            "--tokens-per-second",
            str(args.tokens_per_second),
            "--reply",
            " ".join(reply[:words]),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    db = settings.DATABASES["default"]
    web_env = dict(os.environ)
    web_env.update(
        {
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@/{db['NAME']}?host={db['HOST']}",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
            "OPENAI_API_KEY": "bench",
            "HUMPHREY_CHAT_MODEL": "fake",
            # One user per question in this benchmark; per-user limits are exercised by the tests.
            "HUMPHREY_CHAT_QUESTIONS_PER_MINUTE": "1000",
            "HUMPHREY_CHAT_FRAMES_PER_MINUTE": "1000",
        }
    )
    if args.redis:
        web_env["REDIS_URL"] = args.redis
    web = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "humphrey.asgi:application"],
        cwd=ROOT,
        env=web_env,
        stdout=subprocess.DEVNULL,  # Daphne's access log would mix with the JSON report
        preexec_fn=raise_fd_limit,  # runs before exec, only sets a limit
    )
    try:
        wait_for_port(fake_port, fake)
        wait_for_port(web_port, web)

        # Warm up, as a service that has been answering would be: one question, then --warm at once
        # (a freshly started process otherwise pays one-off costs inside the first burst: the chat
        # worker threads' database connections, their prepared statements, lazily imported code).
        async def warm_up():
            for count in (1, args.warm):
                sockets = await asyncio.gather(
                    *(open_socket(web_port, cookies[i % len(cookies)]) for i in range(max(1, count)))
                )
                await asyncio.gather(
                    *(
                        run_question(
                            ws,
                            Sample(marker=tag("w", i, args.marker_digits)),
                            f"{QUESTIONS[i % len(QUESTIONS)]} [{tag('w', i, args.marker_digits)}]",
                            collection,
                            120,
                        )
                        for i, ws in enumerate(sockets)
                    )
                )
                await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

        asyncio.run(warm_up())
        time.sleep(args.settle)  # the warm-up's answers are stored before any shape counts audit events
        print(f"[bench] warmed up with {args.warm} questions at once", file=sys.stderr, flush=True)
        watch = Watch({"web": web.pid, "fake_model": fake.pid, "bench_client": os.getpid()})
        results = asyncio.run(main_async(args, web_port, f"http://127.0.0.1:{fake_port}", cookies, collection, watch))
    finally:
        for process in (web, fake):
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
    results["config"] = {
        k: getattr(args, k)
        for k in ("rate", "duration", "stream_seconds", "ttft_ms", "tokens_per_second", "burst", "warm")
    } | {
        "idle": args.idle,
        "users": args.users,
        "channel_layer": "redis" if args.redis else "in-memory",
        "collection": collection,
        "questions": len(QUESTIONS),
    }
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
