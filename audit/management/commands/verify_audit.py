"""Walk the audit hash chain; exit non-zero naming the first event missing, altered or out of order."""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.integrity import audit_verify


def _head(value: str) -> tuple[int, str]:
    match = re.fullmatch(r"(\d+):([0-9a-f]{64})", value.strip().lower())
    if not match:
        raise CommandError("--expect-head must be SEQ:SHA256, e.g. 1234:9f86d0…, as printed by an earlier run")
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = (
        "Verify the audit trail: every event present (no gap in seq), unaltered (digests recompute), in order "
        "(each names its predecessor's digest), and its content intact unless purged by retention. "
        "Prints a summary; exits 1 naming the first problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expect-head",
            metavar="SEQ:SHA256",
            help="a head printed by an earlier run and kept outside the database: it must still be in the chain",
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="events read per query (default 5000)")

    def handle(self, *args, **options) -> None:
        expect = _head(options["expect_head"]) if options["expect_head"] else None
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        result = audit_verify(batch_size=options["batch_size"], expect_head=expect)
        self.stdout.write(result.summary())
        if result.ok:
            self.stdout.write(self.style.SUCCESS("OK: the audit trail is complete and unaltered."))
            return
        for problem in result.problems:
            self.stderr.write(f"  {problem}")
        if result.more_problems:
            self.stderr.write("  … and more (only the first problems are listed)")
        raise CommandError(f"First problem: {result.first_problem}")
