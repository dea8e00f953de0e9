"""Purging from the admin: dry-run count first, then the same service as the API."""

import re

import pytest

from events.models import Event, PurgeAudit, Suppression
from tests.logins import console_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, admin_user):
    console_login(client, admin_user)
    return client


def seed(client, token):
    client.post("/api/v2/events/post_event", [
        {"type": "a", "user_id": {"email": "ann@example.com"}},
        {"type": "b", "user_id": {"email": "ANN@example.com"}},
        {"type": "c", "user_id": {"email": "bob@example.com"}},
    ], content_type="application/json", headers={"X-KSense-Tok": token})
    assert Event.objects.count() == 3


def test_the_datasource_page_links_to_both_purges(staff, datasource):
    page = staff.get(f"/admin/events/datasource/{datasource.pk}/change/").content.decode()
    assert "purge-user/" in page and "purge-dataset/" in page


def _confirmation(response) -> str:
    return re.search(r'name="confirmation" value="([^"]+)"', response.content.decode()).group(1)


def test_purging_a_user_shows_a_dry_run_count_then_purges_what_was_counted(staff, ingest_token, admin_user):
    seed(staff, ingest_token.raw)
    url = f"/admin/events/datasource/{ingest_token.token.datasource_id}/purge-user/"
    form = {"user_id_type": "email", "user_id": "Ann@Example.com", "suppress": "on"}
    preview = staff.post(url, {**form, "preview": "1"})
    assert preview.status_code == 200
    assert '<span id="preview-count">2</span> event(s)' in preview.content.decode()
    assert Event.objects.count() == 3 and PurgeAudit.objects.count() == 0
    # The editable fields are ignored on confirm: only the signed dry run counts.
    done = staff.post(url, {"user_id_type": "email", "user_id": "bob@example.com",
                            "confirmation": _confirmation(preview)}, follow=True)
    audit = PurgeAudit.objects.get()
    page = done.content.decode()
    assert "Purged 2 event(s) of the user with that email and suppressed their later events" in page
    assert f'href="/admin/events/purgeaudit/{audit.pk}/change/">Audit #{audit.pk}</a>' in page
    assert list(Event.objects.values_list("type", flat=True)) == ["c"]
    assert (audit.actor_user, audit.events_deleted, audit.suppressed, audit.user_id_type) == (
        admin_user, 2, True, "email")
    assert Suppression.objects.filter(lifted_at=None).count() == 1


def test_a_purge_without_a_dry_run_or_with_a_stale_count_purges_nothing(staff, ingest_token):
    seed(staff, ingest_token.raw)
    url = f"/admin/events/datasource/{ingest_token.token.datasource_id}/purge-user/"
    # The old one-step post (fields + confirm) is now just a dry run.
    response = staff.post(url, {"user_id_type": "email", "user_id": "ann@example.com", "confirm": "1"})
    assert response.status_code == 200 and Event.objects.count() == 3
    forged = staff.post(url, {"confirmation": "not-signed"}, follow=True)
    assert "Nothing was purged" in forged.content.decode()
    preview = staff.post(url, {"user_id_type": "email", "user_id": "ann@example.com", "preview": "1"})
    staff.post("/api/v2/events/post_event", {"type": "d", "user_id": {"email": "ann@example.com"}},
               content_type="application/json", headers={"X-KSense-Tok": ingest_token.raw})
    stale = staff.post(url, {"confirmation": _confirmation(preview)}, follow=True)
    assert "The count changed from 2 to 3" in stale.content.decode()
    assert Event.objects.count() == 4 and PurgeAudit.objects.count() == 0


def test_a_bad_user_id_is_reported_on_the_form(staff, ingest_token):
    seed(staff, ingest_token.raw)
    url = f"/admin/events/datasource/{ingest_token.token.datasource_id}/purge-user/"
    response = staff.post(url, {"user_id_type": "phone", "user_id": "no digits", "preview": "1"})
    assert response.status_code == 200
    assert "has no digits" in response.content.decode()
    assert Event.objects.count() == 3 and PurgeAudit.objects.count() == 0


