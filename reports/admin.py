from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Value
from django.http import Http404
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from eventsite.lib.access import DOWNLOAD_REPORT, START_REPORT
from eventsite.lib.admin import ReadOnlyAdmin
from eventsite.lib.errors import DomainError
from reports.models import ReportJob, ReportUser
from reports.principals import ReportPrincipal, report_job_downloadable
from reports.selectors import report_catalog_codes, report_jobs_for_staff
from reports.services import ReportRequest, report_job_create, report_link_issue


class ReportUserInline(admin.StackedInline):
    model = ReportUser
    can_delete = True
    verbose_name = "Report API customer"
    verbose_name_plural = "Report API customer (Barchart Basic auth)"
    max_num = 1


admin.site.unregister(User)


@admin.register(User)
class ReportAwareUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, ReportUserInline]
    list_display = [*UserAdmin.list_display, "report_customer"]
    list_select_related = ["report_profile"]

    @admin.display(description="report customer")
    def report_customer(self, obj):
        profile = getattr(obj, "report_profile", None)
        return profile.customer if profile else ""


def _datetime_field(**kwargs) -> forms.DateTimeField:
    # The browser's own date and time picker; the value is read as UTC.
    return forms.DateTimeField(required=False, widget=forms.DateTimeInput(
        attrs={"type": "datetime-local", "step": 60}, format="%Y-%m-%dT%H:%M"), **kwargs)


class ReportStartForm(forms.Form):
    customer = forms.CharField(max_length=64)
    product = forms.CharField(max_length=64)
    types = forms.CharField(required=False, help_text="Comma-separated event types; empty: every type")
    start = _datetime_field(help_text="UTC; empty: from the first event")
    end = _datetime_field(help_text="UTC, not included; empty: up to now")
    delimiter = forms.CharField(max_length=1, initial="|", strip=False)
    raw = forms.BooleanField(required=False, label="Raw values",
                             help_text="Keep values starting with = + - @ tab or CR as they are (unsafe to open in a "
                                       "spreadsheet); by default they are prefixed with ' and quoted")

    def __init__(self, *args, catalog=None, **kwargs):
        super().__init__(*args, **kwargs)
        # With a catalog, offer only the codes it knows (the service refuses others anyway).
        for name, codes in (("customer", catalog and catalog.customers), ("product", catalog and catalog.products)):
            if codes:
                self.fields[name] = forms.ChoiceField(choices=[("", "---------"), *[(c, c) for c in codes]],
                                                      help_text="From the event-type catalog")


class FileDeletionFilter(admin.SimpleListFilter):
    title = "file deletion"
    parameter_name = "file_deletion"

    def lookups(self, request, model_admin):
        return [("pending", "pending (storage has not confirmed)"), ("done", "deleted")]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(file_delete_requested_at__isnull=False, file_deleted_at=None)
        if self.value() == "done":
            return queryset.filter(file_deleted_at__isnull=False)
        return queryset


