"""Fixtures for the chat tests: guidance written straight into the database, fake embeddings,
and chat models (scripted in-process, or the real ``openai`` SDK against the fake HTTP server)."""

from __future__ import annotations

import itertools

import pytest

from assistant.providers import reset_chat_models
from assistant.providers.fake import FakeChatModel
from documents import embeddings
from documents.embeddings import FakeEmbeddings
from documents.models import Collection, Document
from tests import factories
from tests.factories import make_collection
from tests.fakes.openai_server import FakeOpenAIServer

FAKE = FakeEmbeddings()
_counter = itertools.count(1)

LEAVE = (
    "Annual leave: full-time staff get 25 days of annual leave a year, rising to 30 days after five years "
    "of service. Part-time staff get annual leave pro rata."
)
EXPENSES = (
    "Travel expenses: claim travel and subsistence within 30 days of the journey, with receipts, "
    "through the expenses system. Claims are approved by your line manager."
)
SECRET = (
    "Annual leave for the security team: the secret rota gives 40 days of annual leave to staff in the restricted unit."
)


@pytest.fixture(autouse=True)
def _fakes(settings):
    """No model loads: questions and chunks are embedded by the hashed bag-of-words fake."""
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}
    # The gate's defaults are calibrated on MiniLM; the hashed bag of words scores lower for the same match.
    settings.HUMPHREY_ANSWER_MIN_EVIDENCE = 0.2
    settings.HUMPHREY_ANSWER_MIN_UNIT_SIMILARITY = 0.1
    settings.HUMPHREY_CHAT_MODELS = {"extractive": {"CLASS": "extractive", "CONFIG": {}}}
    settings.HUMPHREY_CHAT_MODEL_ALIAS = "extractive"
    reset_chat_models()
    FakeChatModel.requests.clear()
    yield
    reset_chat_models()


def use_model(settings, cls: str = "fake", **config) -> None:
    settings.HUMPHREY_CHAT_MODELS = {"test": {"CLASS": cls, "CONFIG": config}}
    settings.HUMPHREY_CHAT_MODEL_ALIAS = "test"
    reset_chat_models()


@pytest.fixture
def fake_model(settings):
    """The scripted in-process model; returns a function to change its script."""

    def configure(**config):
        use_model(settings, "fake", **config)

    configure()
    return configure


@pytest.fixture(scope="session")
def openai_server():
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture
def remote_embedder(settings, openai_server):
    """Embeddings from the fake server over HTTP (``openai``), approved up to OFFICIAL (the default);
    its embeddings behaviour is reset afterwards (the server lives for the session)."""
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "openai", "CONFIG": {"model": "fake-embedding"}}
    embeddings._instance = None  # the client holds the base URL: build it for this server
    openai_server.embedding_requests.clear()
    yield openai_server
    openai_server.configure(merge=True, embeddings_status=200, embeddings_fail_on="")
    embeddings._instance = None


@pytest.fixture
def openai_model(settings, openai_server):
    """The real ``openai`` SDK talking HTTP to the fake server (reset to the ``ok`` scenario)."""
    openai_server.configure(scenario="ok")
    openai_server.requests.clear()

    def configure(**config):
        merged = {
            "base_url": openai_server.base_url,
            "api_key": "test-key",
            "model": "fake-model",
            "first_token_timeout": 2.0,
            "between_tokens_timeout": 1.0,
            "backoff": 0.01,
            **config,
        }
        use_model(settings, "openai", **merged)

    configure()
    return configure


def add_document(collection: Collection, texts: list[str], *, title: str | None = None) -> Document:
    """A document with one ready, current, searchable version whose chunks are ``texts``."""
    title = title or f"Doc {next(_counter)}"
    headings = [f"{title} > Section {i + 1}" for i in range(len(texts))]
    return factories.add_document(collection, texts, title=title, headings=headings)


@pytest.fixture
def guidance(db):
    """HR guidance for 'All staff', and a restricted collection only 'Security team' may read."""
    hr = make_collection("hr", groups=["All staff"])
    add_document(hr, [LEAVE], title="Leave policy")
    add_document(hr, [EXPENSES], title="Expenses policy")
    restricted = make_collection("restricted", groups=["Security team"])
    add_document(restricted, [SECRET], title="Security team rota")
    return {"hr": hr, "restricted": restricted}


@pytest.fixture
def staff(make_user):
    return make_user("sam@example.gov.uk", groups=["All staff"])


@pytest.fixture
def doubtful_site(guidance, staff, openai_server):
    """The chat site with a model whose two sentences are in none of the leave guidance they cite:
    the claim check marks both."""
    from .test_browser import chat_site

    server = chat_site(
        openai_server,
        reply="According to the guidance, the rule is set out in the first passage [1]. "
        "It also explains how to apply it in practice [1].",
    )
    yield server
    server.stop()
