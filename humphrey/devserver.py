"""``make run``: prepare a local Humphrey and serve it with a task worker beside it.

Migrates, creates the demo accounts (printing their credentials), loads the sample collection,
then runs Daphne (HTTP + websockets) and the django-tasks database worker until interrupted.
Both children share the embedded database because they name the same data folder.
Unless HUMPHREY_REQUIRE_MFA_FOR is set, MFA for roles is off here (and the launcher says so), so the
demo curator and auditor work without an authenticator app; production's default is all roles.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

# Daphne's own access log prints whole URLs (search text, emails): the site logs requests itself.
DAPHNE = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "--access-log", os.devnull]


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True)


def main() -> int:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    if "HUMPHREY_REQUIRE_MFA_FOR" not in os.environ:
        # The demo curator and auditor have no authenticator app, so with production's default
        # (MFA for every role) their pages would only ask them to set one up. Said, not hidden.
        os.environ["HUMPHREY_REQUIRE_MFA_FOR"] = ""
        print(
            "MFA enforcement for curator, auditor and staff is OFF for this local demo; "
            "turn it on with HUMPHREY_REQUIRE_MFA_FOR=curator,auditor,staff make run",
            flush=True,
        )
    port = os.environ.get("PORT", "8000")
    manage("migrate", "--noinput", "-v0")
    manage("create_demo_accounts")
    if os.path.exists("documents/management/commands/load_sample.py"):
        manage("load_sample")
    children = [
        subprocess.Popen([sys.executable, "manage.py", "db_worker", "--queue-name", "*"]),
        subprocess.Popen([*DAPHNE, "-p", port, "humphrey.asgi:application"]),
    ]
    print(f"\nHumphrey is running on http://127.0.0.1:{port}/  (Ctrl-C to stop)\n", flush=True)

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
