"""Report users and report jobs (jobs: see the reports issue)."""

import uuid

from django.conf import settings
from django.db import models


class ReportUser(models.Model):
    """A Django user who may call the Barchart report API, bound to one customer code.

    `context` in /service/authenticate is this customer. Staff users without a ReportUser
    row may report on any customer.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_profile")
    customer = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.user} ({self.customer})"


class ReportJob(models.Model):
    """An asynchronous export of events (Barchart `POST /reports`)."""

    class Status(models.TextChoices):
        RUNNING = "RUNNING"
        COMPLETE = "COMPLETE"
        TIMEOUT = "TIMEOUT"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    customer = models.CharField(max_length=64)
    product = models.CharField(max_length=64)
    types = models.JSONField(null=True, blank=True)  # None: every type of the product
    start_ms = models.BigIntegerField(null=True, blank=True)
    end_ms = models.BigIntegerField(null=True, blank=True)
    delimiter = models.CharField(max_length=1, default="|")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    file_key = models.CharField(max_length=200, blank=True)
    # A file deletion (purge or retention) is asked for first, then confirmed by storage: while
    # file_delete_requested_at is set and file_deleted_at is not, the deletion is pending (no
    # link is issued; the sweep retries). file_deleted_at means storage confirmed it.
    file_delete_requested_at = models.DateTimeField(null=True, blank=True)
    file_deleted_at = models.DateTimeField(null=True, blank=True)
    rows = models.BigIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)
    # Set by a purge while the job runs: the export may hold purged events and must be redone.
    rerun_required = models.BooleanField(default=False)
    # What the file holds, recorded with COMPLETE from the same snapshot as the export, so a purge
    # deletes only files that can hold its events: {"<datasource id>": epoch} of the exported
    # events and their time range (ms). None: recorded before this existed, may hold anything.
    exported_datasources = models.JSONField(null=True, blank=True)
    exported_min_ms = models.BigIntegerField(null=True, blank=True)
    exported_max_ms = models.BigIntegerField(null=True, blank=True)
    # output.raw: keep values as they arrived; by default cells a spreadsheet would run as a
    # formula are neutralised (OWASP CSV injection).
    raw_values = models.BooleanField(default=False)
    # The X-Request-ID of the request that started the job, for log search.
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("start_report", "Can start a report (an export of events)"),
            ("download_report", "Can download the file of a report"),
            ("view_all_reports", "Can see every staff user's reports, not only their own"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="reportjob_status_created")]

    def __str__(self) -> str:
        return f"JOB-{self.id}"

    @property
    def source(self) -> str:
        return f"JOB-{self.id}"

    @property
    def file_delete_pending(self) -> bool:
        return self.file_delete_requested_at is not None and self.file_deleted_at is None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
