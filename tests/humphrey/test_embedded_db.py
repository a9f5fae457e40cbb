"""The embedded server's memory setting."""

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
