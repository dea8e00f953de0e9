"""A real PostgreSQL outage: without the spool (SPOOL_ENABLED=false; with it, see test_spool_drain)
the ingest endpoint answers 503 JSON with Retry-After, stores nothing, and heals by itself when the
database is back. No part of our code is mocked: the
connection really fails."""

import socket

import psycopg2
import pytest
from django.db import connection

from events.models import Event
from events.services import events_spool_drain
from tests.services import requires_postgres

URL = "/api/v2/events/post_event"
pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def post(client, token):
    return client.post(URL, [{"type": "pv"}] * 3, content_type="application/json", headers={"X-KSense-Tok": token})


def test_without_the_spool_it_answers_503_with_retry_after_when_the_database_is_unreachable(
    client, ingest_token, settings
):
    settings.SPOOL_ENABLED = False
    assert post(client, ingest_token.raw).status_code == 200  # warms the token cache, too
    original_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    try:
        response = post(client, ingest_token.raw)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original_port
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/json"
    assert response.json()["status"] == "ERROR"
    assert Event.objects.count() == 3  # only the first request's events


def test_it_recovers_by_itself_after_its_connection_is_killed(client, ingest_token):
    assert post(client, ingest_token.raw).status_code == 200
    backend_pid = connection.connection.info.backend_pid
    killer = psycopg2.connect(host=connection.settings_dict["HOST"], port=connection.settings_dict["PORT"] or 5432,
                              user=connection.settings_dict["USER"], dbname=connection.settings_dict["NAME"])
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
    killer.close()
    statuses = [post(client, ingest_token.raw).status_code for _ in range(2)]
    # Django's connection health check finds the dead connection at the start of the
    # request and reconnects; at worst the first request goes to the spool (200), nothing is lost.
    assert statuses == [200, 200]
    events_spool_drain()
    assert Event.objects.count() == 3 * (1 + statuses.count(200))
