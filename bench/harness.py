"""What the benchmarks that keep a database of their own share: Django set up on it, and dropping it."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The shared corpus, where the tests and the evaluate_* commands look for it too.
CORPUS = Path(os.environ.get("HUMPHREY_CORPUS_DIR") or ROOT.parent / "shared" / "corpus")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def setup_django(db_name: str) -> None:
    """Django on the database ``db_name`` of the embedded server, production-like (DEBUG off: no query log)."""
    os.environ.pop("DATABASE_URL", None)
    os.environ["HUMPHREY_EMBEDDED_DB_NAME"] = db_name
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humphrey.settings")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(40))
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("HUMPHREY_LOG_LEVEL", "WARNING")
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def drop_database(db_name: str, *, create: bool = False) -> None:
    """Drop ``db_name`` on the embedded server (and make it again, empty, with ``create``)."""
    from django.db import connection

    from humphrey import embedded_db

    connection.close()
    server = getattr(embedded_db, "_server", None)
    if server is None:
        return
    server.psql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE);')
    if create:
        server.psql(f'CREATE DATABASE "{db_name}";')
    log(f"dropped {db_name}" + (" and made it again" if create else ""))
