"""Retention benchmark: a table of N events of which a tenth are past the datasource's retention;
how long the sweep (events_apply_retention, the scheduler's service) takes, and the batched ingest
rate over HTTP while it runs, as a ratio of the rate without it (target >= 0.80).

    .venv/bin/python -m bench.retention [--rows 10000000] [--expired 1000000]

Rows default to BENCH_ROWS (10,000,000), expired ones to a tenth of them. gunicorn is started the
production way (2 workers x 4 threads), load comes from wrk with 100-event batches; the ingest rate
is measured before, during (in windows, while the sweep runs) and after the sweep.
"""

import argparse
import os
import platform
import threading
import time
from datetime import UTC, datetime

import orjson

from bench.common import DEFAULT_DB_URL, bench_env, gunicorn, manage, recreate_database, row, wrk

BATCH = 100
RETENTION_DAYS = 30
DAY = 86_400


def rows_factory(total: int, expired: int, now: float):
    """Events in time order, as ingest writes them: the oldest `expired` are 31-60 days old, the
    rest spread over the last 29 days."""
    from django.utils import timezone

    from events.parsing import IngestLimits, ksense_rows

    old_span, recent_span = 29 * DAY, 29 * DAY
    old_start, recent_start = now - 60 * DAY, now - 29 * DAY

    def factory(first: int, count: int):
        limits = IngestLimits(max_events=count, max_event_bytes=65536, max_depth=32)
        events = []
        for i in range(first, first + count):
            if i < expired:
                when = old_start + old_span * i / max(1, expired)
            else:
                when = recent_start + recent_span * (i - expired) / max(1, total - expired)
            events.append({"type": "pv" if i % 3 else "click", "time_utc": int(when),
                           "user_id": {"email": f"user{i % 100_000}@example.com"},
                           "event_data": {"page": f"/p/{i % 997}"}})
        return ksense_rows(events, limits=limits, now=timezone.now())

    return factory


def ingest_rate(base: str, token: str, seconds: int, connections: int) -> dict:
    # No time_utc: stored with the time of receipt, so never past retention during the run.
    body = orjson.dumps([{"type": "pv", "user_id": {"email": f"live{i}@example.com"}, "event_data": {"n": i}}
                         for i in range(BATCH)])
    figures = wrk(f"{base}/api/v2/events/post_event", body=body, headers={"X-KSense-Tok": token},
                  seconds=seconds, connections=connections)
    figures["events_per_s"] = figures["rps"] * BATCH
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", "10000000")))
    parser.add_argument("--expired", type=int, default=None, help="events past retention (default: a tenth)")
    parser.add_argument("--seconds", type=int, default=10, help="duration of the before/after wrk runs")
    parser.add_argument("--window", type=int, default=3, help="wrk window while the sweep runs, seconds")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    expired = args.rows // 10 if args.expired is None else args.expired
    print(f"bench.retention {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} ({os.cpu_count()} cores): "
          f"{args.rows:,} events, {expired:,} past a {RETENTION_DAYS}-day retention")
    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "bench")
    token = manage(args.database_url, "issue_token", "bench", "--scope", "ingest")
    os.environ.update(bench_env(args.database_url))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from bench.load import load_rows
    from events.models import DataSource, Event
    from events.services import events_apply_retention

    datasource = DataSource.objects.get(slug="bench")
    seconds = load_rows(datasource.pk, rows_factory(args.rows, expired, time.time()), args.rows)
    row("loaded events, s", f"{seconds:.0f}", f"{args.rows:,} rows")
    DataSource.objects.filter(pk=datasource.pk).update(retention_days=RETENTION_DAYS)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE events_event")

    sweep: dict = {}

    def run_sweep():
        began = time.perf_counter()
        try:
            sweep["run"] = events_apply_retention(datasource=datasource, trigger="command")
        finally:
            sweep["seconds"] = time.perf_counter() - began
            connection.close()

    with gunicorn(args.database_url, workers=2, threads=4) as (base, _process):
        ingest_rate(base, token, 2, args.connections)  # warm-up
        before = ingest_rate(base, token, args.seconds, args.connections)
        thread = threading.Thread(target=run_sweep, name="retention-sweep")
        thread.start()
        during = []
        while thread.is_alive():
            window = ingest_rate(base, token, args.window, args.connections)
            if thread.is_alive():  # only windows the sweep covered entirely
                during.append(window)
        thread.join()
        after = ingest_rate(base, token, args.seconds, args.connections)

    run = sweep["run"]
    row("sweep: events deleted", f"{run.events_deleted:,}",
        f"in {run.chunks:,} chunks of {settings.RETENTION_CHUNK:,} (RETENTION_CHUNK)")
    row("sweep: seconds", f"{sweep['seconds']:.1f}", f"{run.events_deleted / sweep['seconds']:,.0f} events/s")
    without = (before["events_per_s"] + after["events_per_s"]) / 2
    row("ingest without the sweep, events/s (before / after)", f"{without:,.0f}",
        f"{before['events_per_s']:,.0f} / {after['events_per_s']:,.0f}")
    if during:
        rate = sum(w["events_per_s"] for w in during) / len(during)
        p99 = max(w["p99_ms"] for w in during)
        row("ingest during the sweep, events/s", f"{rate:,.0f}",
            f"{len(during)} windows of {args.window}s, worst p99 {p99:.0f} ms, "
            f"non-2xx {sum(w['non_2xx'] for w in during)}")
        row("  ratio during / without (target >= 0.80)", f"{rate / without:.2f}")
    else:
        row("ingest during the sweep", "n/a", f"the sweep ended within one {args.window}s window: use more rows")
    left = Event.objects.filter(datasource=datasource, timestamp__lt=run.cutoff).count()
    row("events past retention left", f"{left:,}", "(must be 0)")


if __name__ == "__main__":
    main()
