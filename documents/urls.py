"""Curation screens under /curate/, and the passage and version comparison views that citations link to."""

from django.urls import path

from .views import changes, collections, documents, marking_changes, passages, review, sources

app_name = "documents"

urlpatterns = [
    path("", collections.collection_list, name="collections"),
    path("new/", collections.collection_create, name="collection_create"),
    path("review/", review.review_list, name="review"),
    path("c/<slug:slug>/", collections.collection_detail, name="collection"),
    path("c/<slug:slug>/status.json", collections.collection_status, name="collection_status"),
    path("c/<slug:slug>/edit/", collections.collection_edit, name="collection_edit"),
    path("c/<slug:slug>/upload/", documents.collection_upload, name="collection_upload"),
    path("c/<slug:slug>/never-read/", documents.collection_never_read, name="collection_never_read"),
    path("c/<slug:slug>/readers/", collections.collection_readers, name="collection_readers"),
    path("c/<slug:slug>/marking-change/<int:change_id>/", marking_changes.marking_change, name="marking_change"),
    path("c/<slug:slug>/glossary/", collections.collection_glossary, name="collection_glossary"),
    path("c/<slug:slug>/retire/", collections.collection_retire, name="collection_retire"),
    path("c/<slug:slug>/try/", collections.collection_try, name="collection_try"),
    path("c/<slug:slug>/sources/new/", sources.source_add, name="source_add"),
    path("c/<slug:slug>/sources/<int:source_id>/", sources.source_detail, name="source"),
    path("c/<slug:slug>/sources/<int:source_id>/edit/", sources.source_edit, name="source_edit"),
    path("c/<slug:slug>/sources/<int:source_id>/sync/", sources.source_sync, name="source_sync"),
    path("c/<slug:slug>/sources/<int:source_id>/pause/", sources.source_pause, name="source_pause"),
    path("c/<slug:slug>/sources/<int:source_id>/remove/", sources.source_remove, name="source_remove"),
    path("documents/<int:document_id>/", documents.document_detail, name="document"),
    path("documents/<int:document_id>/retire/", documents.document_retire, name="document_retire"),
    path("documents/<int:document_id>/review/", documents.document_review, name="document_review"),
    path("documents/<int:document_id>/new-version/", documents.document_version_upload, name="document_version_upload"),
    path("documents/<int:document_id>/reviewed/", review.document_reviewed, name="document_reviewed"),
    path(
        "documents/<int:document_id>/changes/<int:from_id>/<int:to_id>/",
        changes.version_changes,
        name="version_changes",
    ),
    path("versions/<int:version_id>/", documents.version_detail, name="version"),
    path("versions/<int:version_id>/retry/", documents.version_retry, name="version_retry"),
    path("chunks/<int:chunk_id>/", passages.chunk_detail, name="chunk"),
    path("chunks/<int:chunk_id>/exclusion/", passages.chunk_exclusion, name="chunk_exclusion"),
    path("passage/<int:chunk_id>/", passages.passage, name="passage"),
]
