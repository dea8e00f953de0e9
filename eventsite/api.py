"""DRF glue for the management API: domain errors become DRF-style JSON responses."""

from django.db import DatabaseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from eventsite.lib.errors import DomainError, ServiceUnavailable


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        response = Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
        if isinstance(exc, ServiceUnavailable):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DatabaseError):
        response = Response({"detail": "The database is unavailable; retry shortly.", "code": "SERVICE_UNAVAILABLE"},
                            status=503)
        response["Retry-After"] = "5"
        return response
    return drf_exception_handler(exc, context)
