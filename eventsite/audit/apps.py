from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "eventsite.audit"
    label = "audit"
    verbose_name = "Audit of staff actions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Roles (users' groups, permissions and flags; groups' permissions) and second-factor devices.
        from eventsite.audit import receivers

        receivers.connect()
