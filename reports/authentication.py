"""HTTP Basic authentication of report users (Barchart /service/authenticate and /reports).

A report user is an active Django user; its customer comes from its ReportUser row. Staff
users without one may act for any customer (customer None).
"""

import base64
import binascii
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from eventsite.lib.errors import AuthenticationFailed, PermissionDenied
from eventsite.ratelimit import check_auth_failures, note_auth_failure
from reports.models import ReportUser


@dataclass(frozen=True, slots=True)
class ReportPrincipal:
    user: AbstractBaseUser
    customer: str | None  # None: staff, any customer

    def check_customer(self, customer: str) -> None:
        if self.customer is not None and self.customer != customer:
            raise PermissionDenied(f"This user may only report on customer {self.customer!r}")


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, separator, password = decoded.partition(":")
    # NUL can be in no stored username, and PostgreSQL refuses it in the lockout bookkeeping's query (was a 500).
    if not separator or "\x00" in decoded:
        return None
    return username, password


def report_user_authenticate(request: HttpRequest) -> ReportPrincipal:
    """The report principal of a request with valid Basic credentials, else AuthenticationFailed."""
    credentials = basic_credentials(request)
    if credentials is None:
        raise AuthenticationFailed("Unauthorized")
    check_auth_failures(request, scope="basic")
    user = authenticate(request, username=credentials[0], password=credentials[1])
    if user is None or not user.is_active:
        note_auth_failure(request, scope="basic")
        raise AuthenticationFailed("Unauthorized")
    profile = ReportUser.objects.filter(user=user).first()
    if profile is not None:
        return ReportPrincipal(user=user, customer=profile.customer)
    if user.is_staff:
        return ReportPrincipal(user=user, customer=None)
    raise AuthenticationFailed("Unauthorized")
