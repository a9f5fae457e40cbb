"""Test data written straight into the database: documents with ready, current versions and chunks
embedded by the deterministic fake embedder (shared by the retrieval and chat tests)."""

from __future__ import annotations

import hashlib
import itertools

from django.contrib.auth.models import Group

from documents.embeddings import FakeEmbeddings
from documents.models import Chunk, Collection, Document, DocumentVersion, Marking
from documents.services import chunk_units_embed

FAKE = FakeEmbeddings()
_counter = itertools.count(1)


def make_collection(
    slug: str, *, groups=(), marking=Marking.OFFICIAL, active: bool = True, name: str = ""
) -> Collection:
    """A collection written straight in (no curator, no audit event), readable by ``groups``."""
    collection = Collection.objects.create(
        name=name or slug.replace("-", " ").title(), slug=slug, marking=marking, is_active=active
    )
    for group in groups:
        collection.reader_groups.add(Group.objects.get_or_create(name=group)[0])
    return collection


def add_document(
    collection: Collection,
    texts: list[str],
    *,
    title: str | None = None,
    searchable: bool = True,
    headings: list[str] | None = None,
) -> Document:
    """A document with one ready, current version whose chunks are ``texts``."""
    n = next(_counter)
    document = Document.objects.create(collection=collection, title=title or f"Doc {n}", source_name=f"doc-{n}.md")
    body = "\n\n".join(texts)
    version = DocumentVersion.objects.create(
        document=document,
        number=1,
        file=f"documents/doc-{n}.md",
        original_filename=f"doc-{n}.md",
        sha256=hashlib.sha256(body.encode()).hexdigest(),
        size_bytes=len(body),
        status="ready",
    )
    document.current_version = version
    document.save(update_fields=["current_version"])
    vectors = FAKE.embed_documents(texts)
    offset = 0
    chunks = Chunk.objects.bulk_create(
        Chunk(
            version=version,
            collection=collection,
            searchable=searchable,
            ordinal=i,
            text=text,
            heading_path=(headings[i] if headings else ""),
            anchor=f"section {i + 1}",
            char_start=(start := body.index(text, offset)),
            char_end=(offset := start + len(text)),
            embedding=vector,
            embedding_model=FAKE.model_id,
        )
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    )
    chunk_units_embed(chunks, FAKE)  # answer units and their vectors, as ingestion makes them
    Chunk.objects.bulk_update(chunks, ["units", "unit_vectors"])
    return document


def signed_in_session(user) -> str:
    """The key of a new session in which ``user`` is signed in, as Django's login() would leave it
    (for websocket clients in other processes: the live tests and the load benchmark)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def enrol_totp(user) -> str:
    """Give ``user`` an authenticator app (allauth's TOTP authenticator, made by allauth's own
    activation helper, as the set-up page would); returns the app's secret."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from accounts.roles import forget_cached_roles

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    forget_cached_roles(user)
    return secret


def totp_code(user) -> str:
    """The code ``user``'s authenticator app shows now (for the sign-in's two-factor step). Near the
    end of a period it waits for the next one: the site allows no drift (allauth's tolerance is 0), so
    a code read in a period's last moments, on a busy machine, reached the site after it had turned
    and was refused (a browser sign-in then timed out on the two-factor page)."""
    import time

    from allauth.mfa import app_settings
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
    from allauth.mfa.utils import decrypt

    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    secret = decrypt(authenticator.data["secret"])
    left = app_settings.TOTP_PERIOD - time.time() % app_settings.TOTP_PERIOD
    if left < 5:
        time.sleep(left + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))
