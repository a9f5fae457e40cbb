from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Assistant"

    def ready(self) -> None:
        from documents.citations import register_cited_check

        from .selectors import chunk_cited_to

        register_cited_check(chunk_cited_to)
