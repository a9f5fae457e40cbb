from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Assistant"

    def ready(self) -> None:
        from audit.retention import register_purger
        from documents.citations import register_cited_check

        from .selectors import chunk_cited_to
        from .services.conversations import conversations_purge

        register_cited_check(chunk_cited_to)
        register_purger("conversations", conversations_purge)  # the audit app depends on no other app
