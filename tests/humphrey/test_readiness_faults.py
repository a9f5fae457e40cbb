"""/readyz fails while PostgreSQL or Redis is down and recovers when they return.

Each test runs its own throwaway server (a second embedded PostgreSQL, or a redis-server on a free
port) and a real Daphne child process pointed at it, so stopping it disturbs nothing else.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import (
    ROOT,
    free_port,
    server_environment,
    stop_postgres,
    stop_process,
    throwaway_postgres,
    wait_for_port,
)


def readyz(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def wait_for_status(url: str, status: int, within: float = 30.0) -> dict:
    """Poll until /readyz answers ``status``; fail with the last report if it never does."""
    deadline = time.monotonic() + within
    last: tuple[int, dict] = (0, {})
    while time.monotonic() < deadline:
        last = readyz(url)
        if last[0] == status:
            return last[1]
        time.sleep(0.3)
    raise AssertionError(f"/readyz never answered {status}; last: {last}")


def start_daphne(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "humphrey.asgi:application"],
        cwd=ROOT,
        env=env,
    )
    wait_for_port(port, process=process)
    return process, f"http://127.0.0.1:{port}"


@pytest.mark.django_db
def test_readyz_follows_redis_down_and_back():
    """Redis stops: /readyz says the channel layer is down (503). Redis returns: 200 again."""
    redis_bin = shutil.which("redis-server")
    assert redis_bin, "redis-server is part of this machine kind"
    port = free_port()
    cmd = [redis_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    wait_for_port(port, process=redis)
    daphne, url = start_daphne(
        server_environment(REDIS_URL=f"redis://127.0.0.1:{port}/0", HUMPHREY_METRICS_NETWORKS="127.0.0.0/8")
    )
    try:
        report = wait_for_status(url, 200)
        assert report["channel_layer"]["backend"] == "RedisChannelLayer"
        stop_process(redis)
        report = wait_for_status(url, 503)
        assert report["channel_layer"]["ok"] is False
        assert report["database"]["ok"] is True
        redis = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        wait_for_port(port, process=redis)
        wait_for_status(url, 200)
    finally:
        stop_process(daphne)
        stop_process(redis)


def test_readyz_follows_postgres_down_and_back(private_dir: Path):
    """PostgreSQL stops: /readyz reports the database down (503). It restarts: 200 again, no restart of the site."""
    server = throwaway_postgres(private_dir / "pg")
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    socket_dir = server.get_postmaster_info().socket_dir
    env = server_environment(
        DATABASE_URL=f"postgres://postgres@/postgres?host={socket_dir}", HUMPHREY_METRICS_NETWORKS="127.0.0.0/8"
    )
    daphne, url = start_daphne(env)
    try:
        wait_for_status(url, 200)
        stop_postgres(server)
        report = wait_for_status(url, 503)
        assert report["database"]["ok"] is False
        assert report["channel_layer"]["ok"] is True
        server.ensure_postgres_running()
        report = wait_for_status(url, 200)
        assert report["pgvector"]["ok"] is True
    finally:
        stop_process(daphne)
