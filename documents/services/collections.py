"""Collections: create, change, grant and revoke readers, retire.

Names are ``<entity>_<action>``. Each change records an audit event (``curation.<what>``) last in the
same transaction, so both happen or neither does. Lowering a marking may need a second curator
(``marking_changes``). A changed review period or expiry moves every document's expiry at once
(``review.collection_expiry_refresh``), and says which documents it stopped, or started again,
being searched.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.actions import Action
from audit.services import audit_record

from ..lifecycle import documents_searched
from ..models import Chunk, Collection, Marking, Source
from ..subjects import audit_subject
from .marking_changes import marking_change_request
from .review import collection_expiry_refresh

UNCHANGED = object()  # ``expire_after_days`` not given (None means "never")

_NAME_LOCK_KEY = 0x68756D6E  # a constant no other advisory lock uses ("humn")


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _name_taken(name: str, *, exclude_pk: int | None = None) -> bool:
    """Whether an active collection other than ``exclude_pk`` has ``name``, ignoring case and spacing:
    people choose a collection by its name alone (the chat's chooser, Insights), so two alike cannot
    be told apart. A retired collection's name may be reused.

    Call it inside the transaction that writes the name: it holds a lock until that transaction ends,
    so two curators giving the same name at once cannot both pass (no database constraint says so)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_NAME_LOCK_KEY])
    key = _name_key(name)
    others = Collection.objects.active().exclude(pk=exclude_pk).values_list("name", flat=True)
    return any(_name_key(other) == key for other in others)


def _name_taken_message(name: str) -> str:
    return f"A collection called “{name}” already exists. Choose a different name."


def collection_create(
    *,
    user,
    name: str,
    slug: str = "",
    description: str = "",
    marking: str = Marking.OFFICIAL,
    reader_groups=(),
    curators=(),
) -> Collection:
    """A new active collection owned (and curated) by ``user``, readable by ``reader_groups``."""
    name = name.strip()[:200]
    # Each error names the form field it is about, so a form shows it on that field.
    if not name:
        raise ValidationError({"name": "Enter a name for the collection."})
    if slug and not slugify(slug):
        raise ValidationError({"slug": "Enter a short name with at least one letter or number."})
    slug_given, slug = bool(slug), slugify(slug or name)[:100]
    if not slug:
        raise ValidationError({"name": "Enter a name with at least one letter or number."})
    if marking not in Marking.values:
        raise ValidationError({"marking": f"Choose a marking: {', '.join(Marking.values)}."})
    with transaction.atomic():
        errors = {}
        if _name_taken(name):
            errors["name"] = _name_taken_message(name)
        if Collection.objects.filter(slug=slug).exists() and (slug_given or not errors):
            # A short name made from the name is the short name field's problem too: one typed there fixes it.
            errors["slug"] = f"A collection with the short name {slug!r} already exists." + (
                "" if slug_given else " Enter a different short name."
            )
        if errors:
            raise ValidationError(errors)
        collection = Collection.objects.create(
            name=name, slug=slug, description=description, marking=marking, owner=user
        )
        if user is not None:
            collection.curators.add(user)
        collection.curators.add(*curators)
        groups = list(reader_groups)
        collection.reader_groups.set(groups)
        audit_record(
            action=Action.COLLECTION_CREATE,
            actor=user,
            subject=audit_subject(collection),
            data={
                "collection_id": collection.pk,
                "slug": slug,
                "marking": marking,
                "reader_groups": sorted(g.name for g in groups),
            },
        )
    return collection


