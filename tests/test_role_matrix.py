"""Every role × every guarded action, in the console and in the management API (issue 15).

Each case signs one user in (a role's group, staff with no group, or a superuser), makes the
request a user would make (or forge: the confirmations are validly signed, so only the right is
missing), and asserts the answer: success for a role that holds the right, 403 otherwise. A
refusal must change nothing: the whole guarded state (tokens, events, suppressions, retention,
report jobs, purge audits) is compared before and after.
"""

import base64
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client

from events.identities import identity_digest
from events.models import DataSource, Event, PurgeAudit, Suppression
from events.selectors import events_of_datasource
from events.services import suppression_add
from eventsite.console.admin import DATASET_SALT, USER_SALT
from eventsite.lib.access import (
    DOWNLOAD_REPORT,
    ISSUE_TOKEN,
    LIFT_SUPPRESSION,
    OPERATORS,
    PRIVACY_OFFICERS,
    PURGE_DATASOURCE,
    PURGE_USER,
    REPORT_STAFF,
    REVOKE_TOKEN,
    ROLES,
    START_REPORT,
    VIEW_EVENT_PAYLOAD,
    VIEWERS,
)
from reports import storage
from reports.models import ReportJob
from tests.factories import make_datasource, make_staff, make_token
from tests.logins import console_login
from tokens.models import Token

pytestmark = pytest.mark.django_db

ROLE_NAMES = ["operator", "privacy officer", "report staff", "viewer", "staff without a role", "superuser"]
GROUPS = {"operator": OPERATORS, "privacy officer": PRIVACY_OFFICERS, "report staff": REPORT_STAFF, "viewer": VIEWERS}
MARKER = "payload-marker-7f3a"  # a value only the payload holds


def staff_in_role(role: str, username: str | None = None) -> User:
    username = username or role.replace(" ", "-")
    return make_staff(username, *([GROUPS[role]] if role in GROUPS else []), superuser=role == "superuser")


@dataclass
class World:
    """What the actions act on."""

    user: User
    datasource: DataSource
    token: Token
    suppression: Suppression
    event: Event
    own_job: ReportJob
    other_job: ReportJob


def state() -> dict:
    """Everything a guarded action could change."""
    return {
        "tokens": sorted(Token.objects.values_list("pk", "revoked_at")),
        "events": sorted(Event.objects.values_list("pk", flat=True)),
        "visible events": events_of_datasource(datasource=DataSource.objects.get(slug="web")).count(),
        "datasources": sorted(DataSource.objects.values_list("slug", "epoch", "retention_days")),
        "suppressions": sorted(Suppression.objects.values_list("pk", "lifted_at")),
        "report jobs": sorted(str(pk) for pk in ReportJob.objects.values_list("pk", flat=True)),
        "purge audits": PurgeAudit.objects.count(),
    }


@pytest.fixture
def world(role, client, monkeypatch, tmp_path, request) -> World:
    user = staff_in_role(role)
    datasource = make_datasource(slug="web")
    issued = make_token(datasource=datasource, scope="ingest")
    posted = client.post("/api/v2/events/post_event", [
        {"type": "a", "user_id": {"email": "ann@example.com"}, "note": MARKER},
        {"type": "b", "user_id": {"email": "bob@example.com"}, "note": MARKER},
    ], content_type="application/json", headers={"X-KSense-Tok": issued.raw})
    assert posted.status_code == 200
    suppression = suppression_add(datasource=datasource, kind="email",
                                  digest=identity_digest("email", "carl@example.com", where="purge"))
    # A finished export of each user, its file in (local) storage.
    other = staff_in_role("report staff", "someone-else")
    jobs = []
    for owner in (user, other):
        job = ReportJob.objects.create(requested_by=owner, customer="TGAM", product="WATCHLIST",
                                       status=ReportJob.Status.COMPLETE, file_key=f"reports/matrix-{owner.pk}.csv")
        source = tmp_path / f"{owner.pk}.csv"
        source.write_text("header\n")
        storage.upload(key=job.file_key, path=source)
        request.addfinalizer(lambda key=job.file_key: storage.delete(key=key))
        jobs.append(job)
    # Starting a report publishes to the broker: recorded here, no worker runs it.
    published = []
    monkeypatch.setattr("reports.services.export_report.apply_async", lambda args, **kw: published.append(args))
    return World(user=user, datasource=datasource, token=issued.token, suppression=suppression,
                 event=Event.objects.get(type="a"), own_job=jobs[0], other_job=jobs[1])


