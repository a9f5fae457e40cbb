"""Django admin for documents: read-only views for staff. Every change goes through the curation
screens (``/curate/``) and ``documents.services``, which keep ``Chunk.searchable`` right and record
each change for audit; so nothing can be added, edited or deleted here, and the bulk
"delete selected" action is removed.
"""

from __future__ import annotations

from django.contrib import admin

from .models import Chunk, Collection, Document, DocumentVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(Collection)
class CollectionAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "marking", "is_active", "owner", "created_at"]
    list_filter = ["is_active", "marking"]
    search_fields = ["name", "slug"]


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = ["title", "source_name", "collection", "current_version", "is_active"]
    list_filter = ["is_active", "collection"]
    search_fields = ["title", "source_name"]
    list_select_related = ["collection", "current_version"]


@admin.register(DocumentVersion)
class DocumentVersionAdmin(ReadOnlyAdmin):
    list_display = ["document", "number", "status", "progress_done", "progress_total", "uploaded_at", "uploaded_by"]
    list_filter = ["status"]
    search_fields = ["document__title", "original_filename", "sha256"]
    list_select_related = ["document", "uploaded_by"]


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdmin):
    list_display = ["version", "ordinal", "anchor", "searchable", "token_count", "embedding_model"]
    list_filter = ["searchable", "embedding_model"]
    search_fields = ["text", "heading_path"]
    list_select_related = ["version__document"]
    exclude = ["embedding", "search_vector", "search_vector_simple"]
