from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = "Assistant"

    def ready(self) -> None:
        from audit.integrity import register_records_check
        from audit.retention import register_purger
        from audit.subject_access import register_personal_records
        from audit.templatetags.audit_tags import register_superseded_check
        from documents.citations import register_cited_check
        from documents.previews import register_answer_preview

        from . import signals  # noqa: F401 - connects the receivers that close chat sockets as sessions end
        from .integrity import records_against_trail
        from .personal_data import conversations_of, feedback_of
        from .selectors import chunk_cited_to, versions_superseded
        from .services.conversations import conversations_purge
        from .services.trial import answer_preview

        # The audit and documents apps depend on no feature app: the assistant tells them how.
        register_cited_check(chunk_cited_to)
        register_purger("conversations", conversations_purge)
        register_superseded_check(versions_superseded)  # the auditors' trace marks versions replaced since
        register_answer_preview(answer_preview)  # the curators' "Try a question" shows chat's answer
        register_records_check(records_against_trail)  # verification compares answers and ratings with the trail
        register_personal_records("conversations", conversations_of)  # a subject-access request's stored records
        register_personal_records("feedback", feedback_of)
