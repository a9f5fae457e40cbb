from django.apps import AppConfig
from django.db.models.signals import post_migrate


def retention_floor_sync(sender, using="default", **kwargs) -> None:
    """Record HUMPHREY_RETENTION_DAYS where the purge function reads it, after every ``migrate``.

    Only a role that may write ``audit_retention_floor`` (the migrating role, which owns it) does
    this; the runtime role cannot, so it cannot shorten the retention period the database enforces.
    """
    from django.conf import settings
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass('audit_retention_floor') IS NOT NULL "
            "AND has_table_privilege(current_user, 'audit_retention_floor', 'UPDATE')"
        )
        if not cursor.fetchone()[0]:
            return
        cursor.execute(
            "UPDATE audit_retention_floor SET days = %s, updated_at = now() WHERE id = 1 AND days <> %s",
            [settings.HUMPHREY_RETENTION_DAYS, settings.HUMPHREY_RETENTION_DAYS],
        )


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from audit import signals  # noqa: F401  (connects the sign-in and role-change handlers)

        post_migrate.connect(retention_floor_sync, sender=self, dispatch_uid="audit.retention_floor_sync")
