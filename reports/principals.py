"""Who a report request acts for: a report user bound to one customer, or staff acting for any.

A report user is an active Django user; its customer comes from its ReportUser row. Staff
users without one may act for any customer (customer None). How the user proved who it is
(HTTP Basic, a console session) is the HTTP layer's business (eventsite/http/auth.py).
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from eventsite.lib.access import DOWNLOAD_REPORT, START_REPORT, VIEW_ALL_REPORTS
from eventsite.lib.errors import AuthenticationFailed, PermissionDenied
from reports.models import ReportJob, ReportUser


@dataclass(frozen=True, slots=True)
class ReportPrincipal:
    user: AbstractBaseUser
    customer: str | None  # None: staff, any customer

    def check_customer(self, customer: str) -> None:
        if self.customer is not None and self.customer != customer:
            raise PermissionDenied(f"This user may only report on customer {self.customer!r}")

    def check_start(self) -> None:
        """Staff start reports with START_REPORT only; a report user may, for its own customer."""
        if self.customer is None and not self.user.has_perm(START_REPORT):
            raise PermissionDenied(f"Starting a report needs the permission {START_REPORT}")

    def check_view(self, job: ReportJob) -> None:
        """Staff see the status of their own jobs, and of every job with VIEW_ALL_REPORTS; a report
        user sees its customer's jobs (report_job_get finds no other)."""
        if self.customer is None and job.requested_by_id != self.user.pk and not self.user.has_perm(VIEW_ALL_REPORTS):
            raise PermissionDenied(f"Another user's report: seeing it needs the permission {VIEW_ALL_REPORTS}")

    def check_download(self, job: ReportJob) -> None:
        """Staff download with DOWNLOAD_REPORT, their own jobs only unless they hold VIEW_ALL_REPORTS;
        a report user downloads its customer's jobs (report_job_get finds no other)."""
        if self.customer is None and not report_job_downloadable(job=job, user=self.user):
            raise PermissionDenied(f"Downloading this report needs the permission {DOWNLOAD_REPORT}"
                                   + ("" if job.requested_by_id == self.user.pk else f" and {VIEW_ALL_REPORTS}"))


def report_job_downloadable(*, job: ReportJob, user: AbstractBaseUser) -> bool:
    """Whether staff `user` may download `job`'s file: DOWNLOAD_REPORT, and the job is theirs or
    they hold VIEW_ALL_REPORTS."""
    if not user.has_perm(DOWNLOAD_REPORT):
        return False
    return job.requested_by_id == user.pk or user.has_perm(VIEW_ALL_REPORTS)


def report_principal_for(*, user: AbstractBaseUser) -> ReportPrincipal:
    """The principal of an authenticated user, or AuthenticationFailed if it may not use reports."""
    if not user.is_active:
        raise AuthenticationFailed("Unauthorized")
    profile = ReportUser.objects.filter(user=user).first()
    if profile is not None:
        return ReportPrincipal(user=user, customer=profile.customer)
    if user.is_staff:
        return ReportPrincipal(user=user, customer=None)
    raise AuthenticationFailed("Unauthorized")