def signed_in(user: User) -> Client:
    client = Client()
    console_login(client, user)
    return client


# --- The actions, each: (request, check that it took effect). -------------------------------------

def issue_token_console(client, w):
    response = client.post("/admin/tokens/token/add/", {"datasource": w.datasource.pk, "scope": "ingest",
                                                         "label": "new"})
    return response, lambda: Token.objects.filter(label="new").count() == 1


def issue_token_api(client, w):
    response = client.post("/api/manage/tokens/", {"datasource": "web", "scope": "ingest", "label": "new"},
                           content_type="application/json")
    return response, lambda: Token.objects.filter(label="new").count() == 1 and "token" in response.json()


def revoke_token_page(client, w):
    response = client.post(f"/admin/tokens/token/{w.token.pk}/revoke/")
    return response, lambda: Token.objects.get(pk=w.token.pk).revoked_at is not None


def revoke_token_action(client, w):
    response = client.post("/admin/tokens/token/", {"action": "revoke_tokens", "_selected_action": [w.token.pk],
                                                     "index": "0"})
    return response, lambda: Token.objects.get(pk=w.token.pk).revoked_at is not None


def revoke_token_api(client, w):
    response = client.post(f"/api/manage/tokens/{w.token.pk}/revoke/")
    return response, lambda: Token.objects.get(pk=w.token.pk).revoked_at is not None


def purge_user_console(client, w):
    digest = identity_digest("email", "ann@example.com", where="purge")
    confirmation = signing.dumps({"ds": w.datasource.pk, "kind": "email", "digest": digest, "count": 1,
                                  "suppress": False}, salt=USER_SALT)
    response = client.post(f"/admin/events/datasource/{w.datasource.pk}/purge-user/",
                           {"confirmation": confirmation})
    return response, lambda: not Event.objects.filter(type="a").exists() and PurgeAudit.objects.count() == 1


def purge_dataset_console(client, w):
    confirmation = signing.dumps({"ds": w.datasource.pk, "epoch": w.datasource.epoch, "count_label": "2"},
                                 salt=DATASET_SALT)
    response = client.post(f"/admin/events/datasource/{w.datasource.pk}/purge-dataset/",
                           {"confirmation": confirmation})
    return response, lambda: (events_of_datasource(datasource=DataSource.objects.get(pk=w.datasource.pk)).count() == 0
                              and PurgeAudit.objects.count() == 1)


def lift_suppression_console(client, w):
    response = client.post("/admin/events/suppression/", {"action": "lift_suppressions", "index": "0",
                                                           "_selected_action": [w.suppression.pk]})
    return response, lambda: Suppression.objects.get(pk=w.suppression.pk).lifted_at is not None


def change_retention_console(client, w):
    response = client.post(f"/admin/events/datasource/{w.datasource.pk}/change/", {
        "slug": "web", "name": "", "allowed_origins": "", "retention_days": "30"})
    return response, lambda: DataSource.objects.get(pk=w.datasource.pk).retention_days == 30


def change_retention_api(client, w):
    response = client.patch("/api/manage/datasources/web/", {"retention_days": 30}, content_type="application/json")
    return response, lambda: DataSource.objects.get(pk=w.datasource.pk).retention_days == 30


