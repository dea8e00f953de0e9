from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConsoleConfig(AppConfig):
    """Console pages that span apps: the overview, the health panel, locked-out admins."""

    default = True
    name = "eventsite.console"
    label = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # taskruns: what workers report about themselves (task runs, liveness with queues), via Celery signals.
        # tasks: registered in every process, not only where Celery autodiscovers: the beat schedule names it.
        from eventsite.console import report_flags, taskruns, tasks  # noqa: F401
        from eventsite.console.rejections import rejections_collect

        rejections_collect()  # this process writes the refused-request counts it makes
        report_flags.install()  # after the admin autodiscovered every app's admin module (an earlier app)


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with eventsite's console site as the default `admin.site`."""

    default = False
    default_site = "eventsite.console.site.ConsoleAdminSite"
