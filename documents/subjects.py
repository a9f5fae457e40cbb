"""The audit subject of a collection, document, version or chunk (``"<model>:<id>"``).

One helper, used by the services and the ingestion pipeline alike, so every event about one object
is found by one search. (Marking-change requests name their collection by slug: their events have
done so since they were first recorded, and the audit trail is append-only.)
"""

from __future__ import annotations

from audit.actions import subject


def audit_subject(obj) -> str:
    return subject(obj)
