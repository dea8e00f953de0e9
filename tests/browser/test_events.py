"""The Events list as a staff user uses it: find a user's events, page through a long list."""

from playwright.sync_api import expect


def test_search_by_email_finds_the_users_events_in_any_case(staff_page, product, datasource, snap):
    token = datasource["token"]
    response = product.post_events(token, [
        {"event_id": "ann-1", "type": "pv", "user_id": {"email": "ann@example.com"}},
        {"event_id": "ann-2", "type": "purchase", "user_id": {"email": "Ann@Example.COM "}},
        {"event_id": "bob-1", "type": "pv", "user_id": {"email": "bob@example.com"}},
    ])
    assert response.status_code == 200
    page = staff_page
    page.goto(f"/admin/events/event/?datasource__id__exact={datasource['id']}")
    expect(page.locator("#event-count")).to_have_text("3 events")
    page.select_option("#search-kind", "email")
    page.fill("#searchbar", "ANN@example.com")
    page.press("#searchbar", "Enter")
    expect(page.locator("#event-count")).to_have_text("2 events")
    expect(page.locator("#result_list")).to_contain_text("ann-1")
    expect(page.locator("#result_list")).to_contain_text("ann-2")
    expect(page.locator("#result_list")).not_to_contain_text("bob-1")
    snap(page, "events-search-by-email")


def test_older_and_newer_reach_every_event(staff_page, product, datasource):
    token = datasource["token"]
    assert product.post_events(token, [{"event_id": f"e-{n:03}", "type": "pv"} for n in range(120)]).status_code == 200
    page = staff_page
    page.goto(f"/admin/events/event/?datasource__id__exact={datasource['id']}")
    seen = []
    while True:
        seen += page.locator("#result_list td.field-event_id").all_inner_texts()
        if page.locator("#older").count() == 0:
            break
        with page.expect_navigation():  # read the next page's rows, not this one's
            page.click("#older")
    assert sorted(seen) == [f"e-{n:03}" for n in range(120)] and len(set(seen)) == 120
    with page.expect_navigation():
        page.click("#newer")
    expect(page.locator("#result_list td.field-event_id").first).to_have_text("e-069")
