"""Create one demo account per role and print their credentials (local first run only)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import Role
from accounts.services import user_create

ALL_STAFF_GROUP = "All staff"
DEMO_USERS = [
    ("civil.servant@example.gov.uk", "Casey Civil", [Role.CIVIL_SERVANT]),
    ("curator@example.gov.uk", "Cara Curator", [Role.CURATOR]),
    ("auditor@example.gov.uk", "Aditya Auditor", [Role.AUDITOR]),
]


class Command(BaseCommand):
    help = (
        "Create a demo civil servant, curator and auditor and print their sign-in details. "
        "The password comes from HUMPHREY_DEMO_PASSWORD, or is generated once and kept in the "
        "data folder. Refused when DEBUG is off unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="allow outside development mode")

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Demo accounts are for development; pass --force to create them anyway.")
        password = settings.HUMPHREY_DEMO_PASSWORD
        if not password:
            key_file = settings.DATA_DIR / "demo-password"
            if not key_file.exists():
                key_file.write_text(secrets.token_urlsafe(12))
                key_file.chmod(0o600)
            password = key_file.read_text().strip()
        # Every demo user reads the sample collection (manage.py load_sample grants it to this group).
        all_staff, _ = Group.objects.get_or_create(name=ALL_STAFF_GROUP)
        for email, name, roles in DEMO_USERS:
            user = user_create(email=email, password=password, roles=roles, name=name)
            user.groups.add(all_staff)
        self.stdout.write("Demo accounts (development only):")
        for email, _, roles in DEMO_USERS:
            self.stdout.write(f"  {roles[0].value:<14} {email:<32} password: {password}")
