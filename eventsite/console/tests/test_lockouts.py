"""Locked-out admin logins (django-axes): listed in the console and unlocked from it."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client

from tests.logins import console_login

pytestmark = pytest.mark.django_db


def fail_logins(username: str, times: int) -> Client:
    browser = Client()
    for _ in range(times):
        browser.post("/admin/login/?next=/admin/", {"username": username, "password": "wrong"})
    return browser


def test_a_locked_out_admin_is_listed_and_can_be_unlocked(admin_client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_user("bob", password="right-pass-123", is_staff=True)
    browser = fail_logins("bob", settings.AXES_FAILURE_LIMIT)
    refused = browser.post("/admin/login/?next=/admin/", {"username": "bob", "password": "right-pass-123"})
    assert refused.status_code == 429

    listing = admin_client.get("/admin/lockouts/")
    assert listing.status_code == 200
    assert 'data-username="bob"' in listing.content.decode()
    assert "Locked-out admin logins" in admin_client.get("/admin/").content.decode()

    unlocked = admin_client.post("/admin/lockouts/unlock/", {"username": "bob", "ip_address": "127.0.0.1"},
                                 follow=True)

    assert unlocked.status_code == 200
    assert "Unlocked bob from 127.0.0.1" in unlocked.content.decode()
    assert not AccessAttempt.objects.filter(username="bob").exists()
    assert 'data-username="bob"' not in unlocked.content.decode()
    logged_in = browser.post("/admin/login/?next=/admin/", {"username": "bob", "password": "right-pass-123"})
    assert logged_in.status_code == 302


def test_a_few_failures_are_not_a_lockout(admin_client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    fail_logins("carol", settings.AXES_FAILURE_LIMIT - 1)
    assert AccessAttempt.objects.filter(username="carol").exists()
    assert 'data-username="carol"' not in admin_client.get("/admin/lockouts/").content.decode()


def test_unlocking_needs_a_post_and_staff(admin_client):
    fail_logins("bob", 1)
    assert admin_client.get("/admin/lockouts/unlock/").status_code == 405
    anonymous = Client().post("/admin/lockouts/unlock/", {"username": "bob"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    assert AccessAttempt.objects.filter(username="bob").exists()


def test_unlocking_needs_the_permission_to_delete_attempts(client, settings):
    from django.contrib.auth.models import Permission

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    fail_logins("bob", settings.AXES_FAILURE_LIMIT)
    staff = User.objects.create_user("viewer", password="x-pass-123", is_staff=True)
    console_login(client, staff)
    assert client.get("/admin/lockouts/").status_code == 403

    staff.user_permissions.add(Permission.objects.get(codename="view_accessattempt"))
    assert client.get("/admin/lockouts/").status_code == 200
    assert client.post("/admin/lockouts/unlock/", {"username": "bob", "ip_address": "127.0.0.1"}).status_code == 403
    assert AccessAttempt.objects.filter(username="bob").exists()
