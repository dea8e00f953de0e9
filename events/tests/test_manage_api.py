"""The staff-only management API: datasources, tokens, events."""

import base64

import pytest
from django.contrib.auth.models import User

from events.models import DataSource, Event
from eventsite.lib.access import OPERATORS, PRIVACY_OFFICERS, VIEWERS
from tests.factories import make_datasource, make_staff, make_token
from tests.logins import console_login
from tokens.models import Token
from tokens.tests.test_authentication import assert_not_in_database

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    # Datasources and tokens (Operators), events with their payloads (Privacy officers).
    user = make_staff("staff", OPERATORS, PRIVACY_OFFICERS, password="s3cret-pass")
    console_login(client, user)
    return client


def post_events(client, token, events):
    response = client.post("/api/v2/events/post_event", events, content_type="application/json",
                           headers={"X-KSense-Tok": token})
    assert response.status_code == 200


def test_anonymous_callers_are_refused(client, datasource):
    assert client.get("/api/manage/datasources/").status_code in (401, 403)
    assert client.post("/api/manage/datasources/", {"slug": "x"}, content_type="application/json").status_code in (
        401, 403)
    assert DataSource.objects.count() == 1


def test_non_staff_users_are_refused(client, datasource):
    User.objects.create_user("plain", password="s3cret-pass")
    credentials = base64.b64encode(b"plain:s3cret-pass").decode()
    response = client.get("/api/manage/tokens/", headers={"Authorization": f"Basic {credentials}"})
    assert response.status_code == 403


def test_staff_can_use_basic_auth(client, datasource):
    make_staff("ops", VIEWERS, password="s3cret-pass")
    credentials = base64.b64encode(b"ops:s3cret-pass").decode()
    response = client.get("/api/manage/datasources/", headers={"Authorization": f"Basic {credentials}"})
    assert response.status_code == 200
    assert [item["slug"] for item in response.json()["results"]] == ["web"]


def test_datasources_crud(staff_client):
    created = staff_client.post("/api/manage/datasources/", {"slug": "shop", "name": "Shop"},
                                content_type="application/json")
    assert created.status_code == 201
    assert staff_client.patch("/api/manage/datasources/shop/", {"name": "The shop"},
                              content_type="application/json").status_code == 200
    assert DataSource.objects.get(slug="shop").name == "The shop"
    duplicate = staff_client.post("/api/manage/datasources/", {"slug": "shop"}, content_type="application/json")
    assert duplicate.status_code == 400
    bad = staff_client.post("/api/manage/datasources/", {"slug": "not a slug"}, content_type="application/json")
    assert bad.status_code == 400
    assert DataSource.objects.count() == 1


def test_issuing_a_token_returns_the_raw_value_once(staff_client, datasource):
    response = staff_client.post("/api/manage/tokens/", {"datasource": "web", "scope": "ingest", "label": "site"},
                                 content_type="application/json")
    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("evs_")
    listed = staff_client.get("/api/manage/tokens/").json()["results"]
    assert len(listed) == 1 and "token" not in listed[0] and "secret_hash" not in listed[0]
    detail = staff_client.get(f"/api/manage/tokens/{listed[0]['id']}/").json()
    assert raw not in str(detail)
    assert_not_in_database([raw])


def test_issuing_a_token_with_bad_input_is_refused(staff_client, datasource):
    for body in ({"datasource": "nope", "scope": "ingest"}, {"datasource": "web", "scope": "root"}, {}):
        response = staff_client.post("/api/manage/tokens/", body, content_type="application/json")
        assert response.status_code == 400
    assert Token.objects.count() == 0


def test_revoking_a_token_through_the_api(staff_client, ingest_token):
    response = staff_client.post(f"/api/manage/tokens/{ingest_token.token.pk}/revoke/")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    ingest_token.token.refresh_from_db()
    assert ingest_token.token.revoked_at is not None


