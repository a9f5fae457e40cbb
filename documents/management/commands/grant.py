"""Let a group read a collection (or stop it, with --revoke), recorded in the audit trail."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from documents.models import Collection
from documents.services import collections


class Command(BaseCommand):
    help = (
        "Grant a group read access to a collection: members of GROUP may then get answers from COLLECTION "
        "(by slug). --revoke removes the grant. --create-group makes the group if it does not exist. "
        "--by EMAIL names the person responsible, for the audit record."
    )

    def add_arguments(self, parser):
        parser.add_argument("collection", help="the collection's slug")
        parser.add_argument("group", help="the group's name, e.g. 'All staff' or 'HR business partners'")
        parser.add_argument("--revoke", action="store_true", help="remove the grant instead")
        parser.add_argument("--create-group", action="store_true", help="create the group if it is missing")
        parser.add_argument("--by", default="", help="email of the person making the change (audit)")

    def handle(self, *args, collection: str, group: str, revoke: bool, create_group: bool, by: str, **options):
        found = Collection.objects.filter(slug=collection).first()
        if found is None:
            raise CommandError(f"No collection with the slug {collection!r}")
        if create_group:
            target, _ = Group.objects.get_or_create(name=group)
        else:
            target = Group.objects.filter(name=group).first()
            if target is None:
                raise CommandError(f"No group named {group!r} (use --create-group to make it)")
        actor = None
        if by:
            actor = get_user_model().objects.filter(email__iexact=by).first()
            if actor is None:
                raise CommandError(f"No user with the email {by!r}")
        if revoke:
            collections.collection_revoke(collection=found, group=target, user=actor)
            self.stdout.write(f"Group {target.name!r} can no longer read {found.slug!r} through this grant.")
        else:
            if collections.collection_grant(collection=found, group=target, user=actor):
                self.stdout.write(f"Group {target.name!r} can now read {found.slug!r}.")
            else:
                self.stdout.write(f"Group {target.name!r} could already read {found.slug!r}: nothing changed.")
