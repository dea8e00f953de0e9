"""The console's first page: real figures from the rollup, rejections, tokens and suppressions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Suppression
from eventsite.console.models import RejectionHour
from eventsite.console.rejections import flush_rejections
from eventsite.console.rollup import ROLLUP_SETTLE_SECONDS, events_rollup
from eventsite.console.tests.conftest import post_events
from eventsite.lib.access import REPORT_STAFF, VIEWERS
from tests.factories import make_datasource, make_staff, make_token
from tests.logins import console_login
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


def test_the_overview_shows_requests_refused_per_reason(client, admin_client, ingest_token, settings):
    url = "/api/v2/events/post_event"
    purge = make_token(datasource=ingest_token.token.datasource, scope="purge")
    settings.INGEST_MAX_BODY_BYTES = 2048
    answers = [
        client.post(url, [{"type": "pv"}], content_type="application/json", headers={"X-KSense-Tok": "evs_wrong"}),
        client.post(url, [{"type": "pv"}], content_type="application/json"),  # no token at all
        client.post(url, [{"type": "pv"}], content_type="application/json", headers={"X-KSense-Tok": purge.raw}),
        client.post(url, "{nope", content_type="application/json", headers={"X-KSense-Tok": ingest_token.raw}),
        client.post(url, [{"type": "x" * 100}] * 30, content_type="application/json",
                    headers={"X-KSense-Tok": ingest_token.raw}),
        client.get(url, headers={"X-KSense-Tok": ingest_token.raw}),  # 405: shown as "other"
    ]
    assert [a.status_code for a in answers] == [401, 401, 403, 400, 413, 405]
    assert RejectionHour.objects.count() == 0  # nothing is written by the requests themselves
    assert flush_rejections() == 6

    html = admin_client.get("/admin/").content.decode()

    # columns: 400 401 403 413 429 503 other
    assert cells(html, "")["rejected"] == ["0", "2", "0", "0", "0", "0", "0"]  # the tokens were not known
    assert cells(html, "web")["rejected"] == ["1", "0", "1", "1", "0", "0", "1"]
    assert sum(RejectionHour.objects.values_list("count", flat=True)) == 6


def test_counts_that_cannot_be_written_are_kept_for_the_next_flush(client, ingest_token):
    from eventsite.lib.tally import rejected_requests

    client.post("/api/v2/events/post_event", [], content_type="application/json", headers={"X-KSense-Tok": "nope"})
    real_sink = rejected_requests._sink
    rejected_requests._sink = lambda batch: batch  # the database is down: nothing written
    try:
        assert flush_rejections() == 0
    finally:
        rejected_requests._sink = real_sink
    assert flush_rejections() == 1
    assert RejectionHour.objects.get().status == 401


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


def test_a_datasource_links_to_its_page_only_for_those_who_may_open_it(client, ingest_token):
    datasource = ingest_token.token.datasource
    page = f'href="/admin/events/datasource/{datasource.pk}/change/"'
    console_login(client, make_staff("reporter", REPORT_STAFF))
    html = client.get("/admin/").content.decode()
    assert 'data-datasource="web"' in html and page not in html
    assert client.get(f"/admin/events/datasource/{datasource.pk}/change/").status_code == 403

    console_login(client, make_staff("viewer", VIEWERS))
    assert page in client.get("/admin/").content.decode()
