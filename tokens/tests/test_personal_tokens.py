"""Personal API tokens: the services, the command, and the console pages (tokens/personal_admin.py)."""

import hashlib
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.utils import timezone

from eventsite.lib.errors import AuthenticationFailed, InvalidInput
from tests.logins import console_login
from tokens.models import PersonalToken
from tokens.services import (
    PERSONAL_TOKEN_PREFIX,
    TOKEN_PREFIX,
    personal_token_authenticate,
    personal_token_issue,
    personal_token_revoke,
)

pytestmark = pytest.mark.django_db

PASSWORD = "long-enough-pass-1"
ADD = "/admin/tokens/personaltoken/add/"
LIST = "/admin/tokens/personaltoken/"


@pytest.fixture
def ann(db):
    """Staff who may list datasources (a right that needs no second factor)."""
    user = User.objects.create_user("ann", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="events", codename="view_datasource"))
    return user


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password=PASSWORD, is_staff=True)


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


# Services


def test_it_issues_a_token_stored_only_as_its_hash(ann):
    issued = personal_token_issue(user=ann, label="nightly sync", expires_in_days=30)
    assert issued.raw.startswith(PERSONAL_TOKEN_PREFIX) and PERSONAL_TOKEN_PREFIX != TOKEN_PREFIX
    token = PersonalToken.objects.get()
    assert token.secret_hash == hashlib.sha256(issued.raw.encode()).hexdigest()
    assert token.hint == issued.raw[:12] and token.label == "nightly sync" and token.user == ann
    assert issued.raw not in {getattr(token, field.attname) for field in PersonalToken._meta.concrete_fields}
    assert token.expires_at > timezone.now() + timedelta(days=29)


@pytest.mark.parametrize("kwargs", [{"expires_in_days": 0}, {"expires_at": "past"}])
def test_it_refuses_an_expiry_that_is_not_in_the_future(ann, kwargs):
    if kwargs.get("expires_at") == "past":
        kwargs = {"expires_at": timezone.now() - timedelta(minutes=1)}
    with pytest.raises(InvalidInput):
        personal_token_issue(user=ann, **kwargs)
    assert not PersonalToken.objects.exists()


def test_it_refuses_to_issue_a_token_for_a_user_who_is_not_staff(db):
    plain = User.objects.create_user("plain", password=PASSWORD)
    with pytest.raises(InvalidInput):
        personal_token_issue(user=plain)
    assert not PersonalToken.objects.exists()


def test_revoking_is_idempotent_and_keeps_the_first_time(ann):
    issued = personal_token_issue(user=ann)
    first = personal_token_revoke(token=issued.token).revoked_at
    personal_token_revoke(token=PersonalToken.objects.get())
    assert PersonalToken.objects.get().revoked_at == first is not None
    with pytest.raises(AuthenticationFailed, match="revoked"):
        personal_token_authenticate(raw=issued.raw)


def test_authenticating_writes_last_used_at_at_most_once_a_minute(ann):
    issued = personal_token_issue(user=ann)
    personal_token_authenticate(raw=issued.raw)
    first = PersonalToken.objects.get().last_used_at
    personal_token_authenticate(raw=issued.raw)
    assert PersonalToken.objects.get().last_used_at == first is not None


def test_the_command_prints_only_the_raw_token(ann):
    out = StringIO()
    call_command("issue_personal_token", "ann", "--label", "bootstrap", stdout=out)
    raw = out.getvalue()
    assert raw.count("\n") == 1 and raw.startswith(PERSONAL_TOKEN_PREFIX)
    assert PersonalToken.objects.get().secret_hash == hashlib.sha256(raw.strip().encode()).hexdigest()


@pytest.mark.parametrize("username", ["nobody", "plain"])
def test_the_command_fails_clearly_for_an_unknown_or_non_staff_user(db, username):
    User.objects.create_user("plain", password=PASSWORD)
    with pytest.raises(CommandError):
        call_command("issue_personal_token", username, stdout=StringIO())
    assert not PersonalToken.objects.exists()


