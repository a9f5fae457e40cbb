"""Curation screens under /curate/, and the passage view that citations link to."""

from django.urls import path

from . import views

app_name = "documents"

urlpatterns = [
    path("", views.collection_list, name="collections"),
    path("new/", views.collection_create, name="collection_create"),
    path("c/<slug:slug>/", views.collection_detail, name="collection"),
    path("c/<slug:slug>/status.json", views.collection_status, name="collection_status"),
    path("c/<slug:slug>/edit/", views.collection_edit, name="collection_edit"),
    path("c/<slug:slug>/upload/", views.collection_upload, name="collection_upload"),
    path("c/<slug:slug>/readers/", views.collection_readers, name="collection_readers"),
    path("c/<slug:slug>/marking-change/<int:change_id>/", views.marking_change, name="marking_change"),
    path("c/<slug:slug>/retire/", views.collection_retire, name="collection_retire"),
    path("c/<slug:slug>/try/", views.collection_try, name="collection_try"),
    path("documents/<int:document_id>/", views.document_detail, name="document"),
    path("documents/<int:document_id>/retire/", views.document_retire, name="document_retire"),
    path("versions/<int:version_id>/", views.version_detail, name="version"),
    path("versions/<int:version_id>/retry/", views.version_retry, name="version_retry"),
    path("chunks/<int:chunk_id>/", views.chunk_detail, name="chunk"),
    path("passage/<int:chunk_id>/", views.passage, name="passage"),
]