class ReportStatusFilter(admin.SimpleListFilter):
    """Statuses under the same words as the list's status column."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(status.value, STATUS_LABELS[status.value]) for status in ReportJob.Status]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


# One wording of each status in the console (the API keeps Barchart's upper-case codes).
STATUS_LABELS = {"RUNNING": "Running", "COMPLETE": "Complete", "TIMEOUT": "Timed out", "FAILED": "Failed"}
STATUS_COLOURS = {"RUNNING": "#205067", "COMPLETE": "#2e7d32", "TIMEOUT": "#9a5b00", "FAILED": "#ba2121"}
REFRESH_SECONDS = 5


@admin.register(ReportJob)
class ReportJobAdmin(ReadOnlyAdmin):
    # Narrow enough for a 1366 px screen: short job ids, the file button right after the status.
    # (rows and size share a column; the duration is on the job's page).
    list_display = ["short_source", "status_label", "download", "customer", "product", "output", "requester",
                    "created"]
    list_filter = [ReportStatusFilter, FileDeletionFilter, "customer", "product"]
    list_select_related = ["requested_by"]
    readonly_fields = [*(field.name for field in ReportJob._meta.fields), "duration"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    change_list_template = "admin/reports/reportjob/change_list.html"

    @admin.display(description="job", ordering="id")
    def short_source(self, obj):
        return format_html('<span title="{}" style="white-space: nowrap">{}…</span>', obj.source, str(obj.id)[:8])

    @admin.display(description="status", ordering="status")
    def status_label(self, obj):
        return format_html('<strong class="job-status" data-status="{}" style="color: {}">{}</strong>', obj.status,
                           STATUS_COLOURS[obj.status], STATUS_LABELS[obj.status])

    @admin.display(description="output", ordering="rows")
    def output(self, obj):
        if obj.rows is None:
            return ""
        return f"{obj.rows} rows, {filesizeformat(obj.bytes or 0)}"

    @admin.display(description="by", ordering="requested_by")
    def requester(self, obj):
        return obj.requested_by or ""

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        stamp = obj.created_at
        return format_html('<span title="{} (UTC)">{}</span>', stamp.isoformat(), f"{stamp:%b %d %H:%M}")

    @admin.display(description="duration (s)")
    def duration(self, obj):
        seconds = obj.duration_seconds
        return f"{seconds:.1f}" if seconds is not None else ""

    @admin.display(description="file")
    def download(self, obj):
        if obj.file_delete_pending:
            return "deletion pending"  # a GDPR deletion storage has not confirmed: the sweep retries it
        if obj.status == ReportJob.Status.COMPLETE and obj.file_deleted_at is None:
            if not obj.may_download:
                return "ready"
            return format_html('<a class="button" href="{}">Download</a>',
                               reverse("admin:reports_reportjob_download", args=[obj.pk]))
        return "deleted" if obj.file_deleted_at else ""

    # Read-only: reports start from the form below, which calls the service.

    def get_queryset(self, request):
        # Without VIEW_ALL_REPORTS, one's own jobs only (list, job pages and their links): so each
        # listed job may be downloaded exactly when the user holds DOWNLOAD_REPORT.
        may_download = request.user.has_perm(DOWNLOAD_REPORT)
        return report_jobs_for_staff(user=request.user).annotate(may_download=Value(may_download))

    def get_urls(self):
        return [
            path("start/", self.admin_site.admin_view(self.start_view), name="reports_reportjob_start"),
            path("<uuid:job_id>/download/", self.admin_site.admin_view(self.download_view),
                 name="reports_reportjob_download"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "start_url": reverse("admin:reports_reportjob_start")
                         if request.user.has_perm(START_REPORT) else ""}
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # While a listed job runs the page reloads itself, so RUNNING turns into Complete unaided.
            running = any(job.status == ReportJob.Status.RUNNING for job in changelist.result_list)
            response.context_data["refresh_seconds"] = REFRESH_SECONDS if running else None
        return response

    def start_view(self, request):
        if not request.user.has_perm(START_REPORT):
            raise PermissionDenied
        form = ReportStartForm(request.POST or None, catalog=report_catalog_codes())
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            types = [t.strip() for t in data["types"].split(",") if t.strip()] or None
            bounds = {name: int(data[name].timestamp() * 1000) if data[name] else None for name in ("start", "end")}
            report_request = ReportRequest(customer=data["customer"], product=data["product"], types=types,
                                           start_ms=bounds["start"], end_ms=bounds["end"],
                                           delimiter=data["delimiter"], raw=data["raw"])
            try:
                job = report_job_create(principal=ReportPrincipal(user=request.user, customer=None),
                                        request=report_request)
            except DomainError as error:
                form.add_error(None, "; ".join(error.details or [error.message]))
            else:
                self.message_user(request, f"Started report {job.source}.", messages.SUCCESS)
                return redirect("admin:reports_reportjob_changelist")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": "Start a report"}
        return TemplateResponse(request, "admin/reports/reportjob/start.html", context)

    def download_view(self, request, job_id):
        job = ReportJob.objects.filter(pk=job_id).first()
        if job is None:
            raise Http404
        if not report_job_downloadable(job=job, user=request.user):
            raise PermissionDenied
        try:
            link = report_link_issue(job=job, base_url=request.build_absolute_uri("/"))
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
            return redirect("admin:reports_reportjob_changelist")
        return redirect(link)
