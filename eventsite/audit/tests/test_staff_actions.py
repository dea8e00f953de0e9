"""The audit of staff actions: every change to tokens, datasources, purges, suppressions,
retention, roles and second-factor devices is recorded with who, when, through what and the
request id, from the console, the management API and commands."""

import base64
import json
import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db.models import Max
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from events.models import DataSource, Event, PurgeAudit, Suppression
from eventsite.audit.models import StaffAction
from eventsite.audit.services import acting_as, staff_action_record
from eventsite.lib.access import OPERATORS, PRIVACY_OFFICERS
from tests.factories import make_datasource, make_staff, make_token
from tests.logins import console_login
from tokens.models import Token
from tokens.services import personal_token_issue

pytestmark = pytest.mark.django_db

RAW_EMAIL = "Ann@Example.com"


@pytest.fixture
def superuser():
    return User.objects.create_superuser("boss", "boss@example.com", "s3cret-pass")


@pytest.fixture
def console(client, superuser):
    console_login(client, superuser)
    return client


def basic(username: str, password: str = "s3cret-pass") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def api_user():
    return make_staff("ops", OPERATORS, password="s3cret-pass")


@pytest.fixture
def ops_token(api_user) -> dict:
    """An Operator's personal API token (their rights need a second factor, so Basic is refused)."""
    return {"Authorization": f"Bearer {personal_token_issue(user=api_user).raw}"}


def only(action: str) -> StaffAction:
    """The one row recorded for `action`."""
    return StaffAction.objects.get(action=action)


def assert_by(row: StaffAction, user, via: str, response) -> None:
    assert (row.actor, row.actor_name, row.via) == (user, user.get_username(), via)
    assert row.request_id and row.request_id == response["X-Request-ID"]


def all_details() -> str:
    return json.dumps(list(StaffAction.objects.values("detail", "target_repr")))


# --- Console -------------------------------------------------------------------------------------


