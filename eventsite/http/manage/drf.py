"""DRF glue for the management API: domain and database errors become DRF-style JSON responses."""

from django.conf import settings
from django.db import DatabaseError
from rest_framework import pagination, parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from eventsite.lib.dberrors import domain_error_for
from eventsite.lib.errors import DomainError, ServiceUnavailable, TooManyRequests
from eventsite.lib.jsonbody import check_json_value, parse_json

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


class JSONParser(parsers.JSONParser):
    """DRF's JSON parsing through the compat APIs' strict parser (eventsite.lib.jsonbody): orjson,
    integers within 64 bits, and nesting refused past INGEST_MAX_DEPTH. Python's json module raised
    RecursionError (a 500) on a body of a few thousand nested brackets."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            value = parse_json(stream.read())
            check_json_value(value, max_depth=settings.INGEST_MAX_DEPTH, where="The body")
        except DomainError as error:
            raise ParseError(error.message) from None
        return value


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

