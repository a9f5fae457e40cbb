"""/healthz reports the database, pgvector and the channel layer as JSON."""

import pytest
from django.db import connection


@pytest.mark.django_db
def test_embedded_database_has_pgvector():
    """The test database (embedded or DATABASE_URL) has the vector extension, made by a migration."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
        cursor.execute("SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector")
        (distance,) = cursor.fetchone()
    assert version
    assert distance == pytest.approx(1.0)


@pytest.mark.django_db
def test_healthz_ok(client):
    """All parts up: 200 and a JSON report naming each."""
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["pgvector"]["ok"] is True and body["pgvector"]["version"]
    assert body["channel_layer"]["ok"] is True


@pytest.mark.django_db
def test_healthz_unavailable_when_channel_layer_down(client, settings):
    """A channel layer that cannot be reached makes the probe answer 503 and say which part failed."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}
    }
    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["channel_layer"]["ok"] is False
    assert body["database"]["ok"] is True


@pytest.mark.django_db
def test_healthz_unavailable_when_database_down(client, monkeypatch):
    """A database error is reported as 503 without leaking details."""
    from humphrey import health

    def broken():
        raise RuntimeError("connection refused: password=secret")

    monkeypatch.setattr(health.connection, "get_connection_params", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "error": "RuntimeError"}
    assert "secret" not in response.content.decode()
