"""/metrics: the exposition parses with prometheus_client's own parser, and each counter moves by
exactly what the test did. (A real Prometheus scraping a live gunicorn: tests/test_prometheus.py.)"""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from events.models import Event
from tokens.cache import token_cache

TOKEN = "metrics-token-for-the-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_it_is_off_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers=AUTH).status_code == 404


def test_it_wants_the_bearer_token(client, metrics_on):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers=AUTH).status_code == 200


@pytest.mark.django_db
def test_ingest_counters_move_by_exactly_what_was_posted(client, metrics_on, ingest_token):
    before = scrape(client)
    post = "/api/v2/events/post_event"
    events = [{"type": "pv", "event_id": f"e-{n}"} for n in range(3)]
    assert client.post(post, events, content_type="application/json",
                       headers={"X-KSense-Tok": ingest_token.raw}).status_code == 200
    assert client.post(post, events[:1], content_type="application/json",
                       headers={"X-KSense-Tok": "evs_not-a-token"}).status_code == 401
    assert client.post(post, [{"type": "pv", "time_utc": "yesterday"}], content_type="application/json",
                       headers={"X-KSense-Tok": ingest_token.raw}).status_code == 400
    barchart = {"events": [{"customer": "C", "product": "P", "type": "T", "timestamp": 1795503600000,
                            "context": ["a"]} for _ in range(2)]}
    assert client.post("/events", json.dumps(barchart), content_type="application/json",
                       headers={"X-KSense-Tok": ingest_token.raw}).status_code == 200
    assert client.post(f"/api/v1/s2s/event?token={ingest_token.raw}", {"event_type": "x"},
                       content_type="application/json").status_code == 200
    after = scrape(client)

    assert Event.objects.count() == 6
    assert moved(before, after, "eventsite_ingest_requests_total", family="ksense", code="200") == 1
    assert moved(before, after, "eventsite_ingest_requests_total", family="ksense", code="401") == 1
    assert moved(before, after, "eventsite_ingest_requests_total", family="ksense", code="400") == 1
    assert moved(before, after, "eventsite_ingest_requests_total", family="barchart", code="200") == 1
    assert moved(before, after, "eventsite_ingest_requests_total", family="jitsu", code="200") == 1
    assert moved(before, after, "eventsite_ingest_events_accepted_total", family="ksense") == 3
    assert moved(before, after, "eventsite_ingest_events_accepted_total", family="barchart") == 2
    assert moved(before, after, "eventsite_ingest_events_accepted_total", family="jitsu") == 1
    assert moved(before, after, "eventsite_ingest_rejected_requests_total", family="ksense",
                 reason="unauthenticated") == 1
    assert moved(before, after, "eventsite_ingest_rejected_requests_total", family="ksense", reason="invalid") == 1
    assert moved(before, after, "eventsite_auth_failures_total", family="ksense") == 1
    assert moved(before, after, "eventsite_ingest_request_duration_seconds_count", family="ksense") == 3
    assert moved(before, after, "eventsite_ingest_batch_events_count", family="ksense") == 1
    assert moved(before, after, "eventsite_ingest_batch_events_sum", family="ksense") == 3
    assert moved(before, after, "eventsite_ingest_batch_events_bucket", family="ksense", le="2.0") == 0
    assert moved(before, after, "eventsite_ingest_batch_events_bucket", family="ksense", le="5.0") == 1


@pytest.mark.django_db
def test_suppressed_events_are_counted_as_dropped(client, metrics_on, ingest_token, purge_token):
    post = "/api/v2/events/post_event"
    ann = {"type": "pv", "user_id": {"email": "ann@example.com"}}
    assert client.post(post, [ann, ann], content_type="application/json",
                       headers={"X-KSense-Tok": ingest_token.raw}).status_code == 200
    before = scrape(client)
    purged = client.post("/api/v2/insights/purge_user?ds=web&user_id=ann@example.com&user_id_type=email&suppress=1",
                         headers={"X-KSense-Tok": purge_token.raw})
    assert purged.status_code == 200
    token_cache.clear()  # a web process sees a new suppression within TOKEN_CACHE_SECONDS
    assert client.post(post, [ann, {"type": "pv"}], content_type="application/json",
                       headers={"X-KSense-Tok": ingest_token.raw}).status_code == 200
    after = scrape(client)
    assert Event.objects.count() == 1
    assert moved(before, after, "eventsite_purges_total", kind="user") == 1
    assert moved(before, after, "eventsite_purge_events_deleted_total", kind="user") == 2
    assert moved(before, after, "eventsite_ingest_events_suppressed_total", family="ksense") == 1
    assert moved(before, after, "eventsite_ingest_events_accepted_total", family="ksense") == 1


