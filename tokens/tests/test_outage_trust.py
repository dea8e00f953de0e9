"""Authentication while the database is unreachable (issue 13): a token is accepted only if this
process verified it active within TOKEN_OUTAGE_TRUST_SECONDS; anything else gets 401 or 503, never
200. Real PostgreSQL, really unreachable (tests/outage.py)."""

import pytest

from events import selectors, spool
from events.models import DataSource, Event
from events.services import events_spool_drain
from tests.factories import make_token
from tests.outage import database_unreachable
from tests.services import requires_postgres
from tokens.models import Token
from tokens.services import token_revoke

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
KSENSE = "/api/v2/events/post_event"


@pytest.fixture(autouse=True)
def _every_lookup_reaches_the_database(settings):
    settings.TOKEN_CACHE_SECONDS = 0  # as if the short token cache had expired during the outage


def post(client, token, event_id="e"):
    return client.post(KSENSE, [{"event_id": event_id, "type": "pv"}], content_type="application/json",
                       headers={"X-KSense-Tok": token})


def test_a_token_verified_before_the_outage_is_accepted_and_its_events_spooled(client, ingest_token):
    assert post(client, ingest_token.raw, "before").status_code == 200
    with database_unreachable():
        response = post(client, ingest_token.raw, "during")
    assert response.status_code == 200
    assert spool.spool_status()["records"] == 1
    events_spool_drain()
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["before", "during"]


def test_a_token_this_process_never_verified_gets_503_not_200(client, ingest_token):
    with database_unreachable():
        unknown = post(client, "evs_never-seen-anywhere")
        unverified = post(client, ingest_token.raw)  # valid, but not verified by this process
    assert unknown.status_code == unverified.status_code == 503
    assert spool.spool_status()["records"] == 0


def test_trust_ends_after_token_outage_trust_seconds(client, ingest_token, settings):
    assert post(client, ingest_token.raw).status_code == 200
    settings.TOKEN_OUTAGE_TRUST_SECONDS = 0
    with database_unreachable():
        assert post(client, ingest_token.raw).status_code == 503
    assert spool.spool_status()["records"] == 0


def test_a_token_seen_revoked_is_refused_during_the_outage(client, ingest_token):
    assert post(client, ingest_token.raw).status_code == 200
    Token.objects.filter(pk=ingest_token.token.pk).update(revoked_at="2026-01-01T00:00:00Z")  # another process
    assert post(client, ingest_token.raw).status_code == 401  # this process reads the revocation
    with database_unreachable():
        assert post(client, ingest_token.raw).status_code == 401
    assert spool.spool_status()["records"] == 0


def test_a_token_revoked_in_this_process_is_not_trusted(client, ingest_token):
    assert post(client, ingest_token.raw).status_code == 200
    token_revoke(token=ingest_token.token)
    with database_unreachable():
        assert post(client, ingest_token.raw).status_code == 503
    assert spool.spool_status()["records"] == 0


def test_a_purge_with_a_trusted_token_answers_503_while_the_database_is_away(client, ingest_token, purge_token):
    url = "/api/v2/insights/purge_user?ds=web&user_id=a@b.io&user_id_type=email"
    assert client.post(url, headers={"X-KSense-Tok": purge_token.raw}).status_code == 200
    with database_unreachable():
        response = client.post(url, headers={"X-KSense-Tok": purge_token.raw})
    assert response.status_code == 503 and response["Retry-After"]


def test_the_open_barchart_datasource_is_trusted_only_if_known_before(client, datasource):
    DataSource.objects.filter(pk=datasource.pk).update(accepts_unauthenticated_events=True)
    body = '{"events": [{"customer": "C", "product": "P", "type": "T", "timestamp": 1795503600000, "context": []}]}'
    selectors._open_datasource = None  # a fresh process
    with database_unreachable():
        unknown = client.post("/events", body, content_type="application/json")
    assert client.post("/events", body, content_type="application/json").status_code == 200
    with database_unreachable():
        known = client.post("/events", body, content_type="application/json")
    assert unknown.status_code == 503
    assert known.status_code == 200 and known.json()[0]["sequence"] == 0
    assert events_spool_drain().events_stored == 1
    assert Event.objects.filter(datasource=datasource).count() == 2


def test_another_token_of_the_same_datasource_is_not_trusted_by_association(client, ingest_token):
    other = make_token(datasource=ingest_token.token.datasource, scope="ingest")
    assert post(client, ingest_token.raw).status_code == 200
    with database_unreachable():
        assert post(client, other.raw).status_code == 503


def test_a_token_verified_by_another_web_process_of_the_host_is_accepted(client, ingest_token, settings):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.live import live_database_url

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": live_database_url(), "VERIFIED_DIR": str(settings.VERIFIED_DIR),
           "EVENTSITE_TESTING": "1", "PYTHONPATH": str(root)}
    code = ("from tokens.authentication import token_authenticate; "
            f"token_authenticate(raw={ingest_token.raw!r}, scope='ingest')")
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=root, env=env, check=True, timeout=120)
    with database_unreachable():  # this process never saw the token; its sibling did
        response = post(client, ingest_token.raw, "during")
    assert response.status_code == 200
    events_spool_drain()
    assert list(Event.objects.values_list("event_id", flat=True)) == ["during"]