# Console


def _issue_in_console(client, label="script") -> str:
    response = client.post(ADD, {"label": label, "expires_at_0": "", "expires_at_1": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    issued_page = client.get(response["Location"])
    assert issued_page.status_code == 200 and "no-store" in issued_page["Cache-Control"]
    return re.search(r'id="raw-token"[^>]*value="([^"]+)"', issued_page.content.decode()).group(1)


def test_a_staff_user_issues_their_own_token_shown_once(client, ann):
    console_login(client, ann)
    raw = _issue_in_console(client)
    token = PersonalToken.objects.get()
    assert token.user == ann and token.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
    again = client.get(f"{LIST}{token.pk}/issued/")
    assert again.status_code == 200
    assert raw not in again.content.decode() and 'id="token-already-shown"' in again.content.decode()
    # The token works in the management API.
    assert client.get("/api/manage/datasources/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_a_staff_user_sees_and_revokes_only_their_own_tokens(client, ann, bob):
    mine = personal_token_issue(user=ann, label="mine").token
    theirs = personal_token_issue(user=bob, label="theirs").token
    console_login(client, ann)
    listing = client.get(LIST).content.decode()
    assert mine.hint in listing and theirs.hint not in listing
    assert client.get(f"{LIST}{theirs.pk}/change/").status_code in (302, 403, 404)
    assert client.post(f"{LIST}{theirs.pk}/revoke/").status_code == 403
    # The bulk action, forged with the other user's id, does not reach it either.
    client.post(LIST, {"action": "revoke_personal_tokens", "_selected_action": [theirs.pk, mine.pk]})
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.revoked_at is None and mine.revoked_at is not None


def test_revoking_asks_first_then_revokes_and_logs(client, ann):
    token = personal_token_issue(user=ann).token
    console_login(client, ann)
    ask = client.get(f"{LIST}{token.pk}/revoke/")
    assert ask.status_code == 200 and 'id="confirm-revoke"' in ask.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    assert client.post(f"{LIST}{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert LogEntry.objects.filter(object_id=str(token.pk), change_message="Revoked").exists()


def test_a_superuser_sees_and_revokes_anyones_token(client, root, bob):
    token = personal_token_issue(user=bob).token
    console_login(client, root)
    assert token.hint in client.get(LIST).content.decode()
    assert client.post(f"{LIST}{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_issued_page_of_another_users_token_is_refused(client, ann, bob):
    console_login(client, bob)
    _issue_in_console(client)
    token = PersonalToken.objects.get()
    client.logout()
    console_login(client, ann)
    assert client.get(f"{LIST}{token.pk}/issued/").status_code == 403


def test_the_console_refuses_an_expiry_in_the_past(client, ann):
    console_login(client, ann)
    response = client.post(ADD, {"label": "x", "expires_at_0": "2000-01-01", "expires_at_1": "00:00:00"})
    assert response.status_code == 200 and "Must be in the future" in response.content.decode()
    assert not PersonalToken.objects.exists()


def test_nobody_deletes_a_personal_token(client, root):
    token = personal_token_issue(user=root).token
    console_login(client, root)
    assert client.post(f"{LIST}{token.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PersonalToken.objects.filter(pk=token.pk).exists()


def test_the_list_filters_tokens_by_status(client, ann):
    active = personal_token_issue(user=ann, label="active-one").token
    revoked = personal_token_revoke(token=personal_token_issue(user=ann, label="revoked-one").token)
    expired = personal_token_issue(user=ann, label="expired-one").token
    PersonalToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    console_login(client, ann)

    for status, shown in [("active", active), ("revoked", revoked), ("expired", expired)]:
        page = client.get(f"{LIST}?status={status}").content.decode()
        labels = {label for label in ("active-one", "revoked-one", "expired-one") if label in page}
        assert labels == {shown.label}, status