@pytest.mark.django_db
def test_labels_never_carry_a_token_a_user_or_a_path(client, metrics_on, ingest_token):
    client.post(f"/api/v2/events/post_event?token={ingest_token.raw}", [{"type": "pv"}],
                content_type="application/json")
    client.post("/api/v2/events/post_event", [{"type": "pv"}], content_type="application/json",
                headers={"X-KSense-Tok": "evs_unknown-token-value"})
    text = client.get("/metrics", headers=AUTH).content.decode()
    assert ingest_token.raw not in text and "unknown-token-value" not in text
    assert "/api/" not in text and TOKEN not in text
    for family in text_string_to_metric_families(text):
        if family.name.startswith("eventsite_"):
            for sample in family.samples:
                assert set(sample.labels) <= {"family", "code", "reason", "status", "kind", "task", "outcome", "le"}


def test_the_metric_names_follow_prometheus_conventions(client, metrics_on):
    text = client.get("/metrics", headers=AUTH).content.decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    ours = {name: family for name, family in families.items() if name.startswith("eventsite_")}
    assert {"eventsite_ingest_requests", "eventsite_ingest_events_accepted", "eventsite_ingest_events_suppressed",
            "eventsite_ingest_rejected_requests", "eventsite_ingest_request_duration_seconds",
            "eventsite_ingest_batch_events", "eventsite_auth_failures", "eventsite_report_jobs",
            "eventsite_report_job_duration_seconds", "eventsite_report_job_rows", "eventsite_purges",
            "eventsite_purge_events_deleted", "eventsite_retention_events_deleted", "eventsite_celery_tasks",
            } <= set(ours)
    for family in ours.values():
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)


@pytest.mark.django_db(transaction=True)
def test_report_jobs_and_celery_tasks_are_counted(client, metrics_on, ingest_token, tgam_user, eager_celery):
    events = {"events": [{"customer": "TGAM", "product": "WATCHLIST", "type": "T", "timestamp": 1795503600000 + n,
                          "context": ["a"]} for n in range(4)]}
    assert client.post("/events", json.dumps(events), content_type="application/json",
                       headers={"X-KSense-Tok": ingest_token.raw}).status_code == 200
    before = scrape(client)
    response = client.post("/reports", json.dumps({"filter": {"customer": "TGAM", "product": "WATCHLIST"}}),
                           content_type="application/json", headers=tgam_user)
    assert response.status_code == 200
    after = scrape(client)
    assert moved(before, after, "eventsite_report_jobs_total", status="COMPLETE") == 1
    assert moved(before, after, "eventsite_report_job_rows_count") == 1
    assert moved(before, after, "eventsite_report_job_rows_sum") == 4
    assert moved(before, after, "eventsite_report_job_duration_seconds_count", status="COMPLETE") == 1
    assert moved(before, after, "eventsite_celery_tasks_total", task="reports.tasks.export_report",
                 outcome="success") == 1


@pytest.mark.django_db
def test_a_failed_admin_login_is_a_failed_authentication(client, metrics_on):
    before = scrape(client)
    client.post("/admin/login/", {"username": "nobody", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    after = scrape(client)
    assert moved(before, after, "eventsite_auth_failures_total", family="admin") == 1


def test_the_spool_is_exposed_when_this_build_has_one(client, metrics_on):
    from eventsite.ops.health import spool_status

    text = client.get("/metrics", headers=AUTH).content.decode()
    if spool_status() is None:
        assert "eventsite_spool_records" not in text
    else:
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {"eventsite_spool_records", "eventsite_spool_bytes", "eventsite_spool_oldest_age_seconds"} <= names


