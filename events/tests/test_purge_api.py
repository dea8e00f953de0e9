"""kSense purge API: purge_user and purge_dataset erase for real, and only what they should."""

import hashlib
import json

import pytest
from django.db import connection

from events.models import EpochReclaim, Event, PurgeAudit, Suppression
from events.selectors import events_visible
from reports.purges import purge_dataset_reclaim
from tests.factories import make_datasource, make_token
from tests.logins import console_login
from tests.services import requires_postgres
from tokens.tests.test_authentication import assert_not_in_database

pytestmark = pytest.mark.django_db
INGEST = "/api/v2/events/post_event"
PURGE_USER = "/api/v2/insights/purge_user"
PURGE_DATASET = "/api/v2/insights/purge_dataset"


def ingest(client, token, events):
    response = client.post(INGEST, events, content_type="application/json", headers={"X-KSense-Tok": token})
    assert response.status_code == 200, response.content
    return response


def seed(client, ingest_token):
    digest = hashlib.sha256(b"ann@example.com").hexdigest()
    ingest(client, ingest_token.raw, [
        {"type": "a", "user_id": {"email": "Ann@Example.com"}},
        {"type": "b", "user_id": {"email": f"hash1:{digest}"}},
        {"type": "c", "user_id": {"email": "ann@example.com", "phone": "+1 555 000"}},
        {"type": "d", "user_id": {"email": "bob@example.com"}},
        {"type": "e", "user_id": {"phone": "+1 (555) 000"}},
        {"type": "f", "user": {"anonymous_id": "anon-7"}},
    ])


def test_purge_user_erases_every_form_of_the_id_and_nothing_else(client, ingest_token, purge_token):
    seed(client, ingest_token)
    response = client.get(PURGE_USER, {"ds": "web", "user_id": "ANN@example.com", "user_id_type": "email",
                                       "token": purge_token.raw})
    assert response.status_code == 200
    assert response.json() == {"status": "OK"}
    assert sorted(Event.objects.values_list("type", flat=True)) == ["d", "e", "f"]
    audit = PurgeAudit.objects.get()
    assert (audit.kind, audit.user_id_type, audit.events_deleted) == ("user", "email", 3)
    assert audit.actor_token_id == purge_token.token.pk
    assert len(audit.user_id_hmac) == 64


def test_purge_user_by_phone_matches_the_normalised_form(client, ingest_token, purge_token):
    seed(client, ingest_token)
    response = client.post(PURGE_USER, {"ds": "web", "user_id": "+1-555-000", "user_id_type": "phone"},
                           headers={"X-KSense-Tok": purge_token.raw})
    assert response.status_code == 200
    assert sorted(Event.objects.values_list("type", flat=True)) == ["a", "b", "d", "f"]


def test_purge_user_accepts_delete_and_a_hash1_id(client, ingest_token, purge_token):
    seed(client, ingest_token)
    digest = hashlib.sha256(b"anon-7").hexdigest()
    response = client.delete(f"{PURGE_USER}?ds=web&user_id=hash1:{digest}&user_id_type=anonymous_id",
                             headers={"X-KSense-Tok": purge_token.raw})
    assert response.status_code == 200
    assert not Event.objects.filter(type="f").exists()
    assert Event.objects.count() == 5


def test_purging_the_same_user_twice_is_a_harmless_no_op(client, ingest_token, purge_token):
    seed(client, ingest_token)
    params = {"ds": "web", "user_id": "bob@example.com", "user_id_type": "email", "token": purge_token.raw}
    assert client.get(PURGE_USER, params).status_code == 200
    assert client.get(PURGE_USER, params).status_code == 200
    assert list(PurgeAudit.objects.order_by("created_at").values_list("events_deleted", flat=True)) == [1, 0]


def test_the_audit_never_holds_the_raw_id(client, ingest_token, purge_token):
    seed(client, ingest_token)
    client.get(PURGE_USER, {"ds": "web", "user_id": "anon-7", "user_id_type": "anonymous_id",
                            "token": purge_token.raw})
    assert PurgeAudit.objects.count() == 1
    assert_not_in_database(["anon-7", purge_token.raw])


