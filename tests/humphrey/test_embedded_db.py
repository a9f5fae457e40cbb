"""The embedded server: its memory setting, bringing an older pgvector up to date, and forgetting
processes that stopped using it without saying so."""

from __future__ import annotations

import pytest

from humphrey import embedded_db


class FakeServer:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def psql(self, sql: str) -> str:
        self.statements.append(sql)
        return "ALTER SYSTEM"


@pytest.mark.parametrize(
    ("env", "state", "expected"),
    [
        (None, " ?column?\n exists=1\n buffers=\n", ["ALTER SYSTEM SET shared_buffers = '1GB';"]),
        (None, " exists=1\n buffers=1GB\n", []),  # already asked for: nothing to do
        ("512MB", " exists=1\n buffers=1GB\n", ["ALTER SYSTEM SET shared_buffers = '512MB';"]),
        ("1GB; DROP TABLE x", " exists=1\n buffers=\n", []),  # not a size: ignored, never sent
    ],
)
def test_shared_buffers_are_asked_for_once_and_only_as_a_size(monkeypatch, env, state, expected):
    server = FakeServer()
    monkeypatch.setattr(embedded_db, "_server", server)
    if env is None:
        monkeypatch.delenv("HUMPHREY_EMBEDDED_DB_SHARED_BUFFERS", raising=False)
    else:
        monkeypatch.setenv("HUMPHREY_EMBEDDED_DB_SHARED_BUFFERS", env)
    embedded_db._set_shared_buffers(state)
    assert server.statements == expected


@pytest.mark.django_db
def test_a_database_made_under_an_older_pgvector_is_brought_up_to_the_servers():
    """A data folder made by ``pgserver`` holds pgvector's SQL objects at 0.6; the server's library is
    newer. Starting on it updates the extension in that database (here: a scratch database whose
    catalogue says 0.8.0, so the real upgrade scripts run), and a second start changes nothing."""
    server = embedded_db._server
    assert server is not None, "the tests run on the embedded server"
    name = 'humphrey_old "pgvector"'
    quoted = name.replace('"', '""')
    server.psql(f'DROP DATABASE IF EXISTS "{quoted}";\nCREATE DATABASE "{quoted}";')
    try:
        server.psql(
            f'\\connect "{quoted}"\n'
            "CREATE EXTENSION vector;\nUPDATE pg_extension SET extversion = '0.8.0' WHERE extname = 'vector';"
        )
        version = f"\\connect \"{quoted}\"\nSELECT 'v=' || extversion FROM pg_extension WHERE extname = 'vector';"
        assert "v=0.8.0" in server.psql(version)
        embedded_db._update_pgvector(name)
        after = server.psql(version)
        default = server.psql("SELECT 'v=' || default_version FROM pg_available_extensions WHERE name = 'vector';")
        assert after.split("v=")[1].split()[0] == default.split("v=")[1].split()[0] != "0.8.0"
        embedded_db._update_pgvector(name)  # nothing left to do
        assert server.psql(version) == after
    finally:
        server.psql(f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE);')


def test_processes_that_are_gone_are_forgotten_so_the_last_one_left_stops_the_server(tmp_path):
    """A process killed while using the embedded server never takes itself off the server's list of
    users, and the server only stops when the last one on that list exits: the gone are dropped."""
    import json
    import os
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        handles = tmp_path / ".handle_pids.json"
        handles.write_text(json.dumps([int(gone.stdout), alive.pid, os.getpid()]))
        embedded_db._forget_gone_processes(tmp_path)
        assert json.loads(handles.read_text()) == [alive.pid, os.getpid()]
    finally:
        alive.kill()
        alive.wait()
    embedded_db._forget_gone_processes(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]