def start_report_console(client, w):
    response = client.post("/admin/reports/reportjob/start/", {"customer": "TGAM", "product": "WATCHLIST",
                                                               "delimiter": "|"})
    return response, lambda: ReportJob.objects.count() == 3


def start_report_api(client, w):
    response = client.post("/api/manage/reports/", {"filter": {"customer": "TGAM", "product": "WATCHLIST"},
                                                    "output": {"delimiter": "|"}}, content_type="application/json")
    return response, lambda: ReportJob.objects.count() == 3


def download_console(job_of):
    def action(client, w):
        response = client.get(f"/admin/reports/reportjob/{job_of(w).pk}/download/")
        return response, lambda: "/exports/" in response.get("Location", "")
    return action


def download_api(job_of):
    def action(client, w):
        response = client.get(f"/api/manage/reports/{job_of(w).pk}/link/")
        return response, lambda: "/exports/" in response.json()["link"]
    return action


def view_payload_console(client, w):
    # Denied: 403 without view_event, or the event's page without its payload.
    response = client.get(f"/admin/events/event/{w.event.pk}/change/")
    return response, lambda: MARKER in response.content.decode()


def view_payload_api(client, w):
    response = client.get("/api/manage/events/")
    return response, lambda: all(MARKER in str(item.get("payload")) for item in response.json()["results"])


def _own(w):
    return w.own_job


def _other(w):
    return w.other_job


OPS, PRIVACY, REPORTS, SUPER = "operator", "privacy officer", "report staff", "superuser"

# action name: (request, roles holding the right, roles that may see the page without the right).
ACTIONS: dict[str, tuple[Callable, set[str], set[str]]] = {
    "console: issue a token": (issue_token_console, {OPS, SUPER}, set()),
    "api: issue a token": (issue_token_api, {OPS, SUPER}, set()),
    "console: revoke a token (its page)": (revoke_token_page, {OPS, SUPER}, set()),
    "console: revoke tokens (list action)": (revoke_token_action, {OPS, SUPER}, set()),
    "api: revoke a token": (revoke_token_api, {OPS, SUPER}, set()),
    "console: purge a user": (purge_user_console, {PRIVACY, SUPER}, set()),
    "console: purge a datasource": (purge_dataset_console, {PRIVACY, SUPER}, set()),
    "console: lift a suppression": (lift_suppression_console, {PRIVACY, SUPER}, set()),
    "console: change retention": (change_retention_console, {OPS, SUPER}, set()),
    "api: change retention": (change_retention_api, {OPS, SUPER}, set()),
    "console: start a report": (start_report_console, {REPORTS, SUPER}, set()),
    "api: start a report": (start_report_api, {REPORTS, SUPER}, set()),
    "console: download one's own report": (download_console(_own), {REPORTS, SUPER}, set()),
    "api: download one's own report": (download_api(_own), {REPORTS, SUPER}, set()),
    "console: download another user's report": (download_console(_other), {SUPER}, set()),
    "api: download another user's report": (download_api(_other), {SUPER}, set()),
    # Holders of view_event see events, without payloads or user identifiers.
    "console: view an event's payload": (view_payload_console, {PRIVACY, SUPER}, {OPS, "viewer"}),
    "api: view event payloads": (view_payload_api, {PRIVACY, SUPER}, {OPS, "viewer"}),
}


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_role_may_do_exactly_what_its_rights_allow(world, action, role):
    request, allowed, sees_without = ACTIONS[action]
    client = signed_in(world.user)
    before = state()

    response, took_effect = request(client, world)

    if role in allowed:
        assert response.status_code in (200, 201, 302), (response.status_code, response.content[:300])
        if response.status_code == 302:
            assert "/login/" not in response["Location"]
        assert took_effect(), response.content[:300]
    elif role in sees_without:
        assert response.status_code == 200
        assert not took_effect()
        assert state() == before
    else:
        assert response.status_code == 403, (response.status_code, response.content[:300])
        assert state() == before
        if action.startswith("api:"):
            assert response.json()["detail"]  # the management API's JSON error, never an HTML page


