"""Remove conversation content older than HUMPHREY_RETENTION_DAYS, except under legal hold."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.retention import HoldReleaseUnrecorded, PurgeRefused, retention_purge


class Command(BaseCommand):
    help = (
        "Purge audit content and conversations older than HUMPHREY_RETENTION_DAYS. Event metadata and digests "
        "stay (the chain still verifies); anything under a legal hold in force is kept, and it refuses to run while a "
        "hold is marked released without a legal_hold.release event. The purge is an audit event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be purged; change nothing")
        parser.add_argument("--actor", metavar="EMAIL", help="the person running the purge, for the audit event")

    def handle(self, *args, **options) -> None:
        actor = None
        if options["actor"]:
            actor = get_user_model().objects.filter(email__iexact=options["actor"].strip()).first()
            if actor is None:
                raise CommandError(f"No user with email {options['actor']!r}.")
        try:
            result = retention_purge(dry_run=options["dry_run"], actor=actor)
        except PurgeRefused as exc:
            raise CommandError(f"The database refused the purge: {exc}") from None
        except HoldReleaseUnrecorded as exc:
            raise CommandError(str(exc)) from None
        days = settings.HUMPHREY_RETENTION_DAYS
        verb = "Would purge" if result.dry_run else "Purged"
        self.stdout.write(
            f"{verb} the content of {result.contents} audit event(s) older than {days} days "
            f"(before {result.before.isoformat(timespec='seconds')}); kept {result.held} under legal hold "
            f"({len(result.held_user_ids)} person(s), {len(result.held_conversation_ids)} conversation(s))."
        )
        if result.dry_run:
            return
        if result.conversations_error:
            self.stderr.write(self.style.WARNING(f"WARNING: {result.conversations_error}"))
        else:
            self.stdout.write(f"Conversations purged: {result.conversations}")
        self.stdout.write(f"Recorded as audit event #{result.event_seq}.")