def test_it_records_a_token_issued_relabelled_and_revoked_in_the_console(console, superuser, datasource):
    response = console.post("/admin/tokens/token/add/", {"datasource": datasource.pk, "scope": "ingest",
                                                         "label": "web shop"})
    assert response.status_code == 302
    token = Token.objects.get()
    raw = console.session["tokens.issued"][str(token.pk)]
    issued = only("token.issue")
    assert_by(issued, superuser, "console", response)
    assert (issued.target_type, issued.target_id) == ("tokens.token", str(token.pk))
    assert issued.detail == {"datasource": "web", "scope": "ingest", "label": "web shop", "hint": token.hint,
                             "expires_at": None}

    response = console.post(f"/admin/tokens/token/{token.pk}/change/", {"label": "shop"})
    assert response.status_code == 302
    assert only("token.change").detail == {"hint": token.hint, "label": ["web shop", "shop"]}

    response = console.post(f"/admin/tokens/token/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert_by(only("token.revoke"), superuser, "console", response)
    assert raw not in all_details() and raw[len(token.hint):] not in all_details()

    response = console.post(f"/admin/tokens/token/{token.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Token.objects.exists()
    assert_by(only("token.delete"), superuser, "console", response)


def test_it_records_datasource_create_change_retention_and_delete_in_the_console(console, superuser):
    form = {"slug": "shop", "name": "Shop", "allowed_origins": "", "retention_days": ""}
    response = console.post("/admin/events/datasource/add/", form)
    assert response.status_code == 302
    datasource = DataSource.objects.get(slug="shop")
    created = only("datasource.create")
    assert_by(created, superuser, "console", response)
    assert created.detail["retention_days"] is None and created.target_repr == "shop"

    response = console.post(f"/admin/events/datasource/{datasource.pk}/change/",
                            {**form, "name": "The shop", "retention_days": "30"})
    assert response.status_code == 302
    assert only("retention.change").detail == {"retention_days": [None, 30]}
    assert only("datasource.change").detail == {"name": ["Shop", "The shop"]}
    assert_by(only("retention.change"), superuser, "console", response)

    # Saving the form again unchanged records nothing.
    console.post(f"/admin/events/datasource/{datasource.pk}/change/",
                 {**form, "name": "The shop", "retention_days": "30"})
    assert StaffAction.objects.filter(action__in=["retention.change", "datasource.change"]).count() == 2

    response = console.post(f"/admin/events/datasource/{datasource.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not DataSource.objects.filter(slug="shop").exists()
    assert_by(only("datasource.delete"), superuser, "console", response)


def _seed(client, token: str) -> None:
    response = client.post("/api/v2/events/post_event", [
        {"type": "a", "user_id": {"email": RAW_EMAIL}},
        {"type": "b", "user_id": {"email": "bob@example.com"}},
    ], content_type="application/json", headers={"X-KSense-Tok": token})
    assert response.status_code == 200


def _confirmation(response) -> str:
    return re.search(r'name="confirmation" value="([^"]+)"', response.content.decode()).group(1)


def test_it_records_a_user_purge_and_a_suppression_lift_in_the_console_without_the_user_id(
        console, superuser, ingest_token):
    _seed(console, ingest_token.raw)
    url = f"/admin/events/datasource/{ingest_token.token.datasource_id}/purge-user/"
    preview = console.post(url, {"user_id_type": "email", "user_id": RAW_EMAIL, "suppress": "on", "preview": "1"})
    response = console.post(url, {"confirmation": _confirmation(preview)})
    assert response.status_code == 302
    audit = PurgeAudit.objects.get()
    row = only("purge.user")
    assert_by(row, superuser, "console", response)
    assert row.detail == {"purge_audit": audit.pk, "user_id_type": "email", "user_id_hmac": audit.user_id_hmac,
                          "suppressed": True, "events_deleted": 1}
    suppression = Suppression.objects.get()

    response = console.post("/admin/events/suppression/", {"action": "lift_suppressions",
                                                            "_selected_action": [suppression.pk]})
    assert response.status_code == 302
    suppression.refresh_from_db()
    assert suppression.lifted_at is not None
    lift = only("suppression.lift")
    assert_by(lift, superuser, "console", response)
    assert lift.detail["user_id_hmac"] == audit.user_id_hmac  # the same user as the purge, provably
    # Neither the id nor its unkeyed digest (what events store) is in the audit.
    for secret in (RAW_EMAIL, RAW_EMAIL.lower(), suppression.digest, suppression.digest[:12]):
        assert secret not in all_details()


def test_it_records_a_datasource_purge_in_the_console(console, superuser, ingest_token):
    _seed(console, ingest_token.raw)
    url = f"/admin/events/datasource/{ingest_token.token.datasource_id}/purge-dataset/"
    response = console.post(url, {"confirmation": _confirmation(console.get(url))})
    assert response.status_code == 302
    row = only("purge.datasource")
    assert_by(row, superuser, "console", response)
    assert row.detail == {"purge_audit": PurgeAudit.objects.get().pk, "epoch": 0}
    assert (row.target_type, row.target_repr) == ("events.datasource", "web")


def test_it_records_role_changes_made_in_the_console(console, superuser):
    staff = User.objects.create_user("carol", password="s3cret-pass")
    # A staff user's creation is recorded (the superuser's); a plain user's is no role change.
    assert StaffAction.objects.filter(action="user.create", target_repr="boss").count() == 1
    assert not StaffAction.objects.filter(target_repr="carol").exists()
    officers = Group.objects.get(name=PRIVACY_OFFICERS)
    response = console.post(f"/admin/auth/user/{staff.pk}/change/", {
        "username": "carol", "is_active": "on", "is_staff": "on", "groups": [officers.pk],
        "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00",
        # The report profile inline (reports.admin) on the user page, left empty.
        "report_profile-TOTAL_FORMS": "0", "report_profile-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content
    staff.refresh_from_db()
    assert staff.is_staff and list(staff.groups.all()) == [officers]
    flags, groups = only("user.flags"), only("user.groups")
    assert flags.detail == {"is_staff": [False, True]}
    assert groups.detail == {"added": [PRIVACY_OFFICERS]}
    assert (groups.target_type, groups.target_repr) == ("auth.user", "carol")
    assert_by(groups, superuser, "console", response)

    operators = Group.objects.get(name=OPERATORS)
    kept = list(operators.permissions.values_list("pk", flat=True))
    payload = Permission.objects.get(codename="view_event_payload")
    response = console.post(f"/admin/auth/group/{operators.pk}/change/", {"name": OPERATORS,
                                                                          "permissions": [*kept, payload.pk]})
    assert response.status_code == 302
    row = only("group.permissions")
    assert row.detail == {"added": ["events.view_event_payload"]}
    assert_by(row, superuser, "console", response)


def test_it_records_second_factor_devices_added_confirmed_and_removed(console, superuser):
    signed_in = StaffAction.objects.aggregate(last=Max("id"))["last"] or 0  # signing in may add a device
    device = TOTPDevice.objects.create(user=superuser, name="phone", confirmed=False)
    device.confirmed = True
    device.save()
    device.save()  # a verification's save (counters): no change of confirmed, nothing recorded
    response = console.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    devices = StaffAction.objects.filter(action__startswith="2fa.", pk__gt=signed_in).order_by("id")
    assert list(devices.values_list("action", flat=True)) == [
        "2fa.device.add", "2fa.device.confirm", "2fa.device.remove"]
    removed = devices.get(action="2fa.device.remove")
    assert_by(removed, superuser, "console", response)
    assert removed.detail == {"device": "totp", "device_id": device.pk, "name": "phone"}
    assert (removed.target_type, removed.target_repr) == ("auth.user", "boss")

    StaticDevice.objects.create(user=superuser, name="backup")
    added = StaffAction.objects.filter(action="2fa.device.add", pk__gt=signed_in).order_by("id")
    assert [row.detail["device"] for row in added] == ["totp", "static"]


def test_role_changes_are_recorded_from_either_side_of_the_relation(superuser):
    carol = User.objects.create_user("carol", password="s3cret-pass", is_staff=True)
    officers = Group.objects.get(name=PRIVACY_OFFICERS)
    payload = Permission.objects.get(codename="view_event_payload")
    with acting_as(user=superuser, via="console"):
        officers.user_set.add(carol)  # from the group's side: recorded on the user
        carol.user_permissions.add(payload)
        payload.user_set.remove(carol)
        carol.groups.clear()
    rows = StaffAction.objects.filter(target_repr="carol", actor=superuser).order_by("id")
    assert [(row.action, row.detail) for row in rows] == [
        ("user.groups", {"added": [PRIVACY_OFFICERS]}),
        ("user.permissions", {"added": ["events.view_event_payload"]}),
        ("user.permissions", {"removed": ["events.view_event_payload"]}),
        ("user.groups", {"removed": [PRIVACY_OFFICERS]}),
    ]
    assert not carol.groups.exists() and not carol.user_permissions.exists()


# --- Management API ------------------------------------------------------------------------------


def test_it_records_tokens_issued_and_revoked_through_the_management_api(client, api_user, ops_token, datasource):
    response = client.post("/api/manage/tokens/", {"datasource": "web", "scope": "purge", "label": "gdpr"},
                           content_type="application/json", headers=ops_token)
    assert response.status_code == 201
    raw, token_id = response.json()["token"], response.json()["id"]
    issued = only("token.issue")
    assert_by(issued, api_user, "api", response)
    assert issued.target_id == str(token_id) and issued.detail["scope"] == "purge"

    response = client.post(f"/api/manage/tokens/{token_id}/revoke/", headers=ops_token)
    assert response.status_code == 200
    assert_by(only("token.revoke"), api_user, "api", response)
    assert raw not in all_details()


def test_it_records_datasource_and_retention_changes_through_the_management_api(client, api_user, ops_token):
    response = client.post("/api/manage/datasources/", {"slug": "app", "name": "App"},
                           content_type="application/json", headers=ops_token)
    assert response.status_code == 201
    assert_by(only("datasource.create"), api_user, "api", response)

    response = client.patch("/api/manage/datasources/app/", {"retention_days": 90},
                            content_type="application/json", headers=ops_token)
    assert response.status_code == 200
    row = only("retention.change")
    assert_by(row, api_user, "api", response)
    assert row.detail == {"retention_days": [None, 90]}
    assert not StaffAction.objects.filter(action="datasource.change").exists()

    response = client.delete("/api/manage/datasources/app/", headers=ops_token)
    assert response.status_code == 204
    assert_by(only("datasource.delete"), api_user, "api", response)


def test_a_refused_api_call_records_nothing(client, datasource):
    User.objects.create_user("plain", password="s3cret-pass")
    before = StaffAction.objects.count()
    response = client.post("/api/manage/tokens/", {"datasource": "web", "scope": "ingest"},
                           content_type="application/json", headers=basic("plain"))
    assert response.status_code == 403
    assert not Token.objects.exists() and StaffAction.objects.count() == before


def test_a_purge_by_api_token_is_recorded_under_the_token_without_the_user_id(client, ingest_token, purge_token):
    _seed(client, ingest_token.raw)
    response = client.get("/api/v2/insights/purge_user", {"ds": "web", "user_id_type": "email", "user_id": RAW_EMAIL,
                                                          "token": purge_token.raw})
    assert response.status_code == 200, response.content
    assert Event.objects.count() == 1
    row = only("purge.user")
    assert (row.actor, row.via, row.request_id) == (None, "api", response["X-Request-ID"])
    assert row.actor_name == PurgeAudit.objects.get().actor
    assert row.actor_name == f"token {purge_token.token.hint}… (#{purge_token.token.pk})"
    assert RAW_EMAIL not in all_details() and RAW_EMAIL.lower() not in all_details()
    assert purge_token.raw not in all_details()


# --- Commands ------------------------------------------------------------------------------------


def test_commands_are_recorded_as_commands_under_the_system_account(capsys):
    make_datasource(slug="shop")
    created = only("datasource.create")
    assert (created.via, created.actor, created.request_id) == ("command", None, "")
    assert "@" in created.actor_name  # user@host of whoever ran it
    call_command("issue_token", "shop", "--scope", "ingest")
    raw = capsys.readouterr().out.strip()
    assert only("token.issue").via == "command" and raw not in all_details()

    DataSource.objects.filter(slug="shop").update(retention_days=30)
    call_command("apply_retention", "--datasource", "shop")
    row = only("retention.apply")
    assert row.via == "command" and row.detail["events_deleted"] == 0 and row.detail["outcome"] == "complete"
    call_command("apply_retention", "--datasource", "shop", "--dry-run")
    assert StaffAction.objects.filter(action="retention.apply").count() == 1  # a dry run changes nothing

    viewers = Group.objects.get(name="Viewers")
    viewers.permissions.clear()
    assert only("group.permissions").detail["removed"]  # what the clear took away, by name
    call_command("sync_roles", stdout=None)
    rows = StaffAction.objects.filter(action="group.permissions", target_repr="Viewers").order_by("id")
    assert rows.count() == 2 and rows.last().detail["added"] == rows.first().detail["removed"]


def test_a_command_acting_for_a_named_user_records_that_user(superuser, datasource):
    token = make_token(datasource=datasource).token
    from tokens.services import token_revoke

    with acting_as(user=superuser, via="command"):
        token_revoke(token=token)
    row = only("token.revoke")
    assert (row.actor, row.actor_name, row.via) == (superuser, "boss", "command")


def test_a_deleted_actor_leaves_their_name_on_the_rows(superuser):
    with acting_as(user=superuser, via="console"):
        staff_action_record(action="token.issue", target_type="tokens.token", target_id=1, target_repr="x")
    superuser.delete()
    row = only("token.issue")
    assert (row.actor, row.actor_name) == (None, "boss")


# --- The page ------------------------------------------------------------------------------------


def _in_group(name: str, group: str) -> User:
    user = User.objects.create_user(name, password="s3cret-pass", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.mark.parametrize("who", ["superuser", "privacy officer"])
def test_superusers_and_privacy_officers_read_the_audit_page(client, superuser, who):
    user = superuser if who == "superuser" else _in_group("petra", PRIVACY_OFFICERS)
    with acting_as(user=superuser, via="console"):
        row = staff_action_record(action="token.issue", target_type="tokens.token", target_id=7,
                                  target_repr="evs_AbCdEfGh… (ingest, web)", detail={"scope": "ingest"})
    console_login(client, user)
    page = client.get("/admin/audit/staffaction/")
    assert page.status_code == 200
    assert "token.issue" in page.content.decode() and "evs_AbCdEfGh" in page.content.decode()
    assert client.get("/admin/audit/staffaction/?action=token.issue&via=console").status_code == 200
    detail = client.get(f"/admin/audit/staffaction/{row.pk}/change/")
    assert detail.status_code == 200 and "&quot;scope&quot;: &quot;ingest&quot;" in detail.content.decode()
    # Read-only for everyone: no add, change or delete.
    count = StaffAction.objects.count()
    assert client.get("/admin/audit/staffaction/add/").status_code == 403
    assert client.post(f"/admin/audit/staffaction/{row.pk}/change/", {"action": "x"}).status_code == 403
    assert client.post(f"/admin/audit/staffaction/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert StaffAction.objects.count() == count and StaffAction.objects.get(pk=row.pk).action == "token.issue"


def test_an_operator_cannot_see_the_audit_page(client, superuser):
    with acting_as(user=superuser, via="console"):
        row = staff_action_record(action="token.issue", target_type="tokens.token", target_id=7, target_repr="x")
    console_login(client, _in_group("otto", OPERATORS))
    assert client.get("/admin/audit/staffaction/").status_code == 403
    assert client.get(f"/admin/audit/staffaction/{row.pk}/change/").status_code == 403
    assert "/admin/audit/" not in client.get("/admin/").content.decode()
    assert StaffAction.objects.filter(action="token.issue").count() == 1  # the row above, nothing else


def test_what_a_celery_task_records_is_marked_task(monkeypatch):
    # A real task run (eagerly, in this process) whose service records an action.
    from reports import purges
    from reports.tasks import reclaim_purged_epoch

    def service(*, reclaim_id):
        staff_action_record(action="purge.datasource", target_type="events.datasource", target_id=reclaim_id)
        return 0

    monkeypatch.setattr(purges, "purge_dataset_reclaim", service)
    assert reclaim_purged_epoch.apply((5,)).get() == 0
    row = only("purge.datasource")
    assert (row.via, row.actor, row.actor_name, row.target_id) == ("task", None, "", "5")
