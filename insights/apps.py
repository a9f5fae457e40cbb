from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Insights for curators"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from audit.models import AuditEvent
        from insights.signals import prune_after_retention_purge

        post_save.connect(prune_after_retention_purge, sender=AuditEvent, dispatch_uid="insights_prune_after_purge")
