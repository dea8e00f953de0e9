import pytest

from events.models import Event

URL = "/api/v2/events/post_event"


@pytest.mark.django_db
def test_it_stores_a_batch_and_answers_ok(client, ingest_token):
    body = [
        {"event_id": "e1", "type": "pv", "time_utc": "2026-11-24T07:00:00Z", "user_id": {"email": "A@Example.com"}},
        {"type": "click"},
    ]
    response = client.post(URL, body, content_type="application/json", headers={"X-KSense-Tok": ingest_token.raw})
    assert response.status_code == 200
    assert response.json() == {"status": "OK"}
    assert response["Content-Type"] == "application/json"
    stored = list(Event.objects.order_by("sequence").values_list("type", "event_id", "sequence"))
    assert stored == [("pv", "e1", 0), ("click", None, 1)]


@pytest.mark.django_db
def test_it_rejects_a_request_without_a_token(client, datasource):
    response = client.post(URL, {"type": "pv"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["status"] == "ERROR"
    assert Event.objects.count() == 0
