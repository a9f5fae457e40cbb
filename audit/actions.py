"""Every kind of audit event, in one enumeration: ``audit_record`` refuses any other.

A value is ``<family>.<verb>`` (``answer`` and ``feedback`` stand alone); the auditors' search
filters by family (``curation.*``). The values are stored in the trail, which is append-only: a
value is never renamed, only added.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    # Questions and answers (assistant)
    ANSWER = "answer"
    FEEDBACK = "feedback"
    CONVERSATION_DELETE = "conversation.delete"
    # Reads of guidance no longer searched, allowed because it was cited to the reader (documents)
    PASSAGE_READ_CITED = "passage.read_cited"
    VERSION_CHANGES_READ_CITED = "version_changes.read_cited"
    # Sign-in and roles (accounts, through audit.signals)
    AUTH_SIGN_IN = "auth.sign_in"
    AUTH_SIGN_OUT = "auth.sign_out"
    ROLE_GRANT = "role.grant"
    ROLE_REVOKE = "role.revoke"
    # Accounts: creation, deactivation, e-mail, credentials and every other group membership (audit.signals)
    ACCOUNT_CREATE = "account.create"
    ACCOUNT_UPDATE = "account.update"
    ACCOUNT_CREDENTIALS = "account.credentials"
    ACCOUNT_GROUP_ADD = "account.group_add"
    ACCOUNT_GROUP_REMOVE = "account.group_remove"
    # A page or a question refused for want of access (humphrey.views.permission_denied, the chat intake)
    ACCESS_DENIED = "access.denied"
    # Curation (documents)
    COLLECTION_CREATE = "curation.collection_create"
    COLLECTION_UPDATE = "curation.collection_update"
    COLLECTION_GRANT = "curation.collection_grant"
    COLLECTION_REVOKE = "curation.collection_revoke"
    COLLECTION_RETIRE = "curation.collection_retire"
    GLOSSARY_UPDATE = "curation.glossary_update"
    MARKING_CHANGE_REQUESTED = "curation.marking_change_requested"
    MARKING_CHANGE_DECIDED = "curation.marking_change_decided"
    DOCUMENT_UPLOAD = "curation.document_upload"
    DOCUMENT_RESTORE = "curation.document_restore"
    DOCUMENT_RETIRE = "curation.document_retire"
    DOCUMENT_REMOVE = "curation.document_remove"  # a document no upload of which could be read, taken away
    DOCUMENT_REVIEW = "curation.document_review"
    REVIEW_REMINDER = "curation.review_reminder"
    VERSION_RETRY = "curation.version_retry"
    VERSION_INGEST = "curation.version_ingest"
    PASSAGE_EXCLUDE = "curation.passage_exclude"
    PASSAGE_INCLUDE = "curation.passage_include"
    SOURCE_ADD = "curation.source_add"
    SOURCE_UPDATE = "curation.source_update"
    SOURCE_REMOVE = "curation.source_remove"
    SOURCE_SYNC = "curation.source_sync"
    # Insights (curators and auditors)
    INSIGHTS_VIEW = "insights.view"
    INSIGHTS_EXPORT = "insights.export"
    # The audit trail's own care
    LEGAL_HOLD_PLACE = "legal_hold.place"
    LEGAL_HOLD_RELEASE = "legal_hold.release"
    RETENTION_PURGE = "retention.purge"
    AUDIT_VIEW = "audit.view"
    AUDIT_PURPOSE = "audit.purpose"  # the reason an auditor gave for reading (a case reference)
    AUDIT_SEARCH = "audit.search"
    AUDIT_EXPORT = "audit.export"
    AUDIT_EXPORT_COMPLETE = "audit.export_complete"  # the file sent in full: its bytes and SHA-256
    AUDIT_EXPORT_KEY = "audit.export_key"  # a public key that export manifests are signed with
    AUDIT_VERIFY = "audit.verify"
    AUDIT_SUBJECT_ACCESS = "audit.subject_access"
    AUDIT_ANCHOR_RESTART = "audit.anchor_restart"
    AUDIT_ANCHOR_CONFLICT = "audit.anchor_conflict"
    AUDIT_ANCHOR_ACKNOWLEDGE = "audit.anchor_acknowledge"


#: The families the auditors' search offers, with their names for people.
FAMILIES = {
    "auth": "Sign-ins and sign-outs",
    "role": "Role changes",
    "account": "Accounts and group membership",
    "access": "Refused access",
    "curation": "Curation changes",
    "passage": "Reads of passages no longer searched",
    "version_changes": "Reads of version changes no longer searched",
    "conversation": "Conversations deleted",
    "insights": "Insights viewed and exported",
    "legal_hold": "Legal holds",
    "retention": "Retention purges",
    "audit": "Auditors' own activity",
}


def subject(target, pk=None) -> str:
    """What an event is about, ``"<model>:<id>"``: a model instance, or a model name and an id
    (``subject("conversation", 12)``). Collections named by slug (marking changes, insights) keep
    the form their earliest events used, the trail being append-only."""
    if pk is None:
        return f"{target._meta.model_name}:{target.pk}"
    return f"{target}:{pk}"
