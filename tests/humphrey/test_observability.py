"""Metrics only for who may see them; JSON logs with a request id; readiness reports the model."""

import json
import logging

import pytest

from humphrey.observability import JsonFormatter, RequestIdFilter, bind_request_id

pytestmark = pytest.mark.django_db


def test_metrics_refused_to_anonymous_and_ordinary_users(client, civil_servant):
    """/metrics is 403 for the public and for signed-in non-staff users."""
    assert client.get("/metrics").status_code == 403
    client.force_login(civil_servant)
    assert client.get("/metrics").status_code == 403


def test_metrics_for_staff(client, make_user):
    """Staff see Prometheus text including answer and ingestion metrics."""
    staff = make_user("ops@example.gov.uk", staff=True)  # with the authenticator app staff need
    client.force_login(staff)
    response = client.get("/metrics")
    assert response.status_code == 200
    body = response.content.decode()
    assert "humphrey_answers_total" in body
    assert 'humphrey_ingestion_queue_depth{status="queued"}' in body


def test_metrics_for_monitoring_network(client, settings):
    """A scraper inside HUMPHREY_METRICS_NETWORKS needs no account; one outside is refused."""
    settings.HUMPHREY_METRICS_NETWORKS = ["10.20.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.21.3.4").status_code == 403


def test_json_log_line_carries_request_id_and_extras():
    """Each log line is one JSON object with the bound request id and structured extras."""
    bind_request_id("abc123")
    record = logging.LogRecord("humphrey.test", logging.INFO, __file__, 1, "answer finished", None, None)
    record.answer_ms = 812
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "abc123"
    assert line["message"] == "answer finished"
    assert line["answer_ms"] == 812


def test_request_id_echoed_and_unsafe_ids_replaced(client):
    """A safe X-Request-ID from the proxy is kept; an unsafe one is replaced, never echoed."""
    response = client.get("/healthz", HTTP_X_REQUEST_ID="req-42")
    assert response["X-Request-ID"] == "req-42"
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>" and len(response["X-Request-ID"]) == 32


def test_readyz_extractive_mode_is_ready(monitor, client):
    """With no model configured, readiness needs only the database and channel layer."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["model"] == {"ok": True, "mode": "extractive"}


@pytest.fixture
def monitor(settings):
    """This client (127.0.0.1) as the monitoring network: it sees the probes' whole report."""
    settings.HUMPHREY_METRICS_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def chat_model(settings):
    """Point the chat model at an OpenAI-compatible URL for one test; forget it afterwards."""
    from assistant.providers import reset_chat_models

    def use(base_url: str, cls: str = "openai") -> None:
        settings.HUMPHREY_CHAT_MODELS = {
            "probe": {"CLASS": cls, "CONFIG": {"base_url": base_url, "api_key": "test", "model": "fake"}}
        }
        settings.HUMPHREY_CHAT_MODEL_ALIAS = "probe"
        reset_chat_models()

    yield use
    reset_chat_models()


def test_readyz_when_model_endpoint_unreachable(monitor, client, chat_model, settings):
    """A configured model endpoint that does not answer is reported; /readyz stays 200 while answers
    quote the guidance instead (the default), and is 503 when they would fail."""
    from humphrey.health import probes_forget

    chat_model("http://127.0.0.1:1/v1")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["model"]["ok"] is False and response.json()["model"]["quoting"] is True
    settings.HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS = False
    probes_forget()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["model"]["ok"] is False


def test_readyz_ready_when_model_endpoint_answers(monitor, client, chat_model):
    """A reachable OpenAI-compatible endpoint (the fake server over real HTTP) makes /readyz 200."""
    from tests.fakes.openai_server import FakeOpenAIServer

    server = FakeOpenAIServer().start()
    try:
        chat_model(server.base_url)
        response = client.get("/readyz")
    finally:
        server.stop()
    assert response.status_code == 200, response.json()
    assert response.json()["model"]["ok"] is True
    assert response.json()["model"]["endpoint"] == "probe"


def test_readyz_while_circuit_open(monitor, client, chat_model, settings):
    """While the endpoint's circuit breaker is open (answers failing fast), the process stays ready
    when answers quote the guidance instead (the default), saying so; without that, it is not ready."""
    from assistant.providers import get_chat_model
    from humphrey.health import probes_forget

    chat_model("http://127.0.0.1:1/v1")
    breaker = get_chat_model().breaker
    for _ in range(breaker.threshold):
        breaker.failure()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["model"] == {
        "mode": "model",
        "endpoint": "probe",
        "ok": False,
        "error": "circuit_open",
        "quoting": True,
    }
    settings.HUMPHREY_CHAT_QUOTE_WHEN_MODEL_FAILS = False
    probes_forget()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["model"]["error"] == "circuit_open"


def test_request_logs_never_hold_query_strings_or_email_addresses(client, caplog, make_user):
    """Search text and email addresses in a URL (a curator's "try a question", the sign-in page's
    next link, an auditor's search for a person) reach no log line: the access log has the path
    without its query string, and any message naming a URL is redacted, Django's own 404 warnings too."""
    import logging as _logging

    from humphrey.observability import RedactFilter

    redacting = RedactFilter()
    handler_records: list[str] = []

    class Capture(_logging.Handler):
        def emit(self, record):
            redacting.filter(record)
            handler_records.append(self.format(record) if self.formatter else record.getMessage())

    capture = Capture()
    root = _logging.getLogger()
    root.addHandler(capture)
    previous = root.level
    root.setLevel(_logging.INFO)
    try:
        client.get("/curate/c/hr/try/", {"q": "my salary secret", "email": "jo.bloggs@example.com"})
        client.get("/no-such-page/jo.bloggs@example.com/", {"q": "sick note for my back"})
        client.get("/accounts/login/", {"next": "/audit/?q=jo.bloggs%40example.com"})
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)
    logged = "\n".join(handler_records)
    assert "GET /curate/c/hr/try/ " in logged and "GET /accounts/login/ " in logged
    for secret in ("salary", "jo.bloggs", "sick note", "example.com", "%40"):
        assert secret not in logged, secret
    assert "[email]" in logged  # the 404 path named an address; it was taken out
