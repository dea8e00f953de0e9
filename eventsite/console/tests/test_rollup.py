"""The event rollup: counts follow what the API stored, once, however often the task runs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event
from eventsite.console.models import EventHour, EventMinute, RollupState
from eventsite.console.overview import overview_figures
from eventsite.console.rollup import ROLLUP_SETTLE_SECONDS, events_rollup
from eventsite.console.tests.conftest import post_events
from tests.factories import make_datasource, make_token

pytestmark = pytest.mark.django_db


def figures_of(slug, now):
    return next(f for f in overview_figures(now=now).datasources if f.datasource.slug == slug)


def test_it_counts_posted_events_in_the_tail_at_once_and_settles_them_once(client, ingest_token):
    post_events(client, ingest_token.raw, 3)
    now = timezone.now()

    first = events_rollup(now=now)
    assert (first.settled_events, first.tail_events) == (0, 3)
    assert EventHour.objects.count() == 0  # nothing settled yet: the figures come from the tail
    assert (figures_of("web", now).last_hour, figures_of("web", now).today, figures_of("web", now).seven_days) == (
        3, 3, 3)

    later = now + timedelta(seconds=ROLLUP_SETTLE_SECONDS + 1)
    second = events_rollup(now=later)
    assert (second.settled_events, second.tail_events) == (3, 0)
    assert sum(EventHour.objects.values_list("events", flat=True)) == 3
    assert sum(EventMinute.objects.values_list("events", flat=True)) == 3
    assert RollupState.objects.get().settled_id == Event.objects.latest("pk").pk

    third = events_rollup(now=later + timedelta(seconds=30))
    assert (third.settled_events, third.tail_events) == (0, 0)
    figures = figures_of("web", later + timedelta(seconds=30))
    assert (figures.last_hour, figures.today, figures.seven_days) == (3, 3, 3)
    assert figures.last_event_at == Event.objects.latest("pk").received_at


def test_it_keeps_datasources_apart_and_adds_new_arrivals(client, ingest_token):
    other = make_token(datasource=make_datasource(slug="app"), scope="ingest")
    post_events(client, ingest_token.raw, 2)
    post_events(client, other.raw, 5)
    now = timezone.now()
    events_rollup(now=now)
    events_rollup(now=now + timedelta(seconds=30))
    post_events(client, ingest_token.raw, 4)
    events_rollup(now=now + timedelta(seconds=60))

    at = now + timedelta(seconds=60)
    assert figures_of("web", at).today == 6
    assert figures_of("app", at).today == 5
    overview = overview_figures(now=at)
    assert sum(overview.hourly_total) == 11
    assert overview.figures_at == at


def test_the_first_run_counts_what_was_already_stored(client, ingest_token):
    post_events(client, ingest_token.raw, 7)
    now = timezone.now()
    events_rollup(now=now)
    events_rollup(now=now + timedelta(seconds=ROLLUP_SETTLE_SECONDS + 1))
    assert EventHour.objects.get().events == 7


def test_old_minutes_and_hours_age_out(client, ingest_token):
    post_events(client, ingest_token.raw, 1)
    now = timezone.now()
    events_rollup(now=now)
    events_rollup(now=now + timedelta(seconds=ROLLUP_SETTLE_SECONDS + 1))
    assert EventMinute.objects.count() == 1
    events_rollup(now=now + timedelta(hours=3))
    assert EventMinute.objects.count() == 0
    assert EventHour.objects.count() == 1
    events_rollup(now=now + timedelta(days=9))
    assert EventHour.objects.count() == 0


def test_the_command_counts_new_events_at_once(client, ingest_token):
    from io import StringIO

    from django.core.management import call_command

    post_events(client, ingest_token.raw, 2)
    out = StringIO()
    call_command("rollup_events", stdout=out)
    assert "2 newer ones counted provisionally" in out.getvalue()
    assert figures_of("web", timezone.now()).last_hour == 2


def test_an_id_that_commits_late_within_the_settle_time_is_still_counted(client, ingest_token):
    post_events(client, ingest_token.raw, 3)
    first = Event.objects.order_by("pk").first()
    Event.objects.filter(pk=first.pk).delete()  # as if its transaction had not committed yet
    now = timezone.now()
    assert events_rollup(now=now).tail_events == 2

    first.save(force_insert=True)  # it commits now, under the id it was given before the run
    events_rollup(now=now + timedelta(seconds=ROLLUP_SETTLE_SECONDS + 1))

    assert sum(EventHour.objects.values_list("events", flat=True)) == 3
    assert figures_of("web", now + timedelta(seconds=ROLLUP_SETTLE_SECONDS + 1)).today == 3
