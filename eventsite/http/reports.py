"""Barchart report endpoints (HTTP Basic): POST /reports, availability, download link."""

from django.http import FileResponse, HttpRequest

from events.parsing import malformed_field
from eventsite.http.auth import BASIC_SCHEMES, report_user_authenticate
from eventsite.http.barchart_format import barchart_error
from eventsite.http.common import JSON_VIEW_ERRORS, Answer, Operation, api_view, json_response, read_json, ref
from eventsite.lib.errors import InvalidInput
from reports.models import ReportJob
from reports.selectors import report_job_get, report_status
from reports.services import ReportRequest, report_download_resolve, report_job_create, report_link_issue


def report_request_parse(document) -> ReportRequest:
    """The shape of a Barchart `POST /reports` body: every field of the wrong JSON type is listed.

    The values themselves (lengths, ranges, the delimiter) are the service's to check.
    """
    if not isinstance(document, dict) or not isinstance(document.get("filter"), dict):
        raise InvalidInput("The body must be an object with a filter", details=[malformed_field("filter")])
    report_filter, output = document["filter"], document.get("output", {})
    problems = []
    for name in ("customer", "product"):
        if not isinstance(report_filter.get(name), str):
            problems.append(malformed_field(name))
    types = report_filter.get("types")
    if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
        problems.append(malformed_field("types"))
    for name in ("start", "end"):
        value = report_filter.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(malformed_field(name))
    if not isinstance(output, dict):
        problems.append(malformed_field("output"))
        output = {}
    delimiter = output.get("delimiter", "|")
    if not isinstance(delimiter, str):
        problems.append(malformed_field("delimiter") + " Use one ASCII character other than a quote, a line break,"
                        " a backslash or NUL.")
    raw = output.get("raw", False)
    if not isinstance(raw, bool):
        problems.append(malformed_field("raw") + " Use true or false.")
    if problems:
        raise InvalidInput("The report request cannot be interpreted", details=problems)
    return ReportRequest(customer=report_filter["customer"], product=report_filter["product"], types=types,
                         start_ms=report_filter.get("start"), end_ms=report_filter.get("end"), delimiter=delimiter,
                         raw=raw)


def _job_operation(summary: str, answer: Answer, errors: tuple[int, ...], operation_id: str) -> Operation:
    """A GET of one job by its source, by a report user (HTTP Basic)."""
    return Operation(summary=summary, tag="Reports", auth=BASIC_SCHEMES, answer=answer, errors=errors,
                     path_params={"source": "The job's source (JOB-...)."}, operation_id=operation_id)


@api_view(methods=("POST",), render_error=barchart_error, operation=Operation(
    summary="Start an asynchronous export (report user, HTTP Basic).",
    tag="Reports",
    auth=BASIC_SCHEMES,
    body={"application/json": ref("ReportRequest")},
    answer=Answer(f"The job, {ReportJob.Status.RUNNING.value}.", ref("ReportStatus")),
    errors=JSON_VIEW_ERRORS,
    operation_id="barchart_create_report",
))
def create_report(request: HttpRequest):
    principal = report_user_authenticate(request)
    report_request = report_request_parse(read_json(request))
    job = report_job_create(principal=principal, request=report_request)
    return json_response(report_status(job))


@api_view(methods=("GET",), render_error=barchart_error, operation=_job_operation(
    f"The job's status: {', '.join(ReportJob.Status.values)}.", Answer("The job.", ref("ReportStatus")),
    (401, 403, 404, 405, 429, 503), "barchart_report_availability",
))
def report_availability(request: HttpRequest, source: str):
    principal = report_user_authenticate(request)
    job = report_job_get(source=source, principal=principal)
    principal.check_view(job)
    return json_response(report_status(job))


@api_view(methods=("GET",), render_error=barchart_error, operation=_job_operation(
    f"A download link for a {ReportJob.Status.COMPLETE.value} job.", Answer("The link.", ref("ReportLink")),
    (401, 403, 404, 405, 409, 429, 503), "barchart_report_link",
))
def report_link(request: HttpRequest, source: str):
    principal = report_user_authenticate(request)
    job = report_job_get(source=source, principal=principal)
    principal.check_download(job)
    return json_response({"link": report_link_issue(job=job, base_url=request.build_absolute_uri("/"))})


@api_view(methods=("GET",), render_error=barchart_error, operation=Operation(
    summary="Download an export file (embedded storage); the signed link is the credential.",
    tag="Reports",
    path_params={"signed": "The signed part of a link that GET /reports/{source} issued."},
    answer=Answer("The file: a header line, then one line per event.", {"type": "string", "format": "binary"},
                  media_type="text/csv"),
    errors=(405, 409, 503),
))
def report_download(request: HttpRequest, signed: str):
    """The embedded default's download: the signed link is the credential, for 15 minutes."""
    path = report_download_resolve(signed=signed)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name, content_type="text/csv")
