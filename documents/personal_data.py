"""What the documents app stores about a person, for a subject-access request (``audit.subject_access``).

A curator's own records: the collections they own or curate, the files they uploaded, the passages
they switched off with their reasons, the marking changes they asked for or decided with their
words, the sources they set up; and, for anyone, the documents naming their address as owner and
the review reminders sent to it. The guidance's own text is not the person's data and is left out.
"""

from __future__ import annotations

from documents.models import Chunk, Collection, Document, DocumentVersion, MarkingChange, ReviewReminder
from documents.sources.models import Source


def curation_of(user) -> list[dict]:
    """One record per thing stored about ``user``, each with its ``kind``, oldest first within a kind."""
    email = (user.email or "").strip()
    records: list[dict] = []
    for collection in Collection.objects.filter(owner=user).order_by("pk"):
        records.append({"kind": "collection_owned", "collection": collection.name, "slug": collection.slug})
    for collection in Collection.objects.filter(curators=user).order_by("pk"):
        records.append({"kind": "collection_curated", "collection": collection.name, "slug": collection.slug})
    uploads = DocumentVersion.objects.filter(uploaded_by=user).select_related("document").order_by("uploaded_at")
    for version in uploads:
        records.append(
            {
                "kind": "file_uploaded",
                "document": version.document.title,
                "file_name": version.original_filename,
                "version": version.number,
                "uploaded_at": version.uploaded_at,
            }
        )
    for chunk in Chunk.objects.filter(excluded_by=user).select_related("version__document").order_by("excluded_at"):
        records.append(
            {
                "kind": "passage_switched_off",
                "document": chunk.version.document.title,
                "at": chunk.excluded_at,
                "reason": chunk.excluded_reason,
            }
        )
    changes = MarkingChange.objects.filter(requested_by=user) | MarkingChange.objects.filter(decided_by=user)
    for change in changes.select_related("collection").order_by("requested_at"):
        records.append(
            {
                "kind": "marking_change",
                "collection": change.collection.name,
                "from": change.from_marking,
                "to": change.to_marking,
                "as": "requester" if change.requested_by_id == user.pk else "decider",
                "reason": change.reason if change.requested_by_id == user.pk else "",
                "note": change.note if change.decided_by_id == user.pk else "",
                "state": change.state,
                "requested_at": change.requested_at,
            }
        )
    for source in Source.objects.filter(created_by=user).select_related("collection").order_by("created_at"):
        records.append(
            {
                "kind": "source_set_up",
                "collection": source.collection.name,
                "source": source.kind,
                "location": source.location,
                "created_at": source.created_at,
            }
        )
    if email:
        for document in Document.objects.filter(owner_email__iexact=email).order_by("pk"):
            records.append({"kind": "document_owner", "document": document.title, "address": document.owner_email})
        for reminder in ReviewReminder.objects.filter(owner_email__iexact=email).order_by("sent_on"):
            records.append(
                {"kind": "review_reminder_sent", "sent_on": reminder.sent_on, "documents": len(reminder.documents)}
            )
    return records