def test_the_matrix_follows_the_roles_as_defined(db):
    # A role gaining or losing a right must show up here as a failing row, not a silent pass.
    holders = {name: {role for role, group in GROUPS.items() if name in ROLES[group]} | {SUPER}
               for name in (ISSUE_TOKEN, REVOKE_TOKEN, PURGE_USER, PURGE_DATASOURCE, LIFT_SUPPRESSION,
                            START_REPORT, DOWNLOAD_REPORT, VIEW_EVENT_PAYLOAD)}
    assert ACTIONS["console: issue a token"][1] == holders[ISSUE_TOKEN]
    assert ACTIONS["api: revoke a token"][1] == holders[REVOKE_TOKEN]
    assert ACTIONS["console: purge a user"][1] == holders[PURGE_USER]
    assert ACTIONS["console: purge a datasource"][1] == holders[PURGE_DATASOURCE]
    assert ACTIONS["console: lift a suppression"][1] == holders[LIFT_SUPPRESSION]
    assert ACTIONS["api: start a report"][1] == holders[START_REPORT]
    assert ACTIONS["api: download one's own report"][1] == holders[DOWNLOAD_REPORT]
    assert ACTIONS["api: view event payloads"][1] == holders[VIEW_EVENT_PAYLOAD]


# --- What each role sees: no button, link or action for a right it does not hold. -----------------

def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize("role", ["operator", "privacy officer", "viewer", "superuser"])
def test_the_datasource_and_token_pages_show_only_the_buttons_of_the_users_rights(world, role):
    client = signed_in(world.user)
    datasource = page(client, f"/admin/events/datasource/{world.datasource.pk}/change/")
    may_purge, may_manage = role in (PRIVACY, SUPER), role in (OPS, SUPER)
    assert ('id="purge-user"' in datasource, 'id="purge-dataset"' in datasource) == (may_purge, may_purge)
    assert ('name="retention_days"' in datasource) is may_manage
    if role == PRIVACY:
        assert client.get("/admin/tokens/token/").status_code == 403  # no view_token
        return
    token = page(client, f"/admin/tokens/token/{world.token.pk}/change/")
    tokens = page(client, "/admin/tokens/token/")
    assert ('id="revoke-token"' in token) is may_manage
    assert ('value="revoke_tokens"' in tokens, "/admin/tokens/token/add/" in tokens) == (may_manage, may_manage)


@pytest.mark.parametrize("role", ["privacy officer", "viewer"])
def test_only_a_privacy_officer_is_offered_the_lift_action(world, role):
    suppressions = page(signed_in(world.user), "/admin/events/suppression/")
    assert ('value="lift_suppressions"' in suppressions) is (role == PRIVACY)


@pytest.mark.parametrize("role", ["report staff", "viewer", "superuser"])
def test_the_report_list_offers_start_and_download_only_with_those_rights(world, role):
    jobs = page(signed_in(world.user), "/admin/reports/reportjob/")
    own, other = (f"/admin/reports/reportjob/{job.pk}/download/" for job in (world.own_job, world.other_job))
    assert ('id="start-report"' in jobs) is (role != "viewer")
    assert (own in jobs, other in jobs) == {"report staff": (True, False), "viewer": (False, False),
                                            "superuser": (True, True)}[role]
    # Report staff see only their own jobs; viewers see every job, without a download link.
    assert (str(world.other_job.pk)[:8] in jobs) is (role != "report staff")


