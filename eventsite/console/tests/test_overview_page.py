"""The console's first page: real figures from the rollup, rejections, tokens and suppressions."""

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from events.models import Suppression
from eventsite.console.models import RejectionHour
from eventsite.console.rejections import count_rejection, flush_rejections
from eventsite.console.rollup import ROLLUP_SETTLE_SECONDS, events_rollup
from eventsite.console.tests.conftest import post_events
from tests.factories import make_datasource, make_token
from tokens.services import token_revoke

pytestmark = pytest.mark.django_db


def cells(html: str, slug: str) -> dict[str, list[str]]:
    """The figures of one datasource's row of the overview table, by data-figure name."""
    import re

    row = re.search(rf'<tr data-datasource="{slug}">(.*?)</tr>', html, re.S).group(1)
    found: dict[str, list[str]] = {}
    for name, value in re.findall(r'data-figure="(\w+)">([^<]*)<', row):
        found.setdefault(name, []).append(value.strip())
    return found


def test_the_overview_is_the_first_page_and_shows_what_was_posted(admin_client, ingest_token):
    post_events(admin_client, ingest_token.raw, 4)
    make_token(datasource=ingest_token.token.datasource, scope="purge")
    revoked = make_token(datasource=ingest_token.token.datasource, scope="ingest")
    token_revoke(token=revoked.token)
    Suppression.objects.create(datasource=ingest_token.token.datasource, kind="email", digest="a" * 64)
    make_datasource(slug="quiet")
    events_rollup()

    response = admin_client.get("/admin/")

    assert response.status_code == 200
    html = response.content.decode()
    web = cells(html, "web")
    assert web["last_hour"] == ["4"] and web["today"] == ["4"] and web["seven_days"] == ["4"]
    assert web["active_tokens"] == ["2"]  # the ingest and purge tokens; not the revoked one
    assert web["suppressions"] == ["1"]
    assert cells(html, "quiet")["today"] == ["0"]
    assert "Event figures as of" in html
    assert "<svg" in html and "Events per hour" in html
    assert 'href="/admin/tokens/token/"' in html  # the app list is still there


def test_the_overview_shows_requests_refused_per_reason(admin_client, ingest_token):
    rf = RequestFactory()
    for status in (401, 401, 413, 404):
        count_rejection(rf.post("/api/v2/events/post_event"), status)
    assert RejectionHour.objects.count() == 0  # nothing is written by the request itself
    assert flush_rejections() == 4

    html = admin_client.get("/admin/").content.decode()

    unknown = cells(html, "")["rejected"]
    # columns: 400 401 403 413 429 503 other
    assert unknown == ["0", "2", "0", "1", "0", "0", "1"]
    assert cells(html, "web")["rejected"] == ["0"] * 7


def test_refusals_of_a_known_token_count_for_its_datasource(client, admin_client, ingest_token):
    # A wrong-scope call: the token authenticates (and is cached by this process), then 403.
    purge = make_token(datasource=ingest_token.token.datasource, scope="purge")
    response = client.post("/api/v2/events/post_event", [{"type": "pv"}], content_type="application/json",
                           headers={"X-KSense-Tok": purge.raw})
    assert response.status_code == 403
    count_rejection(response.wsgi_request, 403)
    flush_rejections()

    assert list(RejectionHour.objects.values_list("datasource_slug", "status", "count")) == [("web", 403, 1)]
    assert cells(admin_client.get("/admin/").content.decode(), "web")["rejected"][2] == "1"


def test_the_page_says_when_figures_are_missing(admin_client, ingest_token):
    html = admin_client.get("/admin/").content.decode()
    assert "the rollup task has not run" in html


def test_figures_older_than_a_day_of_rejections_drop_out(admin_client, ingest_token):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    RejectionHour.objects.create(hour=hour - timedelta(hours=30), datasource_slug="web", status=401, count=9)
    RejectionHour.objects.create(hour=hour - timedelta(hours=2), datasource_slug="web", status=401, count=1)
    html = admin_client.get("/admin/").content.decode()
    assert cells(html, "web")["rejected"][1] == "1"


def test_the_page_needs_no_query_on_the_events_table(admin_client, ingest_token, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    post_events(admin_client, ingest_token.raw, 2)
    now = timezone.now()
    events_rollup(now=now - timedelta(seconds=ROLLUP_SETTLE_SECONDS + 1))
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get("/admin/").status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if "events_event" in q["sql"]]
