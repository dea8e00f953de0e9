"""Tokens in the console, as a staff user does it in a real browser."""

import re
import time

from playwright.sync_api import expect

TOKEN_CACHE_SECONDS = 5  # the product runs with the default


def _tokens_of(product, slug: str) -> list[tuple]:
    return product.sql("SELECT t.hint, t.revoked_at FROM tokens_token t JOIN events_datasource d "
                       "ON d.id = t.datasource_id WHERE d.slug = %s ORDER BY t.id", (slug,))


def test_issuing_a_token_shows_it_once_and_reload_or_back_never_issue_another(staff_page, product, datasource,
                                                                              snap):
    page = staff_page
    before = len(_tokens_of(product, datasource["slug"]))  # the fixture's ingest token
    page.goto("/admin/tokens/token/add/")
    page.select_option("#id_datasource", label=datasource["slug"])
    page.select_option("#id_scope", "purge")
    page.fill("#id_label", "browser test")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/tokens/token/\d+/issued/$"))
    raw = page.input_value("#raw-token")
    assert raw.startswith("evs_")
    snap(page, "token-issued")
    tokens = _tokens_of(product, datasource["slug"])
    assert len(tokens) == before + 1 and tokens[-1][0] == raw[:12]

    page.reload()
    expect(page.locator("#token-already-shown")).to_contain_text("already shown")
    assert raw not in page.content()
    snap(page, "token-issued-reloaded")
    page.go_back()  # the add form
    page.go_forward()  # the issued page again: refetched (no-store), nothing to show
    expect(page.locator("#token-already-shown")).to_be_visible()
    assert raw not in page.content()
    assert len(_tokens_of(product, datasource["slug"])) == before + 1

    # History (the admin log, "Recent actions") names the token by its hint.
    logged = product.scalar("SELECT object_repr FROM django_admin_log ORDER BY id DESC LIMIT 1")
    assert logged == f"{raw[:12]}… (purge, {datasource['slug']})"


def test_revoking_a_token_asks_first_and_then_stops_it(staff_page, product, datasource, snap):
    page = staff_page
    token = datasource["token"]
    assert product.post_events(token, [{"type": "pv"}]).status_code == 200
    hint = token[:12]
    page.goto(f"/admin/tokens/token/?status=active&q={hint}")
    page.click(f"text={hint}")
    page.click("#revoke-token")
    expect(page.locator("#content-main")).to_contain_text("Revoke the ingest token")
    assert _tokens_of(product, datasource["slug"])[0][1] is None  # asking is not revoking
    snap(page, "token-revoke-confirm")
    page.click("#confirm-revoke")
    expect(page.locator(".messagelist")).to_contain_text("Revoked token")
    assert _tokens_of(product, datasource["slug"])[0][1] is not None
    # The worker that revoked it forgets it at once; the other gunicorn worker may still hold it in its
    # token cache for TOKEN_CACHE_SECONDS (5, the documented window). A first 401 may come from the
    # revoking worker only, so wait the window out, then every worker must refuse it.
    time.sleep(TOKEN_CACHE_SECONDS + 1)
    assert [product.post_events(token, [{"type": "pv"}]).status_code for _ in range(6)] == [401] * 6
    page.goto(f"/admin/tokens/token/?status=revoked&q={hint}")
    expect(page.locator("#result_list")).to_contain_text(hint)
    page.goto(f"/admin/tokens/token/?status=active&q={hint}")
    expect(page.locator("#result_list")).to_have_count(0)
