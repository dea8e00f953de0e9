"""Console details outside the apps' own admin pages."""

import pytest

from tests.logins import console_login

pytestmark = pytest.mark.django_db


def test_it_serves_a_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header


def test_view_site_leads_to_the_console(client, admin_user):
    console_login(client, admin_user)
    page = client.get("/admin/tokens/token/").content.decode()
    assert '<a href="/admin/">View site</a>' in page
