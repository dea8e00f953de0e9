import pytest
from django.contrib.auth.models import User

from eventsite.console.rejections import rejections_pending_clear
from tests.logins import console_login


@pytest.fixture
def admin_client(client, db):
    user = User.objects.create_superuser("admin", "admin@example.com", "s3cret-pass")
    console_login(client, user)
    return client


@pytest.fixture(autouse=True)
def _no_pending_rejections():
    # Counts are per process: a test starts with none left over from another.
    rejections_pending_clear()
    yield
    rejections_pending_clear()


def post_events(client, token, count: int, *, type_: str = "pv"):
    response = client.post("/api/v2/events/post_event", [{"type": type_}] * count, content_type="application/json",
                           headers={"X-KSense-Tok": token})
    assert response.status_code == 200, response.content
    return response
