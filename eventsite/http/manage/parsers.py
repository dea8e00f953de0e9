"""DRF parsers of the management API, in a module of their own: DRF imports them while
rest_framework.views is still loading (as eventsite/http/manage/authentication.py), so this
module must not import rest_framework.views."""

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from eventsite.lib.errors import DomainError
from eventsite.lib.jsonbody import check_json_value, parse_json


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
