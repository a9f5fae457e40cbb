"""/healthz reports the database, pgvector and the channel layer as JSON (in full to the monitoring
network and staff, the status alone to anyone else), checking at most every few seconds."""

import pytest
from django.db import connection


@pytest.fixture(autouse=True)
def _monitoring(settings):
    """These tests' client (127.0.0.1) is the monitoring network unless a test says otherwise."""
    settings.HUMPHREY_METRICS_NETWORKS = ["127.0.0.0/8"]


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


@pytest.mark.django_db
def test_anonymous_callers_are_told_the_status_alone(client, settings, make_user):
    """Outside the monitoring network a probe says only whether it is up, not which part or how fast;
    staff see the whole report."""
    settings.HUMPHREY_METRICS_NETWORKS = []
    for path, up in (("/healthz", "ok"), ("/readyz", "ready")):
        response = client.get(path)
        assert response.status_code == 200 and response.json() == {"status": up}
    staff = make_user("sid@example.gov.uk", staff=True)  # with the authenticator app staff need
    client.force_login(staff)
    assert client.get("/readyz").json()["database"]["ok"] is True


@pytest.mark.django_db
def test_probes_check_at_most_once_per_cache_period(client, settings, monkeypatch):
    """A flood of public hits costs one database connection and one model probe per period, not one
    each; a failure shows as soon as the period is over."""
    from humphrey import health

    settings.HUMPHREY_PROBE_CACHE_SECONDS = 60
    health.probes_forget()
    calls = {"database": 0, "model": 0}
    real_db, real_model = health.check_database, health.check_model_endpoint

    def counted_db():
        calls["database"] += 1
        return real_db()

    def counted_model():
        calls["model"] += 1
        return real_model()

    monkeypatch.setattr(health, "check_database", counted_db)
    monkeypatch.setattr(health, "check_model_endpoint", counted_model)
    try:
        for _ in range(20):
            assert client.get("/readyz").status_code == 200
            assert client.get("/healthz").status_code == 200
        assert calls == {"database": 2, "model": 1}  # one for each probe's report
        monkeypatch.setattr(health, "check_database", lambda: {"database": {"ok": False}, "pgvector": {"ok": False}})
        assert client.get("/readyz").status_code == 200  # still the cached report
        settings.HUMPHREY_PROBE_CACHE_SECONDS = 0
        assert client.get("/readyz").status_code == 503
    finally:
        health.probes_forget()
