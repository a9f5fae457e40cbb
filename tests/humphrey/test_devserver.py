"""``make run``'s launcher (``humphrey.devserver``) as a person uses it, on a data folder of its own:
it prepares the site, serves it with its task worker, prints the demo accounts, and Ctrl-C in the
terminal stops everything it started, the embedded PostgreSQL included, without a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_for(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and cmdline[0].endswith("postgres") and str(data_dir / "pg") in cmdline:
            found.append(process)
    return found


@pytest.mark.slow
def test_make_run_serves_the_site_and_ctrl_c_stops_everything_it_started(tmp_path):
    data_dir, port = tmp_path / "data", _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HUMPHREY_")) and k != "DATABASE_URL"}
    env.update({"HUMPHREY_DATA_DIR": str(data_dir), "PORT": str(port)})
    launcher = subprocess.Popen(
        [sys.executable, "-m", "humphrey.devserver"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job is
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal leaves it
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not any("auditor@example.gov.uk" in line for line in lines):
            line = launcher.stdout.readline()
            if not line and launcher.poll() is not None:
                break
            lines.append(line)
        assert any("Humphrey is running on" in line for line in lines), "".join(lines)
        assert any("civil.servant@example.gov.uk" in line and "password:" in line for line in lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as page:
            assert page.status == 200
        assert _postgres_for(data_dir), "the launcher runs the embedded database"

        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
        rest, _ = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    lines.append(rest)
    deadline = time.monotonic() + 30
    while _postgres_for(data_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _postgres_for(data_dir), "the embedded database was left running:\n" + "".join(lines)
    assert launcher.returncode == 0
    assert "Traceback" not in "".join(lines)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
