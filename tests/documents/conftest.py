"""Fixtures for the ingestion and curation tests (the retrieval tests use none of them)."""

from __future__ import annotations

import pytest

from documents import services
from documents.models import Collection


@pytest.fixture
def fake_embedder(settings):
    """Chunks are embedded by the deterministic fake embedder: no model loads."""
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}


@pytest.fixture
def media(settings, tmp_path):
    """Uploaded files go to a throwaway folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def make_collection(db, curator, fake_embedder, media):
    """``make_collection("hr", groups=[...], owner=curator)``: an active collection via the service."""
    from django.contrib.auth.models import Group

    def make(slug: str = "guidance", *, groups=("All staff",), owner=None, name: str = "") -> Collection:
        reader_groups = [Group.objects.get_or_create(name=g)[0] for g in groups]
        return services.collection_create(
            user=owner or curator, name=name or slug.replace("-", " ").title(), slug=slug, reader_groups=reader_groups
        )

    return make


@pytest.fixture
def embedder_down(fake_embedder, monkeypatch):
    """The embedder fails every call (a connection refused) until the returned function is called."""
    from documents.embeddings import FakeEmbeddings

    real = FakeEmbeddings.embed_documents
    monkeypatch.setattr(
        FakeEmbeddings, "embed_documents", lambda self, texts: (_ for _ in ()).throw(ConnectionError("down"))
    )
    return lambda: monkeypatch.setattr(FakeEmbeddings, "embed_documents", real)


@pytest.fixture
def reader(make_user):
    """A civil servant in "All staff"."""
    return make_user("rita@example.gov.uk", groups=["All staff"])


@pytest.fixture
def hr(make_collection):
    return make_collection("hr")


def notices(response) -> list[str]:
    """The messages a page's response put on the page (success and warning notices)."""
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]
