from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documents"

    def ready(self) -> None:
        from audit.subject_access import register_personal_records

        from .personal_data import curation_of

        # The audit app depends on no feature app: a subject-access request's records include a
        # curator's own (uploads, reasons, marking changes), read by this app.
        register_personal_records("curation", curation_of)
