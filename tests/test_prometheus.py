"""A real Prometheus server scrapes a live gunicorn (2 workers, multiprocess metrics) with the bearer
token, and the series read back through Prometheus' HTTP API add up to exactly what was posted.

Prometheus comes from the Debian package (`.ci/run` installs it); the test starts the binary itself
with a temporary config and storage directory on a free loopback port.
"""

import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from bench.soak import free_port, live_gunicorn
from tests.factories import make_datasource, make_token
from tests.live import live_database_url, post_event, stored_event_ids
from tests.services import requires_postgres

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    requires_postgres, pytest.mark.postgres, pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus binary (apt-get install prometheus; CI does)"),
]
METRICS_TOKEN = "scrape-token-" + "0123456789abcdef"


@contextlib.contextmanager
def prometheus(tmp_path, target: str):
    port = free_port(from_the_top=True)
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{
            "job_name": "eventsite",
            "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials": METRICS_TOKEN},
            "static_configs": [{"targets": [target]}],
        }],
    }))
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=log, start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def query(base: str, promql: str) -> list:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success"
    return body["data"]["result"]


def wait_for_value(base: str, promql: str, expected: float, timeout: float = 90) -> float:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            result = query(base, promql)
            if result:
                last = float(result[0]["value"][1])
                if last == expected:
                    return last
        time.sleep(0.5)
    raise AssertionError(f"{promql} was {last}, expected {expected}")




def test_prometheus_scrapes_eventsite_and_the_figures_add_up(transactional_db, tmp_path):
    datasource = make_datasource(slug="scraped")
    token = make_token(datasource=datasource, scope="ingest")
    with live_gunicorn(database_url=live_database_url(), log_dir=tmp_path, METRICS_TOKEN=METRICS_TOKEN,
                       PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "multiproc")) as (port, process):
        # Each request on a new connection: both gunicorn workers serve some of them.
        statuses = [post_event(port, token.raw, [{"type": "pv"}] * 3) for _ in range(12)]
        statuses.append(post_event(port, "evs_not-a-real-token", [{"type": "pv"}]))
        assert statuses == [200] * 12 + [401], (tmp_path / "error.log").read_text()[-3000:]
        with prometheus(tmp_path, f"127.0.0.1:{port}") as base:
            assert wait_for_value(base, 'up{job="eventsite"}', 1) == 1
            assert wait_for_value(
                base, 'sum(eventsite_ingest_events_accepted_total{family="ksense"})', 36) == 36
            assert wait_for_value(
                base, 'sum(eventsite_ingest_requests_total{family="ksense",code="200"})', 12) == 12
            assert wait_for_value(base, 'sum(eventsite_auth_failures_total{family="ksense"})', 1) == 1
            assert wait_for_value(
                base, 'sum(eventsite_ingest_request_duration_seconds_count{family="ksense"})', 13) == 13
            # The token never becomes a label; the series carry only bounded labels.
            series = query(base, '{__name__=~"eventsite_.*"}')
            assert series
            for entry in series:
                assert token.raw not in json.dumps(entry["metric"])
                assert set(entry["metric"]) <= {"__name__", "instance", "job", "family", "code", "reason", "status",
                                                "kind", "task", "outcome", "le"}
        assert process.poll() is None
    assert len(stored_event_ids(datasource)) == 36  # the figures match what the database holds