@pytest.mark.parametrize("role", ["operator", "privacy officer"])
def test_events_are_searched_by_user_id_only_with_the_right_to_see_user_ids(world, role):
    client = signed_in(world.user)
    assert ('value="email"' in page(client, "/admin/events/event/")) is (role == PRIVACY)
    detail = page(client, f"/admin/events/event/{world.event.pk}/change/")
    assert ("field-payload" in detail, "field-user_email" in detail) == (role == PRIVACY, role == PRIVACY)
    assert "field-type" in detail
    found = page(client, "/admin/events/event/?kind=email&q=ann@example.com")
    if role == PRIVACY:
        assert f"/admin/events/event/{world.event.pk}/change/" in found
    else:
        assert 'id="search-error"' in found and "events.view_event_payload" in found
        assert f"/admin/events/event/{world.event.pk}/change/" not in found


def test_without_the_retention_right_a_datasource_change_keeps_the_retention(db, client):
    # A user who may change datasources but not retention: the field is read-only, a forged value ignored.
    from django.contrib.auth.models import Permission

    user = make_staff("editor")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_datasource", "change_datasource"]))
    datasource = make_datasource(slug="web")
    console_login(client, user)
    form = page(client, f"/admin/events/datasource/{datasource.pk}/change/")
    assert 'name="retention_days"' not in form and 'name="name"' in form
    response = client.post(f"/admin/events/datasource/{datasource.pk}/change/",
                           {"slug": "web", "name": "Renamed", "allowed_origins": "", "retention_days": "1"})
    assert response.status_code == 302
    datasource.refresh_from_db()
    assert (datasource.name, datasource.retention_days) == ("Renamed", None)
    assert client.post("/admin/events/datasource/add/", {"slug": "new", "name": "", "allowed_origins": "",
                                                          "retention_days": "1"}).status_code == 403


def test_an_operator_deletes_a_datasource_whose_tokens_are_revoked(db, client):
    from tokens.services import token_revoke

    datasource = make_datasource(slug="old")
    token_revoke(token=make_token(datasource=datasource).token)
    console_login(client, make_staff("ops", OPERATORS))
    response = client.post(f"/admin/events/datasource/{datasource.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not DataSource.objects.filter(slug="old").exists() and Token.objects.count() == 0


@pytest.mark.parametrize("role", ["staff without a role", "viewer", "report staff"])
def test_staff_on_the_barchart_report_api_need_the_same_rights(world, role, client):
    # Staff may also use the Barchart report endpoints (HTTP Basic), acting for any customer.
    credentials = base64.b64encode(f"{world.user.username}:long-enough-pass-1".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    started = client.post("/reports", {"filter": {"customer": "TGAM", "product": "WATCHLIST"},
                                       "output": {"delimiter": "|"}}, content_type="application/json", headers=headers)
    own = client.get(f"/reports/{world.own_job.source}", headers=headers)
    other = client.get(f"/reports/{world.other_job.source}", headers=headers)
    may = role == REPORTS
    assert (started.status_code, own.status_code, other.status_code) == ((200, 200, 403) if may else (403, 403, 403))
    assert ReportJob.objects.count() == (3 if may else 2)
    if may:
        assert "/exports/" in own.json()["link"]
    availability = [client.get(f"/reports/{job.source}/availability", headers=headers).status_code
                    for job in (world.own_job, world.other_job)]
    # Their own job's status, and another's only with VIEW_ALL_REPORTS (the viewer's).
    assert availability == ([200, 200] if role == "viewer" else [200, 403])


@pytest.mark.parametrize("role", ["superuser", "operator", "privacy officer"])
def test_staff_whose_rights_need_a_second_factor_are_refused_basic_auth_on_reports(world, role, client):
    credentials = base64.b64encode(f"{world.user.username}:long-enough-pass-1".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    started = client.post("/reports", {"filter": {"customer": "TGAM", "product": "WATCHLIST"},
                                       "output": {"delimiter": "|"}}, content_type="application/json", headers=headers)
    seen = client.get(f"/reports/{world.other_job.source}/availability", headers=headers)
    link = client.get(f"/reports/{world.other_job.source}", headers=headers)
    assert (started.status_code, seen.status_code, link.status_code) == (401, 401, 401)
    assert ReportJob.objects.count() == 2