@pytest.mark.parametrize(
    "params, status, fragment",
    [
        ({"user_id": "x", "user_id_type": "email"}, 400, "'ds'"),
        ({"ds": "web", "user_id_type": "email"}, 400, "'user_id'"),
        ({"ds": "web", "user_id": "x"}, 400, "'user_id_type'"),
        ({"ds": "web", "user_id": "x", "user_id_type": "nickname"}, 400, "user_id_type must be one of"),
        ({"ds": "mobile", "user_id": "x", "user_id_type": "email"}, 403, "may not purge"),
    ],
)
def test_purge_user_rejects_bad_requests_and_deletes_nothing(client, ingest_token, purge_token, params, status,
                                                             fragment):
    seed(client, ingest_token)
    make_datasource(slug="mobile")
    response = client.get(PURGE_USER, {**params, "token": purge_token.raw})
    assert response.status_code == status
    body = response.json()
    assert body["status"] == "ERROR" and fragment in body["message"]
    assert Event.objects.count() == 6
    assert PurgeAudit.objects.count() == 0


def test_an_ingest_token_may_not_purge(client, ingest_token):
    seed(client, ingest_token)
    response = client.get(PURGE_USER, {"ds": "web", "user_id": "bob@example.com", "user_id_type": "email",
                                       "token": ingest_token.raw})
    assert response.status_code == 403
    # The scope by its value, not the enum's name (it said "Scope.PURGE").
    assert response.json()["message"] == "This token has the 'ingest' scope; this call needs 'purge'"
    response = client.get(PURGE_DATASET, {"ds": "web", "token": ingest_token.raw})
    assert response.status_code == 403
    assert Event.objects.count() == 6


def test_a_purge_without_a_token_is_401(client, ingest_token):
    seed(client, ingest_token)
    assert client.get(PURGE_DATASET, {"ds": "web"}).status_code == 401
    assert Event.objects.count() == 6


def test_a_purge_token_of_another_datasource_is_refused(client, ingest_token):
    seed(client, ingest_token)
    other = make_token(datasource=make_datasource(slug="mobile"), scope="purge")
    assert client.get(PURGE_DATASET, {"ds": "web", "token": other.raw}).status_code == 403
    assert Event.objects.count() == 6


def test_suppression_drops_and_counts_later_events_until_lifted(client, ingest_token, purge_token):
    from events.services import suppression_lift

    seed(client, ingest_token)
    response = client.post(PURGE_USER, {"ds": "web", "user_id": "bob@example.com", "user_id_type": "email",
                                        "suppress": "1"}, headers={"X-KSense-Tok": purge_token.raw})
    assert response.status_code == 200
    from tokens.cache import token_cache

    token_cache.clear()  # the flag travels with the cached datasource (see README)
    ingest(client, ingest_token.raw, [{"type": "again", "user_id": {"email": "BOB@example.com"}},
                                      {"type": "kept", "user_id": {"email": "carl@example.com"}}])
    assert not Event.objects.filter(type="again").exists()
    assert Event.objects.filter(type="kept").exists()
    suppression = Suppression.objects.get()
    assert suppression.events_dropped == 1
    suppression_lift(suppression=suppression)
    token_cache.clear()
    ingest(client, ingest_token.raw, [{"type": "again", "user_id": {"email": "bob@example.com"}}])
    assert Event.objects.filter(type="again").count() == 1


