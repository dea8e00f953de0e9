"""Soak with accounting against a live gunicorn on PostgreSQL (issue 7, part 3).

CI runs ~30 s (EVENTSITE_SOAK_SECONDS, default 30) because the suite runs twice in CI's budget;
`make soak` runs the same driver for 2 minutes (bench/soak.py). Run with -s to see the figures.
"""

import os
import urllib.request

import pytest

from bench.soak import live_gunicorn, soak
from tests.factories import make_datasource, make_token
from tests.live import live_database_url, print_figures, stored_event_ids
from tests.services import requires_postgres

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.slow]
SOAK_SECONDS = float(os.environ.get("EVENTSITE_SOAK_SECONDS", "30"))


def test_it_stores_exactly_the_acknowledged_events_under_sustained_load(transactional_db, tmp_path, capsys):
    datasource = make_datasource(slug="soak")
    token = make_token(datasource=datasource, scope="ingest")
    with live_gunicorn(database_url=live_database_url(), log_dir=tmp_path) as (port, process):
        acc = soak(port=port, token=token.raw, seconds=SOAK_SECONDS, producers=6)
        assert process.poll() is None  # gunicorn is still up
    stored = stored_event_ids(datasource)
    with capsys.disabled():  # figures for the README, shown even without -s
        print_figures(
            f"soak: {SOAK_SECONDS:.0f} s, 6 producers, gunicorn 2 workers x 4 threads",
            acc.figures(len(stored), len(set(stored))),
        )
    assert acc.requests > 0 and acc.acknowledged
    assert dict(acc.statuses) == {200: acc.requests}  # no 5xx, no 4xx, nothing but 200
    assert acc.connection_errors == 0
    assert len(stored) == len(set(stored))  # no duplicates
    assert set(stored) == acc.acknowledged  # stored == acknowledged, event for event


def test_it_keeps_query_string_tokens_out_of_the_gunicorn_access_log(transactional_db, tmp_path):
    datasource = make_datasource(slug="logs")
    token = make_token(datasource=datasource, scope="ingest")
    with live_gunicorn(database_url=live_database_url(), log_dir=tmp_path) as (port, _process):
        for query in (f"token={token.raw}", f"x=1&tok={token.raw}", "token=not-a-real-token-123"):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v2/events/post_event?{query}", data=b'{"type":"pv"}',
                # A client-sent copy of the internal header must not reach the log either.
                headers={"Content-Type": "application/json", "X-Scrubbed-Query": "forged-line"}, method="POST",
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except urllib.error.HTTPError as error:
                assert error.code == 401  # the made-up token
    # gunicorn writes its access log line after the response; it is flushed on shutdown.
    access = (tmp_path / "access.log").read_text()
    errors = (tmp_path / "error.log").read_text()
    assert access.count("/api/v2/events/post_event") == 3
    assert "token=[redacted]" in access and "tok=[redacted]" in access and "x=1" in access
    assert token.raw not in access and "not-a-real-token-123" not in access and "forged-line" not in access
    assert token.raw not in errors and "not-a-real-token-123" not in errors
    assert len(stored_event_ids(datasource)) == 2
