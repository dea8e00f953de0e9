"""Uploading an event-type catalog in the console: all or nothing, problems listed by line."""

import json

from playwright.sync_api import expect

CATALOG = {
    "customers": [{"code": "TGAM"}, {"code": "BARCHART"}],
    "products": [{"code": "WATCHLIST"}],
    "eventTypes": [
        {"code": "WATCHLIST-SYMBOL-ADDED", "product": "WATCHLIST", "contextKeys": ["userId", "symbol"],
         "contextRules": {"TGAM": ["string", "string"]}},
    ],
}


def _types_of(product, slug: str) -> list[str]:
    return [row[0] for row in product.sql(
        "SELECT t.code FROM events_catalogeventtype t JOIN events_datasource d ON d.id = t.datasource_id "
        "WHERE d.slug = %s ORDER BY t.code", (slug,))]


def upload_catalog(page, slug: str, document_text: str) -> None:
    page.goto("/admin/events/catalogeventtype/")
    page.click("#upload-catalog")
    page.select_option("#id_datasource", label=slug)
    page.set_input_files("#id_file", files=[{"name": "barchart-event-types.json", "mimeType": "application/json",
                                             "buffer": document_text.encode()}])
    page.click("#import-catalog")


def test_a_catalog_with_a_bad_line_shows_the_line_and_imports_nothing(staff_page, product, datasource, snap):
    slug = datasource["slug"]
    page = staff_page
    upload_catalog(page, slug, json.dumps(CATALOG, indent=2))
    expect(page.locator(".messagelist")).to_contain_text("Imported 2 customers, 1 products and 1 event types")
    assert _types_of(product, slug) == ["WATCHLIST-SYMBOL-ADDED"]

    bad = {**CATALOG, "eventTypes": [*CATALOG["eventTypes"],
                                     {"code": "PORTFOLIO-LOADED", "product": "PORTFOLIO", "contextKeys": []}]}
    text = json.dumps(bad, indent=2)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "PORTFOLIO-LOADED" in row) - 1
    upload_catalog(page, slug, text)
    expect(page.locator("#catalog-problems")).to_contain_text(
        f"line {line}: eventTypes[1] (PORTFOLIO-LOADED): product 'PORTFOLIO' is not in products")
    snap(page, "catalog-upload-bad-line")
    assert _types_of(product, slug) == ["WATCHLIST-SYMBOL-ADDED"]  # the earlier catalog, whole

    upload_catalog(page, slug, '{"customers": [')
    expect(page.locator("#catalog-problems")).to_contain_text("line 1: not valid JSON")
    assert _types_of(product, slug) == ["WATCHLIST-SYMBOL-ADDED"]
