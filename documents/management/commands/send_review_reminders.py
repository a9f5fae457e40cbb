"""Email each document owner their documents due, overdue or expired for review: at most once a day.

    python manage.py send_review_reminders             # today's reminders (a second run today sends nothing)
    python manage.py send_review_reminders --schedule  # queue the daily task on the worker (once)

Mail goes through Django's email backend (console in development, SMTP by settings); links point at
``HUMPHREY_SITE_URL`` (else the first ``DJANGO_CSRF_TRUSTED_ORIGINS``). Without the database task
backend (``HUMPHREY_TASKS_IMMEDIATE``), run the first form daily from cron instead of ``--schedule``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from documents.services.review import next_reminder_time, review_reminders_schedule, review_reminders_send


class Command(BaseCommand):
    help = "Email owners their documents due, overdue or expired for review (once per owner per day)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="Queue the daily reminders task for the worker (nothing if one is waiting); sends nothing now.",
        )

    def handle(self, *args, schedule: bool = False, **options) -> None:
        if schedule:
            when = next_reminder_time()
            try:
                result = review_reminders_schedule(run_after=when)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            if result is None:
                self.stdout.write("The daily review reminders are already queued: nothing added.")
            else:
                self.stdout.write(f"Daily review reminders queued: first run {when:%Y-%m-%d %H:%M %Z}, then daily.")
            return
        run = review_reminders_send()
        for owner, ids in run.sent.items():
            self.stdout.write(f"Reminded {owner} of {len(ids)} document(s).")
        if run.already_sent:
            self.stdout.write(f"{len(run.already_sent)} owner(s) already reminded today: not sent again.")
        if run.no_owner:
            self.stdout.write(f"{run.no_owner} document(s) need review but have no owner to remind.")
        if not run.sent:
            self.stdout.write(f"No reminders sent on {run.today:%Y-%m-%d}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"{len(run.sent)} reminder(s) sent."))
