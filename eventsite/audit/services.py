"""Recording staff actions: the one function every service and receiver calls.

    staff_action_record(action="token.issue", target=token, detail={"scope": "ingest"})

Who and through which channel come from eventsite.lib.context, so a service does not take an
actor argument for the audit's sake: the console's and the management API's requests set it
(middleware.StaffActorMiddleware), commands get "command" with the system account, Celery tasks
"task". A caller that knows better passes `user` or `actor_name` (a purge by an API token).

Call it inside the transaction that makes the change where there is one: the row and the change
commit, or roll back, together.
"""

import contextlib
import getpass
import socket
from collections.abc import Iterator
from typing import Any

from django.db import models

from eventsite.audit.models import StaffAction, Via
from eventsite.lib.context import acting_request, acting_user, acting_via, current_request_id

MAX_REPR = 200


def staff_action_record(
    *,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    target_repr: str = "",
    detail: dict[str, Any] | None = None,
    user: Any = None,
    actor_name: str = "",
) -> StaffAction:
    """Add one audit row. `target` (a model instance) fills target_type/id/repr; `detail` must
    hold no secret and no raw user identifier (purges pass the PurgeAudit's keyed hash)."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
        target_repr = target_repr or str(target)
    via = acting_via.get() or _background_via()
    if user is None:
        user = _acting_user()
    if not actor_name:
        actor_name = user.get_username() if user is not None else (_system_account() if via == Via.COMMAND else "")
    return StaffAction.objects.create(
        actor=user,
        actor_name=actor_name[:MAX_REPR],
        via=via,
        action=action,
        target_type=target_type,
        target_id=str(target_id if target_id is not None else "")[:64],
        target_repr=target_repr[:MAX_REPR],
        detail=detail or {},
        request_id=current_request_id(),
    )


def field_changes(*, before: dict[str, Any] | None, instance: models.Model) -> dict[str, list]:
    """{field: [old, new]} for each field in `before` (the stored row's values) that `instance` changes."""
    return {name: [old, getattr(instance, name)] for name, old in (before or {}).items()
            if old != getattr(instance, name)}


@contextlib.contextmanager
def acting_as(*, user: Any = None, via: str) -> Iterator[None]:
    """Record what runs inside as done by `user` through `via` (a command that names the user
    it acts for, a task started for one)."""
    via_token, user_token = acting_via.set(via), acting_user.set(user)
    try:
        yield
    finally:
        acting_via.reset(via_token)
        acting_user.reset(user_token)


def _acting_user():
    user = acting_user.get()
    if user is None:
        request = acting_request.get()
        # The user the console's session or the API's authentication found (DRF sets it on the
        # Django request when it authenticates, inside the view): read now, not when the request began.
        user = getattr(request, "user", None) if request is not None else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def _background_via() -> str:
    from celery import current_task  # only needed outside a request

    return Via.TASK if current_task else Via.COMMAND


def _system_account() -> str:
    # A command's "who" is the account that ran it (ssh user, deploy job), as far as the host knows.
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (some containers)
        name = "unknown"
    return f"{name}@{socket.gethostname()}"
