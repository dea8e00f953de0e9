"""Purge benchmark: purge_user of users with 1,000 events each, and purge_dataset's answer time
and reclaim time, in a table of N events, over HTTP against gunicorn started the production way.

    .venv/bin/python -m bench.purge [--rows 1000000]
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime

import requests

from bench.common import DEFAULT_DB_URL, bench_env, gunicorn, manage, recreate_database, row

TARGETS = 5
PER_TARGET = 1_000


def ksense_rows_factory(total: int):
    from django.utils import timezone

    from events.parsing import IngestLimits, ksense_rows

    target_rows = TARGETS * PER_TARGET
    step = max(1, total // target_rows)  # spread the targets' events through the table

    def factory(first: int, count: int):
        limits = IngestLimits(max_events=count, max_event_bytes=65536, max_depth=32)
        events = []
        for i in range(first, first + count):
            if i % step == 0 and i // step < target_rows:
                email = f"target{(i // step) % TARGETS}@example.com"
            else:
                email = f"user{i % 100_000}@example.com"
            events.append({"type": "pv", "time_utc": 1_764_000_000 + i, "user_id": {"email": email},
                           "event_data": {"page": f"/p/{i % 997}"}})
        return ksense_rows(events, limits=limits, now=timezone.now())

    return factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"bench.purge {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} ({os.cpu_count()} cores)")
    var_dir = tempfile.mkdtemp(prefix="eventsite-bench-")
    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "bench")
    token = manage(args.database_url, "issue_token", "bench", "--scope", "purge")
    os.environ.update(bench_env(args.database_url, EVENTSITE_VAR_DIR=var_dir))
    import django

    django.setup()
    from bench.load import load_rows
    from events.models import DataSource, EpochReclaim, Event, PurgeAudit
    from reports.purges import purge_dataset_reclaim

    datasource = DataSource.objects.get(slug="bench")
    seconds = load_rows(datasource.pk, ksense_rows_factory(args.rows), args.rows)
    print(f"  loaded {args.rows:,} events in {seconds:.0f}s")
    with gunicorn(args.database_url, EVENTSITE_VAR_DIR=var_dir) as (base, _process), requests.Session() as http:
        http.headers["X-KSense-Tok"] = token
        http.get(f"{base}/service/version")  # a warm connection, as a client's would be
        timings = []
        for target in range(TARGETS):
            began = time.perf_counter()
            response = http.post(f"{base}/api/v2/insights/purge_user",
                                 params={"ds": "bench", "user_id": f"target{target}@example.com",
                                         "user_id_type": "email"})
            timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.text
        deleted = list(PurgeAudit.objects.order_by("created_at").values_list("events_deleted", flat=True))
        row(f"purge_user, {PER_TARGET:,} events, table of {args.rows:,}: ms (median of {TARGETS})",
            f"{statistics.median(timings):.1f}", f"min {min(timings):.1f}, max {max(timings):.1f}; "
            f"deleted {deleted} (target < 20 ms at 10M)")
        remaining = Event.objects.filter(datasource=datasource).count()
        began = time.perf_counter()
        response = http.post(f"{base}/api/v2/insights/purge_dataset", params={"ds": "bench"})
        answer_ms = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, response.text
    row(f"purge_dataset of {remaining:,} events: answer, ms", f"{answer_ms:.0f}", "(target: about a second at 10M)")
    visible = Event.objects.filter(datasource=datasource, epoch=DataSource.objects.get(pk=datasource.pk).epoch)
    row("  events still visible right after the answer", f"{visible.count():,}")
    began = time.perf_counter()
    purge_dataset_reclaim(reclaim_id=EpochReclaim.objects.get().pk)
    row("  background reclaim until the rows are gone, s", f"{time.perf_counter() - began:.1f}",
        f"{Event.objects.filter(datasource=datasource).count()} rows left")


if __name__ == "__main__":
    main()
