"""Who gets into the management API, and how (eventsite/http/manage/authentication.py): personal API tokens
(Bearer), Basic for users without a second factor, sessions that passed the second factor."""

import base64
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice

from events.models import DataSource
from tokens.models import PersonalToken
from tokens.services import personal_token_issue, personal_token_revoke

pytestmark = pytest.mark.django_db

PASSWORD = "long-enough-pass-1"
LIST = "/api/manage/datasources/"


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def basic(username: str, password: str = PASSWORD) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def staff(db):
    """Staff who may list and create datasources: no right of theirs needs a second factor."""
    user = User.objects.create_user("ops", password=PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="events", codename__in=["view_datasource", "add_datasource"]))
    return user


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


def sensitive_staff(username: str = "operator") -> User:
    """A staff user holding a right that needs a second factor (issuing tokens)."""
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="issue_token", content_type__app_label="tokens"))
    return User.objects.get(pk=user.pk)  # a fresh instance: no permission cache


def verify_session(client, user) -> None:
    """Sign `user` in with `client` as a session that passed the second factor (as django_otp.login leaves it)."""
    device = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def test_it_accepts_a_personal_token_and_acts_as_its_user(client, staff):
    issued = personal_token_issue(user=staff, label="script")
    response = client.post(LIST, {"slug": "shop", "name": "Shop"}, content_type="application/json",
                           **bearer(issued.raw))
    assert response.status_code == 201, response.content
    assert DataSource.objects.filter(slug="shop").exists()
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


def test_it_accepts_a_personal_token_of_a_user_who_needs_a_second_factor(client, superuser):
    issued = personal_token_issue(user=superuser)
    response = client.get(LIST, **bearer(issued.raw))
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("case", ["revoked", "expired", "inactive", "not staff", "unknown", "ingest token"])
def test_it_refuses_a_token_that_is_not_an_active_staff_users_with_401_json(client, staff, case):
    issued = personal_token_issue(user=staff)
    raw = issued.raw
    if case == "revoked":
        personal_token_revoke(token=issued.token)
    elif case == "expired":
        PersonalToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "inactive":
        User.objects.filter(pk=staff.pk).update(is_active=False)
    elif case == "not staff":
        User.objects.filter(pk=staff.pk).update(is_staff=False)
    elif case == "unknown":
        raw = raw[:-4] + "AAAA"
    elif case == "ingest token":
        raw = "evs_" + raw[4:]
    response = client.post(LIST, {"slug": "shop"}, content_type="application/json", **bearer(raw))
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"]
    assert not DataSource.objects.exists()


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer \u00e9t\u00e9"])
def test_it_refuses_a_malformed_bearer_header_with_401(client, staff, header):
    response = client.get(LIST, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "detail" in response.json()


def test_bearer_failures_are_rate_limited_per_address(client, staff, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    good = personal_token_issue(user=staff).raw
    statuses = [client.get(LIST, REMOTE_ADDR="10.9.9.9", **bearer(f"evp_wrong{i}")).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = client.get(LIST, REMOTE_ADDR="10.9.9.9", **bearer(good))
    assert limited.status_code == 429 and limited.json()["code"] == "TOO_MANY_REQUESTS"
    assert int(limited["Retry-After"]) >= 1
    assert client.get(LIST, REMOTE_ADDR="10.9.9.10", **bearer(good)).status_code == 200


def test_anonymous_calls_get_401_naming_the_bearer_scheme(client, db):
    response = client.get(LIST)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_basic_auth_still_works_for_staff_without_a_second_factor(client, staff):
    response = client.post(LIST, {"slug": "shop"}, content_type="application/json", **basic("ops"))
    assert response.status_code == 201
    assert DataSource.objects.filter(slug="shop").exists()


@pytest.mark.parametrize("who", ["superuser", "sensitive"])
def test_basic_auth_is_refused_to_users_who_need_a_second_factor(client, superuser, who):
    username = "root" if who == "superuser" else sensitive_staff().username
    response = client.post(LIST, {"slug": "shop"}, content_type="application/json", **basic(username))
    assert response.status_code == 401
    assert "personal API token" in response.json()["detail"]
    assert not DataSource.objects.exists()


def test_basic_auth_is_refused_to_every_staff_user_when_2fa_is_required_for_all_staff(client, staff, settings):
    settings.REQUIRE_2FA_FOR = "staff"
    response = client.get(LIST, **basic("ops"))
    assert response.status_code == 401
    assert "personal API token" in response.json()["detail"]


def test_a_session_without_the_second_factor_is_refused_to_users_who_need_it(client, superuser):
    client.force_login(superuser)
    response = client.post(LIST, {"slug": "shop"}, content_type="application/json")
    assert response.status_code == 403
    assert "second factor" in response.json()["detail"]
    assert not DataSource.objects.exists()


def test_a_session_that_passed_the_second_factor_is_accepted(client, superuser):
    verify_session(client, superuser)
    response = client.post(LIST, {"slug": "shop"}, content_type="application/json")
    assert response.status_code == 201
    assert DataSource.objects.filter(slug="shop").exists()


def test_a_session_of_staff_without_a_second_factor_is_accepted(client, staff):
    client.force_login(staff)
    assert client.get(LIST).status_code == 200


def test_the_schema_describes_the_personal_token_scheme(client, db):
    schema = client.get("/api/schema/?format=json").json()
    assert schema["components"]["securitySchemes"]["personalToken"]["scheme"] == "bearer"
    operation = schema["paths"]["/api/manage/datasources/"]["get"]
    assert {"personalToken": []} in operation["security"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/schema/?format=json"])
def test_the_docs_and_schema_stay_public_to_a_session_without_the_second_factor(client, superuser, path):
    client.force_login(superuser)
    assert client.get(path).status_code == 200
