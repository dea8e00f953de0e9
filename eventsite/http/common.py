"""Plain-Django HTTP helpers for the compatible API families (kSense, Barchart, Jitsu).

These endpoints skip DRF on purpose: ingest is the hot path. Each family wraps its views
with `api_view(render_error=..., operation=...)`, which turns DomainErrors, database outages and
stray exceptions into that family's JSON error format, so no input can produce an HTML 500, and
keeps the view's OpenAPI description (an `Operation`) for eventsite/http/openapi.py.
"""

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from eventsite.http.rejections import count_rejections
from eventsite.lib.dberrors import domain_error_for
from eventsite.lib.errors import (
    DomainError,
    InvalidInput,
    MethodNotAllowed,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
)
from eventsite.lib.jsonbody import decode_body, parse_json

logger = logging.getLogger(__name__)
ErrorRenderer = Callable[[DomainError], object]


def json_response(data, *, status: int = 200, headers: dict | None = None) -> HttpResponse:
    # Exactly `application/json`: the Barchart client rejects a charset parameter.
    response = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: DomainError, render_error: ErrorRenderer) -> HttpResponse:
    headers = {}
    if isinstance(error, (ServiceUnavailable, TooManyRequests)):
        headers["Retry-After"] = str(error.retry_after)
    return json_response(render_error(error), status=error.status_code, headers=headers)


# The errors of an authenticated view that reads a JSON body: input (400), credentials (401, 403), method (405),
# limits (413), media type (415), the failed-authentication limiter (429), the database (503).
JSON_VIEW_ERRORS = (400, 401, 403, 405, 413, 415, 429, 503)


def ref(component: str) -> dict:
    """A reference to a schema of eventsite/http/openapi.py SCHEMAS."""
    return {"$ref": f"#/components/schemas/{component}"}


@dataclass(frozen=True)
class Param:
    """A string parameter in the query string (path parameters come from the route's converters)."""

    name: str
    description: str | None = None
    required: bool = True
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Answer:
    """The success answer of an operation; schema None for an empty body."""

    description: str
    schema: dict | None = None
    status: int = 200
    media_type: str = "application/json"
    headers: dict | None = None


@dataclass(frozen=True)
class Operation:
    """A compat view's OpenAPI operation, declared where the view is defined; eventsite/http/openapi.py
    renders it at the view's route. The error answers take their schema from the view's render_error."""

    summary: str
    tag: str
    answer: Answer
    errors: tuple[int, ...]
    # Security schemes (eventsite/http/auth.py *_SCHEMES), any one suffices; none at all: no credentials.
    auth: tuple[str, ...] = ()
    anonymous: bool = False  # also served without credentials
    body: dict[str, dict] | None = None  # media type -> schema; a body is required when declared
    params: tuple[Param, ...] = ()
    path_params: dict[str, str] | None = None  # descriptions of the route's parameters
    form_on_post: bool = False  # a POST may send the query parameters as a form body instead
    description: str | None = None
    operation_id: str | None = None  # default: the URL pattern's name (+ _method when several)


def api_view(*, methods: tuple[str, ...], render_error: ErrorRenderer,
             operation: Operation | dict[str, Operation]):
    """Method check, CSRF exemption and error rendering for a compatible-API view.

    `operation` describes the view for OpenAPI: one for all its methods, or one per method.
    """
    operations = operation if isinstance(operation, dict) else dict.fromkeys(methods, operation)
    if set(operations) != set(methods):
        raise ValueError(f"Describe exactly the methods {methods}, not {tuple(operations)}")

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            try:
                if request.method not in methods:
                    error = MethodNotAllowed(f"{request.method} is not allowed here; use {' or '.join(methods)}")
                    response = error_response(error, render_error)
                    response["Allow"] = ", ".join(methods)
                    return response
                return view(request, *args, **kwargs)
            except DomainError as error:
                if isinstance(error, ServiceUnavailable):
                    _drop_broken_connection()
                return error_response(error, render_error)
            except (DatabaseError, InterfaceError) as database_error:  # InterfaceError is no DatabaseError
                logger.warning("database error during %s %s: %s", request.method, request.path,
                               database_error.__class__.__name__)
                error = domain_error_for(database_error)
                if isinstance(error, ServiceUnavailable):
                    _drop_broken_connection()
                return error_response(error, render_error)

        wrapper.operations = {method: operations[method] for method in methods}
        wrapper.render_error = render_error
        return count_rejections(wrapper)  # refused requests counted for the console's overview, in memory

    return decorator


def _drop_broken_connection() -> None:
    """Close a connection that failed, so the next request on this thread reconnects
    instead of reusing a dead socket (the database may be back by then)."""
    if not connection.in_atomic_block:
        connection.close()


def read_body(request: HttpRequest, *, max_bytes: int | None = None) -> bytes:
    """The raw request body, refusing (413) before reading more than the limit."""
    limit = max_bytes or settings.INGEST_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        declared_length = int(declared)
    except ValueError:
        raise InvalidInput("Content-Length is not a number") from None
    if declared_length > limit:
        raise PayloadTooLarge(f"The body is {declared_length} bytes; the limit is {limit}")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body exceeds {limit} bytes")
    return raw


def read_json(request: HttpRequest, *, allowed_types: frozenset[str] | None = None):
    """Read, decompress and strictly parse a JSON body within the ingest limits."""
    raw = read_body(request)
    kwargs = {"allowed_types": allowed_types} if allowed_types is not None else {}
    body = decode_body(
        raw,
        content_type=request.META.get("CONTENT_TYPE", ""),
        content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""),
        max_bytes=settings.INGEST_MAX_BODY_BYTES,
        **kwargs,
    )
    return parse_json(body)
