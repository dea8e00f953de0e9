"""Admin logins locked out by django-axes: who, from where, until when; and unlocking them."""

from dataclasses import dataclass
from datetime import datetime

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone


@dataclass(frozen=True)
class Lockout:
    username: str
    ip_address: str
    failures: int
    last_attempt_at: datetime
    locked_until: datetime
    path: str


def lockouts_active(*, now: datetime | None = None) -> list[Lockout]:
    """Username and address pairs with enough recent failures to be refused now."""
    now = now or timezone.now()
    cooloff = settings.AXES_COOLOFF_TIME
    rows = (
        AccessAttempt.objects.filter(attempt_time__gt=now - cooloff)
        .values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"), path=Max("path_info"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
        .order_by("-last")
    )
    return [
        Lockout(username=row["username"] or "", ip_address=row["ip_address"] or "", failures=row["failures"],
                last_attempt_at=row["last"], locked_until=row["last"] + cooloff, path=row["path"] or "")
        for row in rows
    ]


def lockout_lift(*, username: str, ip_address: str) -> int:
    """Forget the failed attempts of that username from that address; returns how many rows went."""
    from axes.utils import reset

    return reset(ip=ip_address or None, username=username or None)
