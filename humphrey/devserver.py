"""``make run``: prepare a local Humphrey and serve it with a task worker beside it.

Migrates, creates the demo accounts, loads the sample collection, then runs Daphne (HTTP +
websockets) and the django-tasks database worker until interrupted. Both children share the embedded
database because they name the same data folder. Their output passes through this process, so the
last lines printed once both are ready are the site's address and the demo accounts (a request's
log lines follow as they come).
Unless HUMPHREY_REQUIRE_MFA_FOR is set, MFA for roles is off here (and the launcher says so), so the
demo curator and auditor work without an authenticator app; production's default is all roles.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

# Daphne's own access log prints whole URLs (search text, emails): the site logs requests itself.
DAPHNE = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "--access-log", os.devnull]
# What each child prints once it is serving; the banner waits for both (at most READY_TIMEOUT).
READY = {"web": "Listening on TCP address", "worker": "Starting worker"}
READY_TIMEOUT = 180.0


def manage(*args: str, capture: bool = False) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], check=True, stdout=subprocess.PIPE if capture else None)
    return done.stdout.decode() if capture else ""


def forward(child: subprocess.Popen, ready: threading.Event, marker: str) -> None:
    """Copy a child's output to ours line by line, and note when it says it is serving."""
    for raw in iter(child.stdout.readline, b""):
        sys.stdout.write(raw.decode(errors="replace"))
        sys.stdout.flush()
        if marker in raw.decode(errors="replace"):
            ready.set()
    ready.set()  # it ended: the loop in main notices


def main() -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # the children's lines arrive as they are written
    mfa_note = ""
    if "HUMPHREY_REQUIRE_MFA_FOR" not in os.environ:
        # The demo curator and auditor have no authenticator app, so with production's default
        # (MFA for every role) their pages would only ask them to set one up. Said, not hidden.
        os.environ["HUMPHREY_REQUIRE_MFA_FOR"] = ""
        mfa_note = (
            "MFA for curator, auditor and staff is OFF for this local demo "
            "(HUMPHREY_REQUIRE_MFA_FOR=curator,auditor,staff make run turns it on)."
        )
    port = os.environ.get("PORT", "8000")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humphrey.settings")
    from django.conf import settings

    # Reading the settings joins the embedded database (when no DATABASE_URL is set), so this process
    # is the last of its users to exit, after its children, and stops it: when the children stop at
    # the same moment (Ctrl-C), each may see the other still running and leave it to them.
    settings.DATABASES  # noqa: B018
    manage("migrate", "--noinput", "-v0")
    accounts = manage("create_demo_accounts", capture=True)
    if os.path.exists("documents/management/commands/load_sample.py"):
        manage("load_sample")
    manage("source_sync", "--schedule", capture=True)  # a synced source's next run, if the queue lost it
    # After an upgrade or a switch of embedding model: the worker re-embeds and re-cuts what needs it.
    upkeep = manage("reembed", "--queue", capture=True)
    for line in upkeep.splitlines():
        if not line.startswith("Every chunk is embedded"):  # said only when there is something to say
            print(line, flush=True)
    children = {
        "worker": subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--queue-name", "*"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        ),
        "web": subprocess.Popen(
            [*DAPHNE, "-p", port, "humphrey.asgi:application"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        ),
    }
    ready = {name: threading.Event() for name in children}
    for name, child in children.items():
        threading.Thread(target=forward, args=(child, ready[name], READY[name]), daemon=True).start()

    def stop(*_: object) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    interrupted = False
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(event.is_set() for event in ready.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        if all(child.poll() is None for child in children.values()):
            print(f"\nHumphrey is running on http://127.0.0.1:{port}/  (Ctrl-C to stop)", flush=True)
            if mfa_note:
                print(mfa_note, flush=True)
            print(accounts, end="", flush=True)
        else:
            stopped = ", ".join(f"{n} (exit {c.returncode})" for n, c in children.items() if c.poll() is not None)
            print(f"\nHumphrey did not start: {stopped} stopped; its output is above.", flush=True)
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C reached every process of the terminal's group, the children too
    finally:
        if not interrupted:
            stop()
        # Not signalled again: a second SIGINT makes a child stop at once ("press Ctrl+C again to
        # force") instead of shutting down in order.
        for child in children.values():
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()  # gone, not a zombie still counted among the embedded database's users
    return 0


if __name__ == "__main__":
    sys.exit(main())
