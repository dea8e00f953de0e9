"""Ingest requests skip the browser middleware (sessions, CSRF, auth, messages, axes); every other
path still runs the whole stack."""

import pytest

from events.models import Event

pytestmark = pytest.mark.django_db


def test_it_serves_ingest_without_the_browser_middleware(client, ingest_token):
    response = client.post("/api/v2/events/post_event", [{"type": "pv"}], content_type="application/json",
                           headers={"X-KSense-Tok": ingest_token.raw})
    assert response.status_code == 200
    assert Event.objects.get().type == "pv"
    assert "X-Frame-Options" not in response  # set by the clickjacking middleware, which ingest skips
    assert response.wsgi_request.resolver_match.url_name == "ksense-post-event"
    assert not hasattr(response.wsgi_request, "session")


def test_every_other_path_keeps_the_whole_stack(client):
    response = client.get("/service/version")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert hasattr(response.wsgi_request, "session")


def test_ingest_errors_keep_their_family_format_on_the_fast_path(client, datasource):
    response = client.post("/api/v1/event?token=nope", "{}", content_type="application/json")
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert Event.objects.count() == 0
