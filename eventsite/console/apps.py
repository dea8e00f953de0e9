from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConsoleConfig(AppConfig):
    """Console pages that span apps: the overview, the health panel, locked-out admins."""

    default = True
    name = "eventsite.console"
    label = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Worker-side bookkeeping of task runs (the health panel's heartbeat and sweep times).
        from eventsite.console import taskruns  # noqa: F401
        from eventsite.console.rejections import rejections_collect

        rejections_collect()  # this process writes the refused-request counts it makes


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with eventsite's console site as the default `admin.site`."""

    default = False
    default_site = "eventsite.console.site.ConsoleAdminSite"
