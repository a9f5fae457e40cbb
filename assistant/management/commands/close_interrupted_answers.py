"""Record answers left *streaming* by a process that stopped, as failed, each with its audit event."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from assistant.intake import STREAMING_GIVE_UP
from assistant.services.record import answers_close_interrupted


class Command(BaseCommand):
    help = (
        "Record answers still 'streaming' long after any answer could be (their process was killed, or the "
        "database stayed away past every retry) as failed ('interrupted'), each with its answer audit event. "
        "Web processes run this as they start; run it from cron too if processes are killed often."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-minutes",
            type=int,
            default=int(STREAMING_GIVE_UP.total_seconds() // 60),
            help="only answers started at least this long ago (default: %(default)s)",
        )

    def handle(self, *args, older_than_minutes: int, **options):
        if older_than_minutes < 1:
            self.stderr.write("--older-than-minutes must be at least 1: younger answers may still be streaming.")
            raise SystemExit(2)
        closed = answers_close_interrupted(older_than=timedelta(minutes=older_than_minutes))
        self.stdout.write(f"closed {closed} interrupted answer(s)")
