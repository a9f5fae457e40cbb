"""Create a user with a role, or reset an existing user's password and add roles."""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from accounts.roles import Role
from accounts.services import user_create


class Command(BaseCommand):
    help = (
        "Create a Humphrey user. Every user is a civil servant; --role curator and/or --role auditor "
        "add elevated roles. The password is read from --password-stdin or asked for interactively, "
        "never taken on the command line where it would land in shell history."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="the user's work email address (their sign-in name)")
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            choices=[r.name.lower() for r in Role],
            help="a role to grant (repeatable): civil_servant, curator, auditor",
        )
        parser.add_argument("--name", default="", help="display name")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    def handle(self, *args, email: str, role: list[str], name: str, password_stdin: bool, **options):
        if "@" not in email:
            raise CommandError(f"{email!r} is not an email address")
        if password_stdin:
            password = self.stdin.readline().rstrip("\n") if hasattr(self, "stdin") else input()
        else:
            password = getpass.getpass("Password: ")
        if len(password) < 12:
            raise CommandError("The password must be at least 12 characters")
        roles = [Role[r.upper()] for r in role]
        user = user_create(email=email, password=password, roles=roles, name=name)
        self.stdout.write(f"User {user.email} ready with roles: civil servant" + "".join(f", {r.value}" for r in roles))
