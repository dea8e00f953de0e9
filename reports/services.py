"""Writes of the reports layer."""

from django.contrib.auth.models import User
from django.db import transaction

from eventsite.lib.errors import InvalidInput
from reports.models import ReportUser


@transaction.atomic
def report_user_upsert(*, username: str, customer: str, password: str | None) -> tuple[User, bool]:
    """Create a report user bound to a customer, or rebind/re-password an existing one."""
    customer = customer.strip()
    if not customer or len(customer) > 64:
        raise InvalidInput("The customer code must be 1 to 64 characters", field="customer")
    user = User.objects.filter(username=username).first()
    created = user is None
    if created:
        if not password:
            raise InvalidInput("A new report user needs a password", field="password")
        user = User.objects.create_user(username=username, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    ReportUser.objects.update_or_create(user=user, defaults={"customer": customer})
    return user, created
