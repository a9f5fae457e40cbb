"""Synced sources, as curators manage them: add, change, pause, remove, run now.

Names are ``<entity>_<action>``; each change is audited (``curation.source_*``) in the same
transaction. Reading a source is ``documents.sources.sync``; this module decides who may change what
and keeps its schedule right: a new or changed source is read again at once, a paused one not at all.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actions import Action, subject
from audit.services import audit_record

from ..models import Collection, Source, SourceKind
from ..sources.credentials import credential_named
from ..sources.read import SourceError, location_check
from ..sources.sync import source_schedule, source_sync
from .documents import document_retire

MAX_EVERY_HOURS = 24 * 366


def _facts(source: Source) -> dict:
    return {
        "collection_id": source.collection_id,
        "source_id": source.pk,
        "kind": source.kind,
        "location": source.location[:2000],
        "every_hours": source.every_hours,
        "active": source.is_active,
        "credential": source.credential,  # its name: the secret is never known here
    }


SIGNS_IN = (SourceKind.PAGES, SourceKind.SITEMAP)  # the kinds that may send a credential


def _credential_checked(kind: str, location: str, name: str) -> str:
    """``name`` if the source may sign in with it: a configured credential, for a web or sitemap
    source, at least one of whose addresses is on the credential's origins."""
    if not name:
        return ""
    credential = credential_named(name)
    if credential is None:
        raise ValidationError({"credential": f"There is no credential called {name!r}. Choose one of those listed."})
    if kind not in SIGNS_IN:
        raise ValidationError({"credential": "Only web pages and sitemaps can sign in with a credential."})
    if not any(credential.applies_to(line.strip()) for line in location.splitlines() if line.strip()):
        origins = ", ".join(sorted(credential.origins))
        raise ValidationError(
            {"credential": f"The credential {name!r} is only sent to {origins}: none of these addresses is there."}
        )
    return name


def _checked(kind: str, location: str, every_hours: int | None) -> tuple[str, int]:
    """The location as it is kept, and the hours between runs; a ``ValidationError`` keyed by the form
    field each problem is about (``kind``, ``location``, ``every_hours``), as ``_credential_checked``
    keys its own (``credential``)."""
    if kind not in SourceKind.values:
        raise ValidationError({"kind": f"Unknown kind of source {kind!r}: one of {', '.join(SourceKind.values)}."})
    every = settings.HUMPHREY_SOURCE_EVERY_HOURS if every_hours is None else every_hours
    if not 1 <= every <= MAX_EVERY_HOURS:
        raise ValidationError({"every_hours": f"A source is read every 1 to {MAX_EVERY_HOURS} hours, not {every}."})
    try:
        return location_check(kind, location), every
    except SourceError as exc:
        raise ValidationError({"location": str(exc)}) from None


def source_add(
    *, collection: Collection, kind: str, location: str, user, every_hours: int | None = None, credential: str = ""
) -> Source:
    """A new source for the collection, read for the first time as soon as the worker can;
    ``credential``: the name of the configured credential it signs in with, if any."""
    if not collection.is_active:
        raise ValidationError("This collection is retired: no sources can be added to it.")
    location, every = _checked(kind, location, every_hours)
    credential = _credential_checked(kind, location, credential)
    with transaction.atomic():
        if Source.objects.filter(collection=collection, kind=kind, location=location).exists():
            raise ValidationError({"location": "This collection already has that source."})
        source = Source.objects.create(
            collection=collection,
            kind=kind,
            location=location,
            every_hours=every,
            credential=credential,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        audit_record(action=Action.SOURCE_ADD, actor=user, subject=subject(source), data=_facts(source))
        source_schedule(source, run_after=timezone.now())
    return source


def source_update(
    *,
    source: Source,
    user,
    location: str | None = None,
    every_hours: int | None = None,
    active: bool | None = None,
    credential: str | None = None,
) -> Source:
    """Change where a source reads, how often, the credential it signs in with, or pause and resume
    it; its schedule follows."""
    with transaction.atomic():
        source = Source.objects.select_for_update().get(pk=source.pk)
        before = _facts(source)
        new_location, every = _checked(
            source.kind,
            source.location if location is None else location,
            source.every_hours if every_hours is None else every_hours,
        )
        signs_in = source.credential if credential is None else credential
        # Checked when chosen, or when the addresses change under a credential still configured; one
        # the operator has since removed stays named (its runs say so) so the source can still be paused.
        if signs_in != source.credential or (new_location != source.location and credential_named(signs_in)):
            signs_in = _credential_checked(source.kind, new_location, signs_in)
        moved = new_location != source.location or signs_in != source.credential
        source.location, source.every_hours, source.credential = new_location, every, signs_in
        if active is not None:
            source.is_active = active
        source.save(update_fields=["location", "every_hours", "is_active", "credential"])
        after = _facts(source)
        if after == before:
            return source
        audit_record(
            action=Action.SOURCE_UPDATE,
            actor=user,
            subject=subject(source),
            data={**after, "before": {k: v for k, v in before.items() if after[k] != v}},
        )
        source_schedule(source, run_after=timezone.now() if moved or (active and not before["active"]) else None)
    return source


def source_sync_now(*, source: Source, user) -> bool:
    """Read the source as soon as the worker can (the schedule carries on from that run); with no
    worker to defer to (``HUMPHREY_TASKS_IMMEDIATE``), read it here and now. True when queued."""
    if not source.is_active:
        raise ValidationError("This source is paused: resume it first.")
    with transaction.atomic():
        audit_record(
            action=Action.SOURCE_UPDATE,
            actor=user,
            outcome="sync_requested",
            subject=subject(source),
            data=_facts(source),
        )
        queued = source_schedule(source, run_after=timezone.now(), trigger="curator") is not None
    if not queued:
        source_sync(source, trigger="curator")
    return queued


def source_remove(*, source: Source, user, retire_documents: bool) -> int:
    """Stop syncing a source and forget it. Its documents stay as they are (now maintained by hand),
    or, with ``retire_documents``, are retired. Returns how many were retired."""
    retired = 0
    with transaction.atomic():
        source = Source.objects.select_for_update().select_related("collection").get(pk=source.pk)
        facts = _facts(source)
        if retire_documents:
            for item in source.items.select_related("document").filter(document__is_active=True):
                document_retire(document=item.document, user=user)
                retired += 1
        audit_record(
            action=Action.SOURCE_REMOVE,
            actor=user,
            subject=subject(source),
            data={**facts, "documents_retired": retired, "items": source.items.count()},
        )
        source.delete()
    return retired
