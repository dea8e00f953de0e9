"""Helpers for tests against a live gunicorn (started the production way by bench.soak.live_gunicorn)."""

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


__all__ = ["live_database_url", "print_figures", "stored_event_ids"]
