from django.apps import AppConfig


class HumphreyConfig(AppConfig):
    name = "humphrey"
    verbose_name = "Humphrey"