def collection_update(
    *,
    collection: Collection,
    user,
    name: str | None = None,
    description: str | None = None,
    marking=None,
    reason: str = "",
    review_months: int | None = None,
    expire_after_days=UNCHANGED,
) -> Collection:
    """Change a collection's name, description, marking, review period (months; 0: no review dates)
    or expiry (days past a review date after which a document is no longer searched; None: never).

    Lowering the marking needs a ``reason``, kept in the audit event with the markings before and
    after; with ``HUMPHREY_MARKING_DOWNGRADE_APPROVAL`` it becomes a request a second curator must
    approve. A new review period or expiry takes effect on search as the change commits; the
    returned collection's ``no_longer_searched`` and ``searched_again`` hold the ids of the documents
    that change stopped, or started again, being searched (by their expiry), for the curator to be told."""
    collection.no_longer_searched, collection.searched_again = [], []
    previous_marking = collection.marking
    previous_review = {"review_months": collection.review_months, "expire_after_days": collection.expire_after_days}
    changes: dict = {}
    if review_months is not None and review_months != collection.review_months:
        if not 0 <= review_months <= 1200:
            raise ValidationError({"review_months": "The review period must be between 0 and 1200 months."})
        changes["review_months"] = review_months
    if expire_after_days is not UNCHANGED and expire_after_days != collection.expire_after_days:
        if expire_after_days is not None and expire_after_days < 0:
            raise ValidationError({"expire_after_days": "The days after the review date cannot be negative."})
        changes["expire_after_days"] = expire_after_days
    if name is not None and name.strip() and name.strip() != collection.name:
        changes["name"] = name.strip()[:200]
    if description is not None and description != collection.description:
        changes["description"] = description
    if marking is not None and marking != collection.marking:
        if marking not in Marking.values:
            raise ValidationError({"marking": f"Choose a marking: {', '.join(Marking.values)}."})
        changes["marking"] = marking
    lowered = "marking" in changes and Marking.rank(changes["marking"]) < Marking.rank(previous_marking)
    if lowered and not (reason or "").strip():
        raise ValidationError("Say why the marking is being lowered.")
    if lowered and settings.HUMPHREY_MARKING_DOWNGRADE_APPROVAL:
        # Lowered only when a second curator approves (documents.services.marking_changes); the rest now.
        with transaction.atomic():
            marking_change_request(collection=collection, user=user, marking=changes.pop("marking"), reason=reason)
            return collection_update(
                collection=collection,
                user=user,
                name=changes.get("name"),
                description=changes.get("description"),
                review_months=changes.get("review_months"),
                expire_after_days=changes.get("expire_after_days", UNCHANGED),
            )
    if not changes:
        return collection
    with transaction.atomic():
        if "name" in changes and _name_taken(changes["name"], exclude_pk=collection.pk):
            raise ValidationError({"name": _name_taken_message(changes["name"])})
        review_changed = {"review_months", "expire_after_days"} & set(changes)
        searched_before = documents_searched(collection.pk) if review_changed else set()
        for field, value in changes.items():
            setattr(collection, field, value)
        collection.save(update_fields=[*changes, "updated_at"])
        expiry_facts = {}
        if review_changed:
            chunks_changed = collection_expiry_refresh(collection)
            searched_after = documents_searched(collection.pk)
            collection.no_longer_searched = sorted(searched_before - searched_after)
            collection.searched_again = sorted(searched_after - searched_before)
            expiry_facts = {
                **{f: getattr(collection, f) for f in ("review_months", "expire_after_days")},
                **{f"previous_{f}": v for f, v in previous_review.items()},
                "chunks_expiry_changed": chunks_changed,
                "documents_no_longer_searched": collection.no_longer_searched,
                "documents_searched_again": collection.searched_again,
            }
        audit_record(
            action=Action.COLLECTION_UPDATE,
            actor=user,
            outcome="marking_lowered" if lowered else "",
            subject=audit_subject(collection),
            data={
                "collection_id": collection.pk,
                "changed": sorted(changes),
                "marking": collection.marking,
                "previous_marking": previous_marking,
                **expiry_facts,
            },
            content={"reason": reason.strip()} if lowered else None,
        )
    return collection


def collection_grant(*, collection: Collection, group: Group, user) -> bool:
    """Let members of ``group`` read ``collection``. False, with nothing recorded, if they already could."""
    with transaction.atomic():
        # Locked so that two grants of the same group at once record one change, not two.
        Collection.objects.select_for_update().get(pk=collection.pk)
        if collection.reader_groups.filter(pk=group.pk).exists():
            return False
        collection.reader_groups.add(group)
        audit_record(
            action=Action.COLLECTION_GRANT,
            actor=user,
            subject=audit_subject(collection),
            data={"collection_id": collection.pk, "group_id": group.pk, "group": group.name},
        )
    return True


def collection_revoke(*, collection: Collection, group: Group, user) -> None:
    """Stop members of ``group`` reading ``collection`` (through that group)."""
    with transaction.atomic():
        collection.reader_groups.remove(group)
        audit_record(
            action=Action.COLLECTION_REVOKE,
            actor=user,
            subject=audit_subject(collection),
            data={"collection_id": collection.pk, "group_id": group.pk, "group": group.name},
        )


def collection_retire(*, collection: Collection, user) -> Collection:
    """Retire a collection: never searched again, its sources paused; its documents and versions are kept."""
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        if not collection.is_active:
            return collection
        collection.is_active = False
        collection.retired_at = timezone.now()
        collection.save(update_fields=["is_active", "retired_at", "updated_at"])
        hidden = Chunk.objects.filter(collection=collection, searchable=True).update(searchable=False)
        # Its sources stop too: nothing is read into a collection nobody searches.
        paused = Source.objects.filter(collection=collection, is_active=True).update(
            is_active=False, next_run_at=None, schedule_token=""
        )
        audit_record(
            action=Action.COLLECTION_RETIRE,
            actor=user,
            subject=audit_subject(collection),
            data={"collection_id": collection.pk, "chunks_hidden": hidden, "sources_paused": paused},
        )
    return collection
