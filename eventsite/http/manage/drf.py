"""DRF glue for the management API: domain and database errors become DRF-style JSON responses."""

from django.db import DatabaseError
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from eventsite.lib.dberrors import domain_error_for
from eventsite.lib.errors import DomainError, ServiceUnavailable, TooManyRequests

MAX_INT64 = 2**63 - 1


def exception_handler(exc, context):
    if isinstance(exc, DatabaseError):
        exc = domain_error_for(exc)
    if isinstance(exc, DomainError):
        response = Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
        if isinstance(exc, (ServiceUnavailable, TooManyRequests)):
            response["Retry-After"] = str(exc.retry_after)
        return response
    return drf_exception_handler(exc, context)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset paging, refusing (400) numbers beyond 64 bits before the database sees them:
    PostgreSQL raised an out-of-range error (was a 503) and SQLite overflowed (found by fuzzing)."""

    def get_limit(self, request):
        self._check_64_bits(request, self.limit_query_param)
        return super().get_limit(request)

    def get_offset(self, request):
        self._check_64_bits(request, self.offset_query_param)
        return super().get_offset(request)

    @staticmethod
    def _check_64_bits(request, name: str) -> None:
        raw = request.query_params.get(name, "")
        try:
            too_big = int(raw) > MAX_INT64
        except ValueError:
            return  # DRF ignores a non-number
        if too_big:
            raise ValidationError({name: f"Must be at most {MAX_INT64}."})

