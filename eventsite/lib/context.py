"""What the current request (or the task it started) is, for logs, metrics and audit rows.

Context variables, not thread-locals: gunicorn's threads and Celery's workers each see their own.
eventsite.ops sets them (its middleware, its Celery signals); any layer may read them.
"""

from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# Method and path (never the query string, which may carry a token) of the HTTP request.
request_method: ContextVar[str | None] = ContextVar("request_method", default=None)
request_path: ContextVar[str | None] = ContextVar("request_path", default=None)
# The API family serving the request ("ksense", "barchart", "jitsu", ...), a bounded metric label.
request_family: ContextVar[str | None] = ContextVar("request_family", default=None)


def current_request_id() -> str:
    """The request id to store in an audit row ("" outside a request or task)."""
    return request_id.get() or ""


# Who acts, for the audit of staff actions (eventsite.audit). The channel ("console", "api",
# "command", "task") and the request whose user is the actor, read when a row is recorded: the
# management API authenticates inside the view (DRF), after any middleware has run, and DRF puts
# the user it authenticated on the Django request. Set by eventsite.audit's middleware;
# eventsite.audit.services.acting_as sets an explicit user (commands and tasks acting for one).
acting_via: ContextVar[str | None] = ContextVar("acting_via", default=None)
acting_request: ContextVar[Any] = ContextVar("acting_request", default=None)
acting_user: ContextVar[Any] = ContextVar("acting_user", default=None)
