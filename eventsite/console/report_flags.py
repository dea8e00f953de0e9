"""Reports that need an operator, flagged where operators look: an *attention* column and a banner
in the report job list, a banner on the job's page (words from health.report_job_stall).

Installed by ConsoleConfig.ready(), after the admin has autodiscovered every app's admin module:
it extends whatever ReportJob admin the reports app registered, so changes there carry over.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import format_html

from eventsite.console import health
from reports.models import ReportJob


def _stall_words(job: ReportJob) -> str:
    if job.status != ReportJob.Status.RUNNING:
        return ""  # no query for the finished jobs that fill the list
    now = timezone.now()
    return health.report_job_stall(job=job, now=now, export_workers=health.export_workers_alive(now=now))


def install() -> None:
    """Register ReportJob again with these additions on top of its current admin."""
    current = type(admin.site._registry[ReportJob])
    flagged = type("ReportJobAdminWithFlags", (AttentionMixin, current), {})
    admin.site.unregister(ReportJob)
    admin.site.register(ReportJob, flagged)


class AttentionMixin:
    def get_list_display(self, request):
        columns = super().get_list_display(request)
        # Only while some report needs attention: the usual list keeps to a laptop's width.
        return [*columns, "attention"] if getattr(request, "console_attention", False) else columns

    @admin.display(description="attention")
    def attention(self, obj):
        words = _stall_words(obj)
        if not words:
            return ""
        # A short label keeps the list within a laptop's width; the banner above and the job page say it all.
        return format_html('<strong style="color: var(--error-fg)" title="{}">{}</strong>', words,
                           words.split(":", 1)[0])  # Stalled, Waiting or Overdue

    def changelist_view(self, request, extra_context=None):
        running = ReportJob.objects.filter(status=ReportJob.Status.RUNNING).order_by("created_at")[:50]
        stalled = [words for words in map(_stall_words, running) if words]
        request.console_attention = bool(stalled)
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


