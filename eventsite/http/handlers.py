"""JSON error answers for API paths outside the views' own error handling (found by fuzzing,
tests/test_fuzz_api.py): a path that matches no route (Django's 404 page), a request Django
refuses before any view (its 400 page: a Host header outside ALLOWED_HOSTS, a malformed cookie
or multipart body) and a django-axes lockout of HTTP Basic logins (axes' plain-text 429). Each
API family gets its own error format; other paths (admin, static) keep Django's and axes' pages.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found

from eventsite.http.barchart_format import barchart_error
from eventsite.http.common import error_response, json_response
from eventsite.http.jitsu import jitsu_error
from eventsite.http.ksense import ksense_error
from eventsite.lib.errors import DomainError, InvalidInput, NotFound, TooManyRequests

BARCHART_PREFIXES = ("/events", "/service/", "/system/", "/reports", "/exports/")


def api_error_response(path: str, error: DomainError) -> HttpResponse | None:
    """The error in the format of the API family serving path; None outside the APIs."""
    if path.startswith("/api/manage/"):  # DRF's error body, as eventsite/http/manage/drf.py renders domain errors
        response = error_response(error, lambda e: {"detail": e.message, "code": e.code})
    elif path.startswith("/api/v2/"):
        response = error_response(error, ksense_error)
    elif path.startswith("/api/v1/"):
        response = error_response(error, jitsu_error)
    elif path.startswith(BARCHART_PREFIXES):
        response = error_response(error, barchart_error)
    else:
        return None
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/manage/"):
        return json_response({"detail": "Not found.", "code": "not_found"}, status=404)  # as DRF's own 404
    return api_error_response(request.path, NotFound("No such endpoint")) or page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    # request.path, not get_host(): the Host header may be the very thing Django refused.
    error = InvalidInput("The request cannot be served (a header or the body is malformed, or the host is unknown)")
    return api_error_response(request.path, error) or django_bad_request(request, exception)


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: a username locked out after repeated failed Basic logins."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    error = TooManyRequests("Too many failed logins for this user; retry later", retry_after=seconds)
    response = api_error_response(request.path, error)
    if response is None:  # the admin: axes' own answer (no lockout template or URL is configured)
        from axes.helpers import get_lockout_message

        response = HttpResponse(get_lockout_message(), status=settings.AXES_HTTP_RESPONSE_CODE)
    return response
