from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.search, name="search"),
    path("event/<int:seq>/", views.event_detail, name="event"),
    path("conversation/<int:conversation_id>/", views.conversation, name="conversation"),
    path("export.csv", views.export, {"kind": "csv"}, name="export_csv"),
    path("export.jsonl", views.export, {"kind": "jsonl"}, name="export_jsonl"),
    path("purpose/", views.purpose, name="purpose"),
    path("verify/", views.verify, name="verify"),
    path("verify/export/", views.verify_export, name="verify_export"),
    path("person/", views.person, name="person"),
    path("person/export.jsonl", views.person_export, name="person_export"),
    path("person/records.json", views.person_records, name="person_records"),
]
