"""The chat's own small pool of database threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings

_db_threads: ThreadPoolExecutor | None = None


def db_call(func):
    """``func`` run on the chat's own small pool of database threads (each holding a pooled
    connection while it works). Channels' default runs every consumer's database work on ONE shared
    thread: under load, each question waited behind other answers being stored."""
    global _db_threads
    if _db_threads is None:
        _db_threads = ThreadPoolExecutor(max_workers=settings.HUMPHREY_CHAT_DB_THREADS, thread_name_prefix="chat-db")
    return database_sync_to_async(func, thread_sensitive=False, executor=_db_threads)
