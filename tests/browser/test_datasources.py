"""A datasource's page: what blocks a delete, with links; the slug frozen once clients use it."""

from playwright.sync_api import expect


def test_deleting_a_datasource_in_use_says_what_blocks_it(staff_page, product, datasource, snap):
    assert product.post_events(datasource["token"], [{"type": "pv"}]).status_code == 200
    page = staff_page
    page.goto(f"/admin/events/datasource/{datasource['id']}/change/")
    expect(page.locator("input#id_slug")).to_have_count(0)  # read-only: it has tokens and events
    expect(page.locator("#content-main")).not_to_contain_text("Epoch")
    page.click("a.deletelink")
    blockers = page.locator("#delete-blockers")
    expect(blockers).to_contain_text("1 token(s) not revoked")
    expect(blockers).to_contain_text("It still has events")
    expect(page.locator("#content-main")).not_to_contain_text("permission")
    snap(page, "datasource-delete-blocked")
    page.click("text=Its tokens")
    expect(page.locator("#result_list")).to_contain_text(datasource["token"][:12])
    assert product.scalar("SELECT count(*) FROM events_datasource WHERE slug = %s", (datasource["slug"],)) == 1