def test_events_are_listed_newest_first_with_filters_and_a_cursor(staff_client, ingest_token):
    other = make_token(datasource=make_datasource(slug="mobile"), scope="ingest")
    post_events(staff_client, ingest_token.raw, [{"type": "pv", "time_utc": f"2026-11-0{d}T00:00:00Z"}
                                                 for d in range(1, 6)])
    post_events(staff_client, other.raw, [{"type": "click", "time_utc": "2026-11-03T00:00:00Z"}])
    everything = staff_client.get("/api/manage/events/").json()
    assert len(everything["results"]) == 6
    assert [e["id"] for e in everything["results"]] == sorted((e["id"] for e in everything["results"]), reverse=True)
    web = staff_client.get("/api/manage/events/?datasource=web&since=2026-11-02T00:00:00Z&until=2026-11-04T00:00:00Z")
    assert [e["timestamp"][:10] for e in web.json()["results"]] == ["2026-11-03", "2026-11-02"]
    assert staff_client.get("/api/manage/events/?type=click").json()["results"][0]["datasource"] == "mobile"
    assert staff_client.get("/api/manage/events/?datasource=unknown").json()["results"] == []
    page = staff_client.get("/api/manage/events/?page_size=2").json()
    assert len(page["results"]) == 2 and "cursor=" in page["next"]
    second = staff_client.get(page["next"]).json()
    assert {e["id"] for e in second["results"]}.isdisjoint({e["id"] for e in page["results"]})


def test_a_malformed_time_filter_is_a_400(staff_client, datasource):
    response = staff_client.get("/api/manage/events/?since=yesterday")
    assert response.status_code == 400
    assert "since" in response.json()


def test_events_cannot_be_written_through_the_api(staff_client, ingest_token):
    post_events(staff_client, ingest_token.raw, [{"type": "pv"}])
    event_id = Event.objects.get().pk
    assert staff_client.delete(f"/api/manage/events/{event_id}/").status_code == 405
    assert staff_client.post("/api/manage/events/", {}, content_type="application/json").status_code == 405
    assert Event.objects.count() == 1


def test_a_datasource_with_events_cannot_be_deleted_through_the_api(staff_client, ingest_token):
    post_events(staff_client, ingest_token.raw, [{"type": "pv"}])
    response = staff_client.delete("/api/manage/datasources/web/")
    assert response.status_code == 409
    assert "purge" in response.json()["detail"]
    assert Event.objects.count() == 1 and DataSource.objects.filter(slug="web").exists()
    Event.objects.all().delete()
    assert staff_client.delete("/api/manage/datasources/web/").status_code == 204
    assert not DataSource.objects.filter(slug="web").exists()

@pytest.mark.parametrize("query", ["limit=2427454618847189948427988369408", "offset=99999999999999999999999"])
def test_it_answers_400_to_a_page_beyond_64_bits(staff_client, datasource, query):
    # Found by fuzzing: the database refused the value and the answer was 503 "database unavailable".
    response = staff_client.get(f"/api/manage/datasources/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert DataSource.objects.filter(slug=datasource.slug).exists()


@pytest.mark.parametrize("path", ["/api/manage/events/1.5/", "/api/manage/tokens/0.2/revoke/", "/api/manage/nothing/"])
def test_it_answers_json_404_to_an_unrouted_management_path(staff_client, path):
    # Found by fuzzing: the router's `[^/.]+` does not match "1.5", and Django answered its HTML page.
    response = staff_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"] == "Not found."


@pytest.mark.parametrize("param", ["datasource", "type", "since", "until"])
def test_it_answers_400_to_nul_in_an_event_filter(staff_client, datasource, param):
    # Found by fuzzing: PostgreSQL refused the NUL and the answer was a 500.
    response = staff_client.get("/api/manage/events/", {param: "web\x00"})
    assert response.status_code == 400
    assert param in response.json()


@pytest.mark.parametrize("body", ["[" * 5000 + "]" * 5000, '{"a": ' * 40 + "1" + "}" * 40, "[1e999]", "{"])
def test_a_body_it_cannot_take_is_a_400_not_a_500(staff_client, body):
    # Python's json module raised RecursionError on deep nesting (a 500); the strict parser refuses it.
    response = staff_client.post("/api/manage/tokens/", body, content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()
    assert Token.objects.count() == 0
