"""Retention per datasource: events past retention_days are hidden at once and deleted in chunks
by the sweep (task, command), each run recorded; reports never include them."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from events.models import DataSource, Event, RetentionRun
from events.selectors import events_filter, events_visible
from events.services import events_apply_retention
from eventsite.celery import app
from eventsite.lib.access import OPERATORS
from reports.models import ReportJob
from reports.storage import local_path
from reports.tests.conftest import eager_celery, tgam_user  # noqa: F401 - fixtures
from tests.factories import make_datasource, make_staff, make_token
from tests.logins import console_login

pytestmark = pytest.mark.django_db
POST = "/api/v2/events/post_event"


def post(client, token, days_ago: list[float]):
    now = timezone.now()
    events = [{"type": "pv", "time_utc": (now - timedelta(days=d)).isoformat()} for d in days_ago]
    response = client.post(POST, events, content_type="application/json", headers={"X-KSense-Tok": token})
    assert response.status_code == 200, response.content


@pytest.fixture
def two_sources(client):
    web, shop = make_datasource(slug="web"), make_datasource(slug="shop")
    post(client, make_token(datasource=web).raw, [1, 5, 40, 41, 400])
    post(client, make_token(datasource=shop).raw, [1, 40, 400])
    DataSource.objects.filter(pk=web.pk).update(retention_days=30)
    web.refresh_from_db()
    return web, shop


def test_it_deletes_only_the_expired_events_of_that_datasource_in_chunks(two_sources, settings):
    web, shop = two_sources
    settings.RETENTION_CHUNK = 2
    run = events_apply_retention(datasource=web, trigger="command")
    assert run.events_deleted == 3 and run.outcome == "complete" and not run.dry_run
    assert run.chunks == 2  # 2 + 1 rows: the second, short chunk ends the sweep
    assert run.retention_days == 30 and run.datasource_slug == "web" and run.trigger == "command"
    assert abs((run.cutoff - (run.started_at - timedelta(days=30))).total_seconds()) < 1
    assert run.finished_at is not None
    assert Event.objects.filter(datasource=web).count() == 2
    assert all(e.timestamp >= run.cutoff for e in Event.objects.filter(datasource=web))
    assert Event.objects.filter(datasource=shop).count() == 3  # no retention: kept forever
    assert RetentionRun.objects.count() == 1
    # Again: nothing left to delete, recorded all the same.
    assert events_apply_retention(datasource=web).events_deleted == 0
    assert RetentionRun.objects.count() == 2


def test_a_datasource_without_retention_is_left_alone(two_sources):
    _, shop = two_sources
    assert events_apply_retention(datasource=shop) is None
    assert Event.objects.filter(datasource=shop).count() == 3
    assert RetentionRun.objects.count() == 0


def test_a_dry_run_counts_and_deletes_nothing(two_sources):
    web, _ = two_sources
    run = events_apply_retention(datasource=web, dry_run=True)
    assert (run.events_deleted, run.outcome, run.dry_run) == (3, "dry_run", True)
    assert Event.objects.filter(datasource=web).count() == 5


def test_expired_events_are_hidden_before_the_sweep_runs(two_sources):
    web, shop = two_sources
    assert Event.objects.count() == 8
    assert events_visible().filter(datasource=web).count() == 2
    assert events_visible().filter(datasource=shop).count() == 3
    assert events_filter(datasource=web).count() == 2
    assert events_filter().count() == 5


def test_the_command_sweeps_one_or_every_datasource(two_sources):
    web, shop = two_sources
    out = io.StringIO()
    call_command("apply_retention", "--datasource", "web", "--dry-run", stdout=out)
    assert "web: would delete 3 events" in out.getvalue()
    assert Event.objects.count() == 8
    out = io.StringIO()
    call_command("apply_retention", stdout=out)
    assert "web: deleted 3 events" in out.getvalue()
    assert Event.objects.count() == 5
    assert list(RetentionRun.objects.order_by("started_at").values_list("trigger", "dry_run")) == [
        ("command", True), ("command", False)]
    with pytest.raises(CommandError, match="no retention_days"):
        call_command("apply_retention", "--datasource", "shop")
    with pytest.raises(CommandError, match="No datasource"):
        call_command("apply_retention", "--datasource", "nope")


def test_the_scheduled_task_applies_retention(two_sources):
    app.loader.import_default_modules()
    result = app.tasks["events.tasks.apply_retention"].apply()
    assert result.get() == 3
    assert Event.objects.count() == 5
    assert RetentionRun.objects.get().trigger == "scheduler"


def test_retention_is_set_through_the_management_api(client, datasource):
    console_login(client, make_staff("staff", OPERATORS))
    response = client.patch("/api/manage/datasources/web/", {"retention_days": 90}, content_type="application/json")
    assert response.status_code == 200 and response.json()["retention_days"] == 90
    datasource.refresh_from_db()
    assert datasource.retention_days == 90
    assert client.patch("/api/manage/datasources/web/", {"retention_days": 0},
                        content_type="application/json").status_code == 400
    response = client.patch("/api/manage/datasources/web/", {"retention_days": None}, content_type="application/json")
    assert response.status_code == 200
    datasource.refresh_from_db()
    assert datasource.retention_days is None


def test_retention_is_set_in_the_admin_and_runs_are_listed_read_only(client, two_sources):
    web, _ = two_sources
    console_login(client, User.objects.create_superuser("admin", "admin@example.com", "s3cret-pass"))
    form = client.get(f"/admin/events/datasource/{web.pk}/change/")
    assert form.status_code == 200 and b'name="retention_days"' in form.content
    response = client.post(f"/admin/events/datasource/{web.pk}/change/", {
        "slug": "web", "name": "web", "retention_days": "7", "allowed_origins": "",
    })
    assert response.status_code == 302, response.content
    web.refresh_from_db()
    assert web.retention_days == 7
    events_apply_retention(datasource=web)
    listing = client.get("/admin/events/retentionrun/")
    assert listing.status_code == 200 and b"web" in listing.content
    run = RetentionRun.objects.get()
    assert run.events_deleted == 3  # 40, 41 and 400 days old are past 7 days; 1 and 5 are not
    assert client.get(f"/admin/events/retentionrun/{run.pk}/change/").status_code == 200
    assert client.post(f"/admin/events/retentionrun/{run.pk}/delete/").status_code == 403
    assert RetentionRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_reports_never_include_events_past_retention(client, eager_celery, tgam_user):  # noqa: F811
    datasource = make_datasource(slug="bc")
    token = make_token(datasource=datasource)
    now = datetime.now(UTC)
    events = [{"customer": "TGAM", "product": "WATCHLIST", "type": "T", "context": [f"u{d}"],
               "timestamp": int((now - timedelta(days=d)).timestamp() * 1000)} for d in (1, 2, 50, 60)]
    assert client.post("/events", json.dumps({"events": events}), content_type="application/json",
                       headers={"X-KSense-Tok": token.raw}).status_code == 200
    DataSource.objects.filter(pk=datasource.pk).update(retention_days=30)
    response = client.post("/reports", json.dumps({"filter": {"customer": "TGAM", "product": "WATCHLIST"}}),
                           content_type="application/json", headers=tgam_user)
    assert response.status_code == 200, response.content
    job = ReportJob.objects.get()
    assert job.status == "COMPLETE" and job.rows == 2
    rows = list(csv.reader(io.StringIO(local_path(key=job.file_key).read_text()), delimiter="|"))
    assert len(rows) == 3 and {row[2] for row in rows[1:]} == {"u1", "u2"}
    assert Event.objects.count() == 4  # not yet swept: hidden, not gone
