"""Whose insights a person may see: every door of the insights app.

Auditors may see every collection's dashboard; curators those of the collections they look after
(``documents.access``); nobody else any. ``access_collection_insights`` raises ``Http404`` for
everything else, the same answer as for a collection that does not exist.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.roles import Role, has_role
from documents.access import curated_collections
from documents.models import Collection


def insight_collections(user) -> QuerySet[Collection]:
    """The collections whose insights ``user`` may see."""
    if has_role(user, Role.AUDITOR):
        return Collection.objects.all()
    return curated_collections(user)  # none unless a curator of it


def access_collection_insights(user, slug: str) -> Collection:
    collection = insight_collections(user).filter(slug=slug).first()
    if collection is None:
        raise Http404("No such collection.")
    return collection
