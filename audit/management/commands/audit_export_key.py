"""``manage.py audit_export_key``: the public key audit exports are signed with, to hand to whoever checks them."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.export_signing import ExportKeyError, export_key


class Command(BaseCommand):
    help = (
        "Print the Ed25519 public key (PEM) that signs audit exports and its key id; the key is made if "
        "there is none yet. Give the PEM to whoever must check exports away from the site (docs/audit.md)."
    )

    def handle(self, *args, **options) -> None:
        try:
            key = export_key()
        except ExportKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Key id {key.key_id} (Ed25519). Public key:")
        self.stdout.write(key.public_pem, ending="")
