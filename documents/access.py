"""Who may see which collection, document, version and passage: every door of the documents app.

The definitions live on ``CollectionQuerySet`` (``readable_by``, ``curated_by``) and, for search, in
the retrieval SQL; views, consumers, the intake, insights and commands ask here and nowhere else
(tests/test_access_doors.py checks). ``access_*`` functions return the object or raise ``Http404``,
the same answer whether it does not exist or is not the person's to see, so an id reveals nothing.
"""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.roles import Role, role_required

from .citations import cited_to
from .models import Chunk, Collection, Document, DocumentVersion, VersionStatus

# The curation screens' gate, before any object is looked up: sign-in, then two-factor if the role
# needs it, then the curator role (403). Which collections a curator may touch is decided below.
curator_only = role_required(Role.CURATOR)


def readable_collections(user):
    """Active collections ``user`` may read, at a marking the deployment serves."""
    return Collection.objects.readable_by(user)


def readable_slugs(users) -> dict[int, set[str]]:
    """``readable_collections`` for many people in one query: user id -> slugs."""
    return Collection.objects.readable_slugs(users)


def curated_collections(user):
    """Collections ``user`` looks after (owner or named curator; none without the curator role)."""
    return Collection.objects.curated_by(user)


def may_read_collection(user, collection: Collection) -> bool:
    return readable_collections(user).filter(pk=collection.pk).exists()


def may_curate_collection(user, collection: Collection) -> bool:
    return curated_collections(user).filter(pk=collection.pk).exists()


def access_collection_for_curator(user, slug: str) -> Collection:
    return get_object_or_404(curated_collections(user), slug=slug)


def access_document_for_curator(user, document_id: int) -> Document:
    return get_object_or_404(
        Document.objects.select_related("collection", "current_version").filter(
            collection__in=curated_collections(user)
        ),
        pk=document_id,
    )


def access_version_for_curator(user, version_id: int) -> DocumentVersion:
    return get_object_or_404(
        DocumentVersion.objects.select_related("document__collection", "uploaded_by").filter(
            document__collection__in=curated_collections(user)
        ),
        pk=version_id,
    )


def access_chunk_for_curator(user, chunk_id: int) -> Chunk:
    return get_object_or_404(
        Chunk.objects.select_related("version__document__collection").filter(collection__in=curated_collections(user)),
        pk=chunk_id,
    )


def access_passage(user, chunk_id: int) -> tuple[Chunk, bool]:
    """A passage the user may read, and whether they may only because it was cited to them; else 404
    (the same whether it does not exist or is not theirs to read).

    A reader of the collection may read a *searchable* passage (current version, ready, document and
    collection active), or any passage cited in one of their own answers (a retired document, an
    older version): citations keep working, but no sequential id opens what nobody gave them. A
    curator of the collection may read every passage of it."""
    chunk = get_object_or_404(
        Chunk.objects.select_related("version__document__collection").filter(
            Q(collection__in=readable_collections(user)) | Q(collection__in=curated_collections(user))
        ),
        pk=chunk_id,
    )
    if chunk.searchable or curated_collections(user).filter(pk=chunk.collection_id).exists():
        return chunk, False
    if cited_to(user, chunk.pk):
        return chunk, True
    raise Http404


def access_version_comparison(
    user, document_id: int, from_id: int, to_id: int, *, cited_chunk_id: int | None = None
) -> tuple[Document, DocumentVersion, DocumentVersion, bool]:
    """Two versions of a document to compare (what changed between them), and whether the user may
    see them only because the older was cited to them; else 404, the same whether they do not exist
    or are not the person's to see.

    A curator of the collection may compare any of its versions. A reader of the collection (active,
    at a marking served) may compare the ready versions of an active document; once the document is
    retired, only if ``cited_chunk_id`` (the "changed since" link on their answer carries it) is a
    passage of ``from_id`` cited in one of their own answers (``citations.cited_to``)."""
    document = get_object_or_404(
        Document.objects.select_related("collection", "current_version").filter(
            Q(collection__in=readable_collections(user)) | Q(collection__in=curated_collections(user))
        ),
        pk=document_id,
    )
    versions = {v.pk: v for v in DocumentVersion.objects.filter(document=document, pk__in=[from_id, to_id])}
    if from_id not in versions or to_id not in versions:
        raise Http404
    older, newer = versions[from_id], versions[to_id]
    if curated_collections(user).filter(pk=document.collection_id).exists():
        return document, older, newer, False
    if older.status != VersionStatus.READY or newer.status != VersionStatus.READY:
        raise Http404
    if document.is_active:
        return document, older, newer, False
    if (
        cited_chunk_id is not None
        and Chunk.objects.filter(pk=cited_chunk_id, version=older).exists()
        and cited_to(user, cited_chunk_id)
    ):
        return document, older, newer, True
    raise Http404
