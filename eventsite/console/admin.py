"""The console's additions to other apps' admin pages: stalled reports are flagged in the report
job list and on the job page, in words an operator can act on (see health.report_job_stall)."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html

from eventsite.console import health
from reports.models import ReportJob

_ReportJobAdmin = type(admin.site._registry[ReportJob])


def _stall_words(job: ReportJob) -> str:
    if job.status != ReportJob.Status.RUNNING:
        return ""  # no query for the finished jobs that fill the list
    return health.report_job_stall(job=job, now=timezone.now(), worker_seen_at=health.heartbeat_at())


class ConsoleReportJobAdmin(_ReportJobAdmin):
    def get_list_display(self, request):
        return [*super().get_list_display(request), "attention"]

    @admin.display(description="attention")
    def attention(self, obj):
        words = _stall_words(obj)
        return format_html('<strong style="color: var(--error-fg)">{}</strong>', words) if words else ""

    def changelist_view(self, request, extra_context=None):
        running = ReportJob.objects.filter(status=ReportJob.Status.RUNNING).order_by("created_at")[:50]
        stalled = [words for words in map(_stall_words, running) if words]
        if stalled:
            messages.warning(request, f"{len(stalled)} running report(s) need attention. Oldest: {stalled[0]}")
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        try:
            job = ReportJob.objects.filter(pk=object_id).first()
        except (ValidationError, ValueError):
            job = None
        words = _stall_words(job) if job is not None else ""
        if words and request.method == "GET":
            messages.warning(request, words)
        return super().change_view(request, object_id, form_url, extra_context)


admin.site.unregister(ReportJob)
admin.site.register(ReportJob, ConsoleReportJobAdmin)
