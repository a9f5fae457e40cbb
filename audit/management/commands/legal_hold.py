"""Place, release and list legal holds (which stop the retention purge for a person or conversation)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.roles import Role, has_role, holds_role
from audit.integrity import holds_in_force
from audit.models import LegalHold
from audit.retention import legal_hold_place, legal_hold_release


def _user(email: str):
    user = get_user_model().objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise CommandError(f"No user with email {email!r}.")
    return user


def auditor_named(email: str, doing: str):
    """The auditor with this address, or a CommandError saying why they may not do ``doing``."""
    by = _user(email)
    if has_role(by, Role.AUDITOR):
        return by
    if holds_role(by, Role.AUDITOR):
        raise CommandError(
            f"{by.email} is in the Auditors group but has not set up two-factor authentication, which "
            f"HUMPHREY_REQUIRE_MFA_FOR ({', '.join(settings.HUMPHREY_REQUIRE_MFA_FOR)}) requires before the "
            f"role counts: only auditors {doing}."
        )
    raise CommandError(f"{by.email} is not an auditor; only auditors {doing}.")


def _listed(hold: LegalHold) -> str:
    line = f"{hold.pk}\t{hold.target}\t{hold.created_at:%Y-%m-%d}\t{hold.created_by_label}\t{hold.reason}"
    if hold.released_at is not None:
        line += f"\tRELEASED OUTSIDE THE SITE at {hold.released_at:%Y-%m-%d %H:%M} (no release event): still in force"
    return line


class Command(BaseCommand):
    help = "Legal holds: place (on a person or a conversation), release, or list."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        place = sub.add_parser("place", help="stop the purge of a person's or a conversation's records")
        target = place.add_mutually_exclusive_group(required=True)
        target.add_argument("--user", metavar="EMAIL")
        target.add_argument("--conversation", type=int, metavar="ID")
        place.add_argument("--reason", required=True)
        place.add_argument("--by", required=True, metavar="EMAIL", help="the auditor placing the hold")
        release = sub.add_parser("release", help="end a hold (or record the release of one released outside the site)")
        release.add_argument("hold_id", type=int)
        release.add_argument("--by", required=True, metavar="EMAIL", help="the auditor releasing the hold")
        sub.add_parser("list", help="holds in force, including any released outside the site")

    def handle(self, *args, **options) -> None:
        verb = options["verb"]
        if verb == "list":
            for hold in holds_in_force():
                self.stdout.write(_listed(hold))
            return
        by = auditor_named(options["by"], "place or release legal holds")
        try:
            if verb == "place":
                user = _user(options["user"]) if options["user"] else None
                hold = legal_hold_place(
                    actor=by, reason=options["reason"], user=user, conversation_id=options["conversation"]
                )
                self.stdout.write(f"Legal hold {hold.pk} placed on {hold.target}.")
            else:
                hold = LegalHold.objects.filter(pk=options["hold_id"]).first()
                if hold is None:
                    raise CommandError(f"No legal hold {options['hold_id']}.")
                outside = hold.released_at is not None
                legal_hold_release(hold=hold, actor=by)
                self.stdout.write(
                    f"Legal hold {hold.pk}: its release outside the site is now recorded."
                    if outside
                    else f"Legal hold {hold.pk} released."
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
