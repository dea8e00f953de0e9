"""Barchart report endpoints (HTTP Basic): POST /reports, availability, download link."""

from django.http import FileResponse, HttpRequest

from events.api.barchart_format import barchart_error
from events.api.http import api_view, json_response, read_json
from reports.authentication import report_user_authenticate
from reports.selectors import report_job_get, report_status
from reports.services import report_download_resolve, report_job_create, report_link_issue, report_request_parse


@api_view(methods=("POST",), render_error=barchart_error)
def create_report(request: HttpRequest):
    principal = report_user_authenticate(request)
    report_request = report_request_parse(read_json(request))
    job = report_job_create(principal=principal, request=report_request)
    return json_response(report_status(job))


@api_view(methods=("GET",), render_error=barchart_error)
def report_availability(request: HttpRequest, source: str):
    principal = report_user_authenticate(request)
    return json_response(report_status(report_job_get(source=source, principal=principal)))


@api_view(methods=("GET",), render_error=barchart_error)
def report_link(request: HttpRequest, source: str):
    principal = report_user_authenticate(request)
    job = report_job_get(source=source, principal=principal)
    return json_response({"link": report_link_issue(job=job, base_url=request.build_absolute_uri("/"))})


@api_view(methods=("GET",), render_error=barchart_error)
def report_download(request: HttpRequest, signed: str):
    """The embedded default's download: the signed link is the credential, for 15 minutes."""
    path = report_download_resolve(signed=signed)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="text/csv")
