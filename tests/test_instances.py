"""Several web instances (issue 17): two gunicorn instances on different ports, started the
production way, sharing PostgreSQL and Redis. Producers spread over both store exactly what was
acknowledged; what one instance does (revoke a token, purge and suppress a user, count failed
logins) holds on the other, within TOKEN_CACHE_SECONDS where a process cache is involved.
Run with -s to see the figures.
"""

import contextlib
import os
import time
import urllib.error
import urllib.request
import uuid

import orjson
import pytest

from bench.soak import live_gunicorn, soak
from events.identities import identity_digest
from events.models import Event
from eventsite.lib.access import OPERATORS
from tests.factories import make_datasource, make_staff, make_token
from tests.live import live_database_url, print_figures, stored_event_ids
from tests.services import requires_postgres, requires_redis
from tokens.services import personal_token_issue

pytestmark = [requires_postgres, requires_redis, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
SOAK_SECONDS = float(os.environ.get("EVENTSITE_INSTANCES_SOAK_SECONDS", "20"))
TOKEN_CACHE_SECONDS = 2


@contextlib.contextmanager
def two_instances(tmp_path, **env):
    """Two gunicorns (2 workers x 4 threads each) on the test database and this run's Redis."""
    env = {"TOKEN_CACHE_SECONDS": str(TOKEN_CACHE_SECONDS), "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex}", **env}
    with contextlib.ExitStack() as stack:
        ports = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            port, _process = stack.enter_context(live_gunicorn(database_url=live_database_url(),
                                                               log_dir=tmp_path / name, **env))
            ports.append(port)
        yield ports


def call(port: int, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=orjson.dumps(body) if body is not None else None, method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post_event(port: int, token: str, event: dict) -> int:
    return call(port, "POST", "/api/v2/events/post_event", event, {"X-KSense-Tok": token})[0]


def staff_headers() -> dict:
    """An Operator (revokes tokens, lists events) through a personal API token: their rights need a
    second factor, so the management API refuses their password."""
    issued = personal_token_issue(user=make_staff("ops", OPERATORS))
    return {"Authorization": f"Bearer {issued.raw}"}


def test_producers_spread_over_two_instances_store_exactly_what_was_acknowledged(transactional_db, tmp_path, capsys):
    datasource = make_datasource(slug="soak")
    token = make_token(datasource=datasource, scope="ingest")
    with two_instances(tmp_path) as ports:
        acc = soak(ports=ports, token=token.raw, seconds=SOAK_SECONDS, producers=6)
    stored = stored_event_ids(datasource)
    with capsys.disabled():
        print_figures(f"soak: {SOAK_SECONDS:.0f} s, 6 producers over 2 gunicorn instances (2 workers x 4 threads each)",
                      acc.figures(len(stored), len(set(stored))))
    access = [(tmp_path / name / "access.log").read_text().count("post_event") for name in ("a", "b")]
    assert all(access)  # both instances took producers' requests
    assert dict(acc.statuses) == {200: acc.requests}
    assert acc.connection_errors == 0
    assert len(stored) == len(set(stored))
    assert set(stored) == acc.acknowledged


def test_a_token_revoked_through_one_instance_is_refused_by_the_other(transactional_db, tmp_path):
    datasource = make_datasource(slug="web")
    token = make_token(datasource=datasource, scope="ingest")
    staff = staff_headers()
    with two_instances(tmp_path) as (a, b):
        assert post_event(b, token.raw, {"event_id": "before", "type": "pv"}) == 200  # b caches the token
        status, body = call(a, "POST", f"/api/manage/tokens/{token.token.pk}/revoke/", headers=staff)
        assert status == 200, body
        assert post_event(a, token.raw, {"event_id": "a-after", "type": "pv"}) == 401  # at once where revoked
        time.sleep(TOKEN_CACHE_SECONDS + 0.5)  # b's cached lookup has expired by now
        assert post_event(b, token.raw, {"event_id": "b-after", "type": "pv"}) == 401
    assert stored_event_ids(datasource) == ["before"]


def test_a_purge_and_a_suppression_made_through_one_instance_hold_on_the_other(transactional_db, tmp_path):
    datasource = make_datasource(slug="web")
    ingest = make_token(datasource=datasource, scope="ingest")
    purge = make_token(datasource=datasource, scope="purge")
    staff = staff_headers()
    with two_instances(tmp_path) as (a, b):
        for n, user in enumerate(["ann", "ann", "bob"]):
            event = {"event_id": f"e{n}", "type": "pv", "user_id": {"internal_id": user}}
            assert post_event(b, ingest.raw, event) == 200
        status, _ = call(a, "POST", "/api/v2/insights/purge_user?ds=web&user_id=ann&user_id_type=internal_id"
                                    "&suppress=1", headers={"X-KSense-Tok": purge.raw})
        assert status == 200
        status, body = call(b, "GET", "/api/manage/events/", headers=staff)  # the other instance's view
        assert status == 200
        assert [event["event_id"] for event in orjson.loads(body)["results"]] == ["e2"]
        time.sleep(TOKEN_CACHE_SECONDS + 0.5)  # b's cached datasource learns of the suppression
        assert post_event(b, ingest.raw, {"event_id": "e3", "type": "pv", "user_id": {"internal_id": "ann"}}) == 200
        assert post_event(b, ingest.raw, {"event_id": "e4", "type": "pv", "user_id": {"internal_id": "bob"}}) == 200
    assert sorted(stored_event_ids(datasource)) == ["e2", "e4"]  # ann's later event was dropped by b
    digest = identity_digest("internal_id", "ann", where="test")
    assert not Event.objects.filter(user_internal_id=digest).exists()


def test_failed_authentication_limits_are_shared_by_the_instances(transactional_db, tmp_path):
    datasource = make_datasource(slug="limited")
    token = make_token(datasource=datasource, scope="ingest")
    with two_instances(tmp_path, AUTH_FAILURE_LIMIT="6") as (a, b):
        if time.time() % 60 > 45:
            time.sleep(61 - time.time() % 60)  # all in one one-minute window of the limiter
        failures = [post_event(port, f"wrong-{i}", {"type": "pv"}) for i, port in enumerate([a, b] * 3)]
        refused = [post_event(port, f"wrong-{i}", {"type": "pv"}) for i, port in enumerate([a, b])]
        # A credential that verifies is never refused by the limiter (issue 11), on either instance.
        right = [post_event(port, token.raw, {"event_id": f"right-{port}", "type": "pv"}) for port in (a, b)]
    assert failures == [401] * 6  # three on each instance
    assert refused == [429, 429]  # the seventh and eighth, whichever instance gets them
    assert right == [200, 200]
    assert sorted(stored_event_ids(datasource)) == sorted([f"right-{a}", f"right-{b}"])
