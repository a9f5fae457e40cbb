"""Every write to collections, documents, versions and chunks, by room.

- ``collections``: create, update, grant and revoke readers, retire;
- ``marking_changes``: a lowered marking waiting for a second curator;
- ``documents``: upload (as a chosen document's next version too) or refuse (a copy of another
  document's file too), retire, restore, remove those never read, and retry documents' versions;
- ``review``: owners and review dates, "reviewed, still correct", the work list and reminders;
- ``passages``: switching a passage off and back, and carrying that onto a new version;
- ingestion itself is ``documents.ingest.pipeline``, beside parse, chunk and units.

Inside the documents app, import from those modules. This package re-exports the names other apps,
commands, tests and benches import from ``documents.services``, so they need not know the rooms.
"""

from ..ingest.pipeline import IngestOutcome, chunk_units_embed, version_ingest
from ..ingest.reembed import chunks_reembed, chunks_reembed_refused
from ..lifecycle import RUNNING, version_is_stale
from .collections import collection_create, collection_grant, collection_retire, collection_revoke, collection_update
from .documents import document_restore, document_retire, document_upload, version_can_retry, version_retry
from .marking_changes import (
    marking_change_decide,
    marking_change_pending,
    marking_change_request,
    marking_change_withdraw,
)
from .review import (
    collection_expiry_refresh,
    document_review_confirm,
    document_review_set,
    review_reminders_schedule,
    review_reminders_send,
)

__all__ = [
    "RUNNING",
    "IngestOutcome",
    "chunk_units_embed",
    "chunks_reembed",
    "chunks_reembed_refused",
    "collection_create",
    "collection_expiry_refresh",
    "collection_grant",
    "collection_retire",
    "collection_revoke",
    "collection_update",
    "document_restore",
    "document_retire",
    "document_review_confirm",
    "document_review_set",
    "document_upload",
    "marking_change_decide",
    "marking_change_pending",
    "marking_change_request",
    "marking_change_withdraw",
    "review_reminders_schedule",
    "review_reminders_send",
    "version_can_retry",
    "version_ingest",
    "version_is_stale",
    "version_retry",
]
