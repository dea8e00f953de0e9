from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "eventsite.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self):
        from django.contrib.auth.signals import user_login_failed
        from django.core.signals import request_finished

        from eventsite.ops.middleware import clear_request_context
        from eventsite.ops.signals import admin_login_failed

        user_login_failed.connect(admin_login_failed, dispatch_uid="ops-admin-login-failed")
        request_finished.connect(clear_request_context, dispatch_uid="ops-clear-request-context")
        # Celery's signals: request ids into the tasks a request starts, task outcomes into metrics.
        # (Connected here, not in eventsite.celery, which every layer imports through `eventsite`.)
        import eventsite.ops.celery  # noqa: F401
