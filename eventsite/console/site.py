"""The console's admin site: Django's admin with the overview as its first page, the health
panel and the locked-out admins. Every `admin.site.register` of the apps lands here
(ConsoleAdminConfig makes it the default site). Views stay thin: they call overview, health
and lockouts and render.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from eventsite.console import health, lockouts, overview


class ConsoleAdminSite(admin.AdminSite):
    index_template = "admin/console/overview.html"

    def get_urls(self):
        return [
            path("health/", self.admin_view(self.health_view), name="console_health"),
            path("lockouts/", self.admin_view(self.lockouts_view), name="console_lockouts"),
            path("lockouts/unlock/", self.admin_view(require_POST(self.unlock_view)), name="console_unlock"),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        now = timezone.now()
        figures = overview.overview_figures(now=now)
        alive = health.workers_alive(now=now)
        exporters = sum(1 for worker in alive if settings.EXPORTS_QUEUE in worker.queues)
        context = {
            "overview": figures,
            "chart": overview.hourly_chart_svg(values=figures.hourly_total, start=figures.chart_start),
            # Database rows only: the overview never waits for the broker or S3 (the health page does).
            "health_summary": [
                *health.worker_checks(now=now, alive=alive),
                health.last_task_check(now=now),
                health.oldest_running_report_check(now=now, export_workers=exporters),
                health.spool_check(now=now),
            ],
            "lockout_count": len(lockouts.lockouts_active(now=now)),
            **(extra_context or {}),
        }
        return super().index(request, context)

    def health_view(self, request):
        context = {**self.each_context(request), "title": "Health", "checks": health.health_checks(),
                   "now": timezone.now()}
        return TemplateResponse(request, "admin/console/health.html", context)

    def lockouts_view(self, request):
        if not request.user.has_perm("axes.view_accessattempt"):
            raise PermissionDenied
        context = {**self.each_context(request), "title": "Locked-out admin logins",
                   "lockouts": lockouts.lockouts_active(), "limit": settings.AXES_FAILURE_LIMIT,
                   "cooloff": timesince(timezone.now() - settings.AXES_COOLOFF_TIME)}
        return TemplateResponse(request, "admin/console/lockouts.html", context)

    def unlock_view(self, request):
        # Unlocking deletes django-axes' attempt records: the same permission as deleting them in its admin.
        if not request.user.has_perm("axes.delete_accessattempt"):
            raise PermissionDenied
        username = request.POST.get("username", "")
        ip_address = request.POST.get("ip_address", "")
        if not (username or ip_address):
            messages.error(request, "Nothing to unlock: no username or address given.")
            return redirect("admin:console_lockouts")
        removed = lockouts.lockout_lift(username=username, ip_address=ip_address)
        messages.success(request, f"Unlocked {username or '(any user)'} from {ip_address or 'any address'} "
                                  f"({removed} failed-attempt record{'s' if removed != 1 else ''} removed).")
        return redirect("admin:console_lockouts")
