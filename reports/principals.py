"""Who a report request acts for: a report user bound to one customer, or staff acting for any.

A report user is an active Django user; its customer comes from its ReportUser row. Staff
users without one may act for any customer (customer None). How the user proved who it is
(HTTP Basic, a console session) is the HTTP layer's business (eventsite/http/auth.py).
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from eventsite.lib.errors import AuthenticationFailed, PermissionDenied
from reports.models import ReportUser


@dataclass(frozen=True, slots=True)
class ReportPrincipal:
    user: AbstractBaseUser
    customer: str | None  # None: staff, any customer

    def check_customer(self, customer: str) -> None:
        if self.customer is not None and self.customer != customer:
            raise PermissionDenied(f"This user may only report on customer {self.customer!r}")


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
