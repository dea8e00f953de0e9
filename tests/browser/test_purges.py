"""Purges from a datasource's page: the dry run binds the confirmation; Enter never purges."""

import re

from playwright.sync_api import expect


def _events_of(product, slug: str) -> int:
    return product.scalar("SELECT count(*) FROM events_event e JOIN events_datasource d ON d.id = e.datasource_id "
                          "WHERE d.slug = %s AND e.epoch = d.epoch", (slug,))


def test_a_user_purge_needs_its_dry_run_and_enter_after_an_edit_purges_nothing(staff_page, product, datasource,
                                                                                snap):
    slug = datasource["slug"]
    assert product.post_events(datasource["token"], [
        {"type": "a", "user_id": {"email": "ann@example.com"}},
        {"type": "b", "user_id": {"email": "ANN@example.com"}},
        {"type": "c", "user_id": {"email": "bob@example.com"}},
    ]).status_code == 200
    page = staff_page
    page.goto(f"/admin/events/datasource/{datasource['id']}/change/")
    page.click("text=Purge a user")
    page.select_option("#id_user_id_type", "email")
    page.fill("#id_user_id", "ann@example.com")
    page.press("#id_user_id", "Enter")  # Enter runs the dry run
    expect(page.locator("#preview-count")).to_have_text("2")
    snap(page, "purge-user-dry-run")
    # Edit the id and press Enter: a new dry run for bob, nothing purged.
    page.fill("#id_user_id", "bob@example.com")
    expect(page.locator("#dry-run-result")).to_be_hidden()
    page.press("#id_user_id", "Enter")
    expect(page.locator("#preview-count")).to_have_text("1")
    assert _events_of(product, slug) == 3
    assert product.scalar("SELECT count(*) FROM events_purgeaudit WHERE datasource_slug = %s", (slug,)) == 0
    page.click("#confirm")
    expect(page.locator(".messagelist")).to_contain_text("Purged 1 event(s) of the user with that email")
    snap(page, "purge-user-done")
    assert _events_of(product, slug) == 2
    audit_id = product.scalar("SELECT id FROM events_purgeaudit WHERE datasource_slug = %s", (slug,))
    page.click(f"text=Audit #{audit_id}")
    expect(page).to_have_url(re.compile(rf"/admin/events/purgeaudit/{audit_id}/change/$"))
    expect(page.locator("#content")).to_contain_text("email")


def test_purging_all_events_asks_once_and_a_resubmit_purges_nothing_more(staff_page, product, datasource, snap):
    slug = datasource["slug"]
    assert product.post_events(datasource["token"], [{"type": "pv"}] * 4).status_code == 200
    page = staff_page
    page.goto(f"/admin/events/datasource/{datasource['id']}/change/")
    page.click("text=Purge all events")
    expect(page.locator("#preview-count")).to_have_text("4")
    snap(page, "purge-dataset-confirm")
    page.click("#confirm")
    expect(page.locator(".messagelist")).to_contain_text(f"Purged datasource {slug}: its 4 events")
    assert _events_of(product, slug) == 0
    page.go_back()  # the confirm page again: a fresh dry run, nothing left to purge
    expect(page.locator("#nothing-to-purge")).to_be_visible()
    expect(page.locator("#confirm")).to_have_count(0)
    assert product.scalar("SELECT count(*) FROM events_purgeaudit WHERE datasource_slug = %s", (slug,)) == 1