def test_purging_the_datasource_from_the_admin(staff, ingest_token, admin_user):
    seed(staff, ingest_token.raw)
    url = f"/admin/events/datasource/{ingest_token.token.datasource_id}/purge-dataset/"
    preview = staff.get(url)
    assert '<span id="preview-count">3</span> event(s)' in preview.content.decode()
    unsigned = staff.post(url, {"confirm": "1"})  # no signed dry run: just the dry run again
    assert unsigned.status_code == 200 and '<span id="preview-count">3</span>' in unsigned.content.decode()
    assert "Nothing was purged" in staff.post(url, {"confirmation": "forged"}, follow=True).content.decode()
    assert PurgeAudit.objects.count() == 0 and Event.objects.count() == 3
    done = staff.post(url, {"confirmation": _confirmation(preview)}, follow=True)
    audit = PurgeAudit.objects.get()
    assert "Purged datasource web: its 3 events" in done.content.decode()
    assert f"Audit #{audit.pk}" in done.content.decode() and audit.kind == "dataset"
    again = staff.post(url, {"confirmation": _confirmation(preview)}, follow=True)  # a resubmitted page
    assert "Nothing was purged" in again.content.decode() and PurgeAudit.objects.count() == 1
    assert '<span id="preview-count">0</span> event(s)' in staff.get(url).content.decode()


def test_a_datasource_goes_only_without_events_and_live_tokens_and_says_what_blocks_it(staff, ingest_token):
    from events.models import DataSource, EpochReclaim
    from reports.purges import Actor, purge_dataset, purge_dataset_reclaim
    from tokens.services import token_revoke

    seed(staff, ingest_token.raw)
    datasource = ingest_token.token.datasource
    delete_url = f"/admin/events/datasource/{datasource.pk}/delete/"
    blocked = staff.post(delete_url, {"post": "yes"}).content.decode()
    assert "1 token(s) not revoked" in blocked and "It still has events" in blocked
    assert f"?datasource__id__exact={datasource.pk}&amp;status=active" in blocked
    assert "purge-dataset/" in blocked and "permission" not in blocked
    audit = purge_dataset(datasource=datasource, actor=Actor(label="test"))
    assert "being reclaimed in the background" in staff.get(delete_url).content.decode()
    purge_dataset_reclaim(reclaim_id=EpochReclaim.objects.get(audit=audit).pk)
    token_revoke(token=ingest_token.token)
    confirm = staff.get(delete_url).content.decode()
    assert "Are you sure" in confirm and "EpochReclaim" not in confirm and "Epoch reclaim" not in confirm
    assert DataSource.objects.filter(pk=datasource.pk).exists()
    assert staff.post(delete_url, {"post": "yes"}).status_code == 302
    assert not DataSource.objects.filter(pk=datasource.pk).exists()


def test_the_slug_is_read_only_once_the_datasource_has_tokens(staff, datasource):
    page = staff.get(f"/admin/events/datasource/{datasource.pk}/change/").content.decode()
    assert 'name="slug"' in page and 'name="epoch"' not in page and "slug-frozen" not in page
    from tests.factories import make_token

    make_token(datasource=datasource)
    response = staff.post(f"/admin/events/datasource/{datasource.pk}/change/", {"slug": "renamed", "name": "x",
                                                                               "allowed_origins": ""})
    assert response.status_code == 302
    datasource.refresh_from_db()
    assert (datasource.slug, datasource.name) == ("web", "x")
    assert "The slug is read-only" in staff.get(f"/admin/events/datasource/{datasource.pk}/change/").content.decode()



def test_audit_and_suppressions_are_read_only_lists(staff):
    assert staff.get("/admin/events/purgeaudit/").status_code == 200
    assert staff.get("/admin/events/purgeaudit/add/").status_code == 403
    assert staff.get("/admin/events/suppression/").status_code == 200
