"""JSON 404s for API paths that match no route (found by fuzzing, tests/test_fuzz_api.py).

Django's default 404 is an HTML page; an API client (e.g. /api/manage/events/1.5/, which the
router's `[^/.]+` does not match) must get JSON in its family's error format instead.
Other paths (admin, static) keep Django's page.
"""

from django.http import HttpRequest, HttpResponse
from django.views.defaults import page_not_found

from events.api.barchart_format import barchart_error
from events.api.http import error_response, json_response
from events.api.jitsu import jitsu_error
from events.api.ksense import ksense_error
from eventsite.lib.errors import NotFound

BARCHART_PREFIXES = ("/events", "/service/", "/system/", "/reports", "/exports/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    path = request.path
    error = NotFound("No such endpoint")
    if path.startswith("/api/manage/"):
        return json_response({"detail": "Not found.", "code": "not_found"}, status=404)  # DRF's own 404 body
    if path.startswith("/api/v2/"):
        return error_response(error, ksense_error)
    if path.startswith("/api/v1/"):
        return error_response(error, jitsu_error)
    if path.startswith(BARCHART_PREFIXES):
        return error_response(error, barchart_error)
    return page_not_found(request, exception)
