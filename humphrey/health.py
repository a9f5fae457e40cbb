"""Liveness and readiness probes, as JSON.

``/healthz`` reports the database, the pgvector extension and the channel layer: 200 when all are
fine, 503 naming what is not; ``/readyz`` adds the chat model endpoint. Both are public, so each
process checks at most once every ``HUMPHREY_PROBE_CACHE_SECONDS`` whatever the rate of hits (one
check at a time: callers arriving meanwhile wait for it), and anyone but staff and the monitoring
networks (``HUMPHREY_METRICS_NETWORKS``) is told the status alone, not which part failed or how fast.
Neither ever shows configuration or secrets.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .metrics import monitoring_client


def check_database() -> dict:
    """A fresh connection with a short timeout, so a probe answers in seconds even when the
    pool would wait for the server (and a dead server is not hidden by a pooled connection)."""
    import psycopg

    started = time.perf_counter()
    try:
        params = connection.get_connection_params()
        params["connect_timeout"] = 3
        with psycopg.connect(**params) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
    except Exception as exc:  # any failure is reported, none is raised
        return {"database": {"ok": False, "error": type(exc).__name__}, "pgvector": {"ok": False}}
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    return {
        "database": {"ok": True, "ms": elapsed},
        "pgvector": {"ok": row is not None, "version": row[0] if row else None},
    }


def check_channel_layer() -> dict:
    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "error": "not configured"}
    started = time.perf_counter()

    async def round_trip() -> bool:
        channel = await layer.new_channel("healthz.")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "healthz", "token": token})
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
        return message.get("token") == token

    try:
        ok = async_to_sync(round_trip)()
    except Exception as exc:
        return {"ok": False, "backend": type(layer).__name__, "error": type(exc).__name__}
    return {"ok": ok, "backend": type(layer).__name__, "ms": round((time.perf_counter() - started) * 1000, 1)}


_probe_lock = threading.Lock()  # one check at a time per process; others wait and share its result
_probes: dict[str, tuple[float, dict]] = {}


def _probe(name: str, build) -> dict:
    """``build()``'s report, at most ``HUMPHREY_PROBE_CACHE_SECONDS`` old."""
    with _probe_lock:
        cached = _probes.get(name)
        if cached is not None and time.monotonic() - cached[0] < settings.HUMPHREY_PROBE_CACHE_SECONDS:
            return cached[1]
        report = build()
        _probes[name] = (time.monotonic(), report)
        return report


def probes_forget() -> None:
    """Drop the cached reports (tests)."""
    with _probe_lock:
        _probes.clear()


def _answer(request: HttpRequest, report: dict, up: str) -> JsonResponse:
    status = report["status"]
    body = report if monitoring_client(request) else {"status": status}
    return JsonResponse(body, status=200 if status == up else 503)


def _health() -> dict:
    report = check_database()
    report["channel_layer"] = check_channel_layer()
    report["status"] = "ok" if all(part.get("ok") for part in report.values()) else "unavailable"
    return report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return _answer(request, _probe("healthz", _health), "ok")


def check_model_endpoint() -> dict:
    """Whether the configured chat model endpoint answers (OpenAI, Azure or compatible).

    The extractive answerer needs no endpoint. An endpoint whose circuit breaker is open is not
    ready even if it would answer this probe: answers are failing fast until it closes.
    """
    from assistant.providers import get_chat_model

    try:
        model = get_chat_model()
    except Exception as exc:  # misconfiguration is a readiness failure, not a crash
        return {"ok": False, "mode": "model", "error": type(exc).__name__}
    if not getattr(model, "uses_language_model", False):
        return {"ok": True, "mode": "extractive"}
    report = {"mode": "model", "endpoint": model.info.endpoint}
    breaker = getattr(model, "breaker", None)
    if breaker is not None and breaker.is_open:
        return {**report, "ok": False, "error": "circuit_open"}
    started = time.perf_counter()

    async def probe() -> None:
        client = model._make_client().with_options(timeout=3.0, max_retries=0)
        try:
            await client.models.list()
        finally:
            await client.close()

    try:
        async_to_sync(probe)()
    except Exception as exc:
        return {**report, "ok": False, "error": type(exc).__name__}
    return {**report, "ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _readiness() -> dict:
    report = check_database()
    report["channel_layer"] = check_channel_layer()
    model = report["model"] = check_model_endpoint()
    needed = [part for name, part in report.items() if name != "model"]
    if model.get("mode") == "model" and not model.get("ok") and settings.HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS:
        # Answers quote the guidance until the model is back (HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS): every
        # process unready at once would turn a model outage into an outage of the whole service.
        model["quoting"] = True
    else:
        needed.append(model)
    report["status"] = "ready" if all(part.get("ok") for part in needed) else "unavailable"
    return report


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: everything /healthz checks, plus the chat model endpoint being reachable (unless
    answers quote the guidance while it is not: then it is reported, as ``model.quoting``, not failed)."""
    return _answer(request, _probe("readyz", _readiness), "ready")
