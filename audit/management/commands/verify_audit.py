"""Walk the audit hash chain; exit non-zero naming the problems found, root causes first."""

from __future__ import annotations

import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.integrity import anchor_restart_acknowledge, audit_verify
from audit.management.commands.legal_hold import auditor_named


def _head(value: str) -> tuple[int, str]:
    match = re.fullmatch(r"(\d+):([0-9a-f]{64})", value.strip().lower())
    if not match:
        raise CommandError("--expect-head must be SEQ:SHA256, e.g. 1234:9f86d0…, as printed by an earlier run")
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = (
        "Verify the audit trail: every event present (no gap in seq), unaltered (digests recompute), in order "
        "(each names its predecessor's digest), signed, its content intact unless purged by retention, and every "
        "checkpoint of the head anchor still in the chain. Prints a summary; exits 1 listing the problems, root "
        "causes first. --acknowledge-restart records an auditor's acceptance of a head anchor restart first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expect-head",
            metavar="SEQ:SHA256",
            help="a head printed by an earlier run and kept outside the database: it must still be in the chain",
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="events read per query (default 5000)")
        parser.add_argument(
            "--acknowledge-restart",
            type=int,
            metavar="SEQ",
            help="record that the head anchor restart at SEQ was checked (needs --by and --reason), then verify",
        )
        parser.add_argument("--by", metavar="EMAIL", help="the auditor acknowledging the restart")
        parser.add_argument("--reason", help="what was checked, against what (a copy of the anchor log kept elsewhere)")

    def handle(self, *args, **options) -> None:
        expect = _head(options["expect_head"]) if options["expect_head"] else None
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["acknowledge_restart"] is not None:
            self._acknowledge(options["acknowledge_restart"], options["by"], options["reason"])
        elif options["by"] or options["reason"]:
            raise CommandError("--by and --reason go with --acknowledge-restart.")
        result = audit_verify(batch_size=options["batch_size"], expect_head=expect)
        self.stdout.write(result.summary())
        if result.ok:
            self.stdout.write(self.style.SUCCESS("OK: the audit trail is complete and unaltered."))
            return
        self.stderr.write(f"Problems found ({result.counts_text}), root causes first:")
        for problem in result.problems:
            self.stderr.write(f"  {problem}")
        if result.more_problems:
            self.stderr.write(f"  … and {result.problem_total - len(result.problems)} more of the kinds counted above")
        raise CommandError(f"First problem: {result.first_problem}")

    def _acknowledge(self, seq: int, by: str | None, reason: str | None) -> None:
        if not by or not reason:
            raise CommandError("--acknowledge-restart needs --by EMAIL (an auditor) and --reason TEXT.")
        auditor = auditor_named(by, "acknowledge a head anchor restart")
        try:
            event = anchor_restart_acknowledge(seq=seq, actor=auditor, reason=reason)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Anchor restart at #{seq} acknowledged by {auditor.email} (event #{event.seq}).")