def test_purge_dataset_hides_everything_at_once_then_reclaims(client, ingest_token, purge_token, admin_user):
    seed(client, ingest_token)
    other = make_token(datasource=make_datasource(slug="mobile"), scope="ingest")
    ingest(client, other.raw, [{"type": "other"}])
    response = client.get(PURGE_DATASET, {"ds": "web", "token": purge_token.raw})
    assert response.status_code == 200 and response.json() == {"status": "OK"}
    # Unreadable at once: selectors, management API, admin.
    assert list(events_visible().values_list("type", flat=True)) == ["other"]
    console_login(client, admin_user)
    listed = client.get("/api/manage/events/?datasource=web").json()["results"]
    assert listed == []
    assert "other" in client.get("/admin/events/event/").content.decode()
    # New events land in the new epoch and stay visible.
    ingest(client, ingest_token.raw, [{"type": "fresh"}])
    assert sorted(events_visible().values_list("type", flat=True)) == ["fresh", "other"]
    # The space is reclaimed in the background.
    assert Event.objects.count() == 8
    reclaim = EpochReclaim.objects.get()
    assert purge_dataset_reclaim(reclaim_id=reclaim.pk) == 6
    assert sorted(Event.objects.values_list("type", flat=True)) == ["fresh", "other"]
    audit = PurgeAudit.objects.get()
    assert (audit.kind, audit.events_deleted) == ("dataset", 6)
    assert audit.completed_at is not None
    assert purge_dataset_reclaim(reclaim_id=reclaim.pk) == 0  # a redelivered task is a no-op


def test_purge_dataset_enqueues_the_reclaim_after_commit(client, ingest_token, purge_token,
                                                         django_capture_on_commit_callbacks):
    from eventsite.celery import app

    seed(client, ingest_token)
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert client.get(PURGE_DATASET, {"ds": "web", "token": purge_token.raw}).status_code == 200
    finally:
        app.conf.task_always_eager = False
    assert Event.objects.count() == 0
    assert EpochReclaim.objects.get().finished_at is not None


def test_a_broker_outage_neither_fails_nor_stalls_purge_dataset(client, ingest_token, purge_token, monkeypatch):
    import socket
    import time

    from celery import Celery

    from reports import purges

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = Celery("dead", broker=f"redis://127.0.0.1:{port}/0", set_as_current=False)
    dead.conf.broker_connection_timeout = 1
    dead.conf.broker_transport_options = {"socket_connect_timeout": 1, "max_retries": 0}

    @dead.task(name="reports.tasks.reclaim_purged_epoch")
    def reclaim_stub(reclaim_id):  # never runs: the broker is unreachable
        raise AssertionError

    monkeypatch.setattr(purges, "reclaim_purged_epoch", reclaim_stub)
    began = time.monotonic()
    assert purges._enqueue_reclaim(1) is False
    assert time.monotonic() - began < 8


@requires_postgres
def test_purge_user_goes_through_the_identity_index(ingest_token):
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # on a tiny table the planner would scan anyway
        cursor.execute("EXPLAIN DELETE FROM events_event WHERE datasource_id = %s AND user_email = %s",
                       [ingest_token.token.datasource_id, "0" * 64])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "event_ds_user_email" in plan, plan


def test_json_errors_for_wrong_methods(client, purge_token):
    response = client.put(PURGE_USER, json.dumps({}), headers={"X-KSense-Tok": purge_token.raw})
    assert response.status_code == 405
    assert response.json()["status"] == "ERROR"


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_reclaims_leave_no_row_behind(client, ingest_token, purge_token):
    import threading

    from events.services import events_reclaim_epoch

    ingest(client, ingest_token.raw, [{"type": "x", "event_data": {"n": n}} for n in range(250)])
    assert client.get(PURGE_DATASET, {"ds": "web", "token": purge_token.raw}).status_code == 200
    reclaim = EpochReclaim.objects.get()
    errors = []

    def run():
        try:
            events_reclaim_epoch(reclaim=reclaim, chunk=7)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Event.objects.count() == 0


def test_the_access_log_scrubs_purge_user_ids():
    from eventsite.gunicorn_conf import scrub_query

    assert scrub_query("ds=web&user_id=ann%40example.com&user_id_type=email&token=evs_x") == (
        "ds=web&user_id=[redacted]&user_id_type=email&token=[redacted]")
