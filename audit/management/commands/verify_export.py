"""``manage.py verify_export FILE``: is a JSON Lines audit export whole, unaltered and this site's?"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.actions import Action
from audit.export_check import check_export
from audit.export_signing import key_id_of, load_public_key
from audit.services import audit_record

#: The largest file read: exports of the whole trail for a year are well under this.
MAX_BYTES = 4 * 1024**3


class Command(BaseCommand):
    help = (
        "Check a JSON Lines audit export: every digest, the chain between consecutive events, the lines "
        "against the manifest, the manifest's Ed25519 signature, and (unless --offline) that its key and "
        "events are in this site's trail. Exits non-zero if any check fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the .jsonl file exported from the audit pages")
        parser.add_argument(
            "--public-key",
            action="append",
            default=[],
            metavar="PEM_FILE",
            help="an Ed25519 public key to trust besides those the trail recorded (repeatable)",
        )
        parser.add_argument(
            "--offline", action="store_true", help="check the file and the keys given only, without the database"
        )

    def handle(self, *args, **options) -> None:
        if options["offline"] and not options["public_key"]:
            raise CommandError("--offline needs --public-key PEM_FILE: the key printed by manage.py audit_export_key")
        path = Path(options["file"])
        try:
            if path.stat().st_size > MAX_BYTES:
                raise CommandError(f"{path} is larger than {MAX_BYTES // 1024**3} GB: not an export of this site")
            raw = path.read_bytes()
            keys = [Path(key).read_text() for key in options["public_key"]]
        except OSError as exc:
            raise CommandError(f"Cannot read {exc.filename}: {exc.strerror}") from None
        try:
            result = check_export(raw, keys, against_trail=not options["offline"])
        except ValueError as exc:
            raise CommandError(f"A --public-key is not an Ed25519 public key in PEM form ({exc})") from None
        if not options["offline"]:
            given = [key_id_of(load_public_key(pem)) for pem in keys]  # trusted beside the site's, for this check
            audit_record(
                action=Action.AUDIT_VERIFY,
                outcome="ok" if result.ok else "failed",
                data={"export": result.as_record(), "file": path.name[:200], "keys_given": given},
            )
        self.stdout.write(f"{path.name}: {result.rows} events, SHA-256 {result.file_sha256}")
        for fact in result.facts:
            self.stdout.write(f"  {fact}")
        if result.ok:
            self.stdout.write(self.style.SUCCESS("OK: the export is intact and signed by a trusted key."))
            return
        if result.csv_sent:
            self.stdout.write("A CSV export the site sent, unchanged; a CSV carries no signature.")
            return
        for problem in result.problems:
            self.stderr.write(f"  - {problem}")
        if result.more_problems:
            self.stderr.write(f"  … and {result.more_problems} more")
        raise CommandError(f"The export does not check: {result.problems[0]}")
