from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "eventsite.console"
    label = "console"
