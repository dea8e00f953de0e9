"""Report users and report jobs (jobs: see the reports issue)."""

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
