"""Barchart events API: POST /events, and the service endpoints.

Every answer is JSON with Content-Type exactly `application/json` (the Barchart client
rejects a charset), and failures use Barchart's failure-array format.
"""


from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

import eventsite
from events.catalog import catalog_for
from events.models import DataSource
from events.parsing import IngestLimits, barchart_rows
from events.selectors import datasource_accepting_unauthenticated
from events.services import events_ingest
from eventsite.http.auth import (
    BASIC_SCHEMES,
    TOKEN_SCHEMES,
    authenticate_request,
    report_user_authenticate,
    token_from_request,
)
from eventsite.http.barchart_format import barchart_error
from eventsite.http.common import JSON_VIEW_ERRORS, Answer, Operation, api_view, json_response, read_json, ref
from eventsite.lib.errors import AuthenticationFailed
from tokens.models import Scope

SERVICE_NAME = "eventsite"
SERVICE_DESCRIPTION = "System for collecting and reporting usage statistics"
# Staff without a customer may act for every customer; /service/authenticate says so.
ANY_CUSTOMER = "*"


def _datasource_for(request: HttpRequest) -> DataSource:
    """The token's datasource, or the one datasource that takes unauthenticated posts."""
    if token_from_request(request):
        return authenticate_request(request, scope=Scope.INGEST).datasource
    datasource = datasource_accepting_unauthenticated()  # during an outage: the one known before it
    if datasource is None:
        raise AuthenticationFailed("Unauthorized")
    return datasource


@api_view(methods=("POST",), render_error=barchart_error, operation=Operation(
    summary="Barchart events API: store events; answers them back with batch and sequence.",
    description="No credentials are needed when one datasource accepts unauthenticated events.",
    tag="Barchart",
    auth=TOKEN_SCHEMES,
    anonymous=True,
    body={"application/json": ref("BarchartEventsRequest")},
    answer=Answer("Stored.", {"type": "array", "items": ref("BarchartStoredEvent")}),
    errors=JSON_VIEW_ERRORS,
    operation_id="barchart_post_events",
))
def post_events(request: HttpRequest):
    datasource = _datasource_for(request)
    document = read_json(request)
    rows = barchart_rows(document, limits=IngestLimits.from_settings(), catalog=catalog_for(datasource=datasource))
    result = events_ingest(datasource=datasource, rows=rows, received_at=timezone.now())
    batch = str(result.batch)
    return json_response([{**row.payload, "batch": batch, "sequence": sequence} for sequence, row in enumerate(rows)])


def service_description() -> dict:
    return {
        "version": eventsite.__version__,
        "name": SERVICE_NAME,
        "description": SERVICE_DESCRIPTION,
        "environment": settings.SERVICE_ENVIRONMENT,
    }


@api_view(methods=("GET",), render_error=barchart_error, operation=Operation(
    summary="The service's name and version.",
    tag="Barchart",
    answer=Answer("The service.", ref("ServiceVersion")),
    errors=(405, 503),
))
def service_version(request: HttpRequest):
    return json_response({"service": service_description()})


@api_view(methods=("GET",), render_error=barchart_error, operation=Operation(
    summary="Check a report user's Basic credentials; answers the user's customer.",
    tag="Barchart",
    auth=BASIC_SCHEMES,
    answer=Answer("Authenticated.", ref("ServiceAuthenticate")),
    errors=(401, 405, 429, 503),
))
def service_authenticate(request: HttpRequest):
    principal = report_user_authenticate(request)
    return json_response({
        "service": service_description(),
        "user": {
            "id": principal.user.get_username(),
            "context": principal.customer or ANY_CUSTOMER,
            "permissions": None,
        },
    })
