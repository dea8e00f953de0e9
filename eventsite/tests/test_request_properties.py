"""Property tests of the request parsers above the event parsers: the Barchart report body (JSON
shape in eventsite/http/reports.py, values in the reports service) and the management API's event
filters. Whatever a client sends, the answer is a report request or a 4xx domain error, and a
filter is a 200 page or a 4xx; nothing else escapes (issue 11, "parsers proven total").
"""

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsite.http.reports import report_request_parse
from eventsite.lib.access import VIEWERS
from reports.services import ReportRequest, _report_request_problems
from tests.factories import make_datasource, make_staff
from tests.logins import console_login
from tests.properties import outcome
from tests.strategies import any_json, hostile_text, objects_with

pytestmark = [pytest.mark.properties, pytest.mark.django_db]

report_filters = objects_with(["customer", "product", "types", "start", "end"])
report_outputs = objects_with(["delimiter", "raw"])
report_bodies = st.one_of(
    any_json,
    st.fixed_dictionaries({}, optional={"filter": st.one_of(report_filters, any_json),
                                        "output": st.one_of(report_outputs, any_json)}),
)


def checked(request: ReportRequest) -> list[str]:
    """The service's value checks: a list of problems (400) or none; never an exception."""
    problems = outcome(_report_request_problems, request)
    assert isinstance(problems, list) and all(isinstance(problem, str) for problem in problems)
    return problems


@given(report_bodies)
def test_a_report_body_is_a_request_or_a_4xx(body):
    request = outcome(report_request_parse, body)
    if request is None:
        return
    assert isinstance(request, ReportRequest)
    assert isinstance(request.customer, str) and isinstance(request.product, str)
    assert isinstance(request.delimiter, str) and isinstance(request.raw, bool)
    if not checked(request):  # what the service accepts can be exported
        assert len(request.delimiter) == 1 and request.delimiter.isascii()
        assert 0 < len(request.customer) <= 64 and 0 < len(request.product) <= 64
        for bound in (request.start_ms, request.end_ms):
            assert bound is None or 0 <= bound < 2**53


@given(customer=hostile_text, product=hostile_text, delimiter=hostile_text,
       types=st.one_of(st.none(), st.lists(hostile_text, max_size=5)),
       start=st.one_of(st.none(), st.integers()), end=st.one_of(st.none(), st.integers()))
def test_report_values_are_checked_without_an_exception(customer, product, delimiter, types, start, end):
    # The console's start form builds a ReportRequest itself, so the service must check any values.
    checked(ReportRequest(customer=customer, product=product, types=types, start_ms=start, end_ms=end,
                          delimiter=delimiter))


event_filters = st.dictionaries(st.sampled_from(["datasource", "type", "since", "until", "cursor", "page_size"]),
                                hostile_text, max_size=4)


@pytest.fixture
def staff(db):
    make_datasource(slug="web")
    return make_staff("ops", VIEWERS)


# The staff user and datasource (function-scoped) are read, never changed, by the examples.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=event_filters)
def test_the_management_event_filters_answer_200_or_400(staff, params):
    client = Client()
    console_login(client, staff)
    # Surrogates cannot travel in a URL (they have no UTF-8 form); a client sends their replacement.
    query = {name: value.encode("utf-8", "replace").decode() for name, value in params.items()}
    response = client.get("/api/manage/events/", query)
    # DRF's cursor paging answers a cursor it did not issue with 404 "Invalid cursor".
    allowed = (200, 400, 404) if "cursor" in params else (200, 400)
    assert response.status_code in allowed, response.content[:300]
    assert response["Content-Type"] == "application/json"
