"""Helpers for tests against a live gunicorn (started the production way by bench.soak.live_gunicorn)."""

import urllib.error
import urllib.request

import orjson
from django.db import connection

from bench.soak import print_figures


def live_database_url() -> str:
    """The URL of the test database pytest-django created, for a server in another process."""
    s = connection.settings_dict
    credentials = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{credentials}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def stored_event_ids(datasource) -> list[str]:
    from events.selectors import events_of_datasource

    connection.close()  # the server may have been restarted under us: reconnect
    return list(events_of_datasource(datasource=datasource).values_list("event_id", flat=True))


def post_event(port: int, token: str, events, headers: dict | None = None) -> int:
    """POST events to a live server's kSense post_event; the status code, errors included."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/events/post_event", data=orjson.dumps(events), method="POST",
        headers={"Content-Type": "application/json", "X-KSense-Tok": token, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


__all__ = ["live_database_url", "post_event", "print_figures", "stored_event_ids"]
