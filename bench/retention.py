"""Retention benchmark: a table of N events of which a tenth are past the datasource's retention;
how long the sweep (events_apply_retention, the scheduler's service) takes, and the batched ingest
rate over HTTP while it runs, as a ratio of the rate without it (target >= 0.80).

    .venv/bin/python -m bench.retention [--rows 10000000] [--expired 1000000]

Rows default to BENCH_ROWS (10,000,000), expired ones to a tenth of them. gunicorn is started the
production way (2 workers x 4 threads), load comes from wrk with 100-event batches; the ingest rate
runs steadily throughout, and the events the server received before, during and after the sweep are
counted by their received_at.
"""

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.common import _LUA_POST, DEFAULT_DB_URL, bench_env, gunicorn, manage, recreate_database, row

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


@contextlib.contextmanager
def steady_ingest(base: str, token: str, connections: int):
    """wrk posting 100-event batches until the block ends (killed then)."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is not installed (apt-get install wrk)")
    # No time_utc: stored with the time of receipt, so never past retention during the run.
    body = orjson.dumps([{"type": "pv", "user_id": {"email": f"live{i}@example.com"}, "event_data": {"n": i}}
                         for i in range(BATCH)])
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(_LUA_POST.format(headers=f'wrk.headers["X-KSense-Tok"] = "{token}"', body_file=body_file))
        process = subprocess.Popen(
            ["wrk", "-t2", f"-c{connections}", "-d3600s", "-s", str(script), f"{base}/api/v2/events/post_event"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield
        finally:
            process.terminate()
            process.wait()


def received_between(phases: list[tuple[datetime, datetime]]) -> list[int]:
    """Events the server received in each [start, end) (received_at is the server's clock)."""
    from django.db import connection

    filters = ", ".join("count(*) FILTER (WHERE received_at >= %s AND received_at < %s)" for _ in phases)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {filters} FROM events_event WHERE received_at >= %s",
                       [bound for phase in phases for bound in phase] + [phases[0][0]])
        return list(cursor.fetchone())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", "10000000")))
    parser.add_argument("--expired", type=int, default=None, help="events past retention (default: a tenth)")
    parser.add_argument("--seconds", type=int, default=10, help="ingest measured this long before and after the sweep")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--pause-ms", type=int, default=None, help="RETENTION_PAUSE_MS for the sweep")
    args = parser.parse_args()
    expired = args.rows // 10 if args.expired is None else args.expired
    print(f"bench.retention {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} ({os.cpu_count()} cores): "
          f"{args.rows:,} events, {expired:,} past a {RETENTION_DAYS}-day retention")
    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "bench")
    token = manage(args.database_url, "issue_token", "bench", "--scope", "ingest")
    os.environ.update(bench_env(args.database_url))
    if args.pause_ms is not None:
        os.environ["RETENTION_PAUSE_MS"] = str(args.pause_ms)
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

    def now() -> datetime:
        return datetime.now(UTC)

    with gunicorn(args.database_url, workers=2, threads=4) as (base, _process), \
            steady_ingest(base, token, args.connections):
        time.sleep(3)  # warm-up: connections open, workers loaded
        before = (now(), None)
        time.sleep(args.seconds)
        before = (before[0], now())
        began = time.perf_counter()
        run = events_apply_retention(datasource=datasource, trigger="command")
        sweep_seconds = time.perf_counter() - began
        during = (before[1], now())
        time.sleep(args.seconds)
        after = (during[1], now())
    counts = received_between([before, during, after])
    rates = [count / (end - start).total_seconds() for count, (start, end) in zip(counts, [before, during, after],
                                                                                  strict=True)]
    row("sweep: events deleted", f"{run.events_deleted:,}",
        f"in {run.chunks:,} chunks of {settings.RETENTION_CHUNK:,} (RETENTION_CHUNK), "
        f"{settings.RETENTION_PAUSE_SECONDS * 1000:.0f} ms apart (RETENTION_PAUSE_MS)")
    row("sweep: seconds", f"{sweep_seconds:.1f}", f"{run.events_deleted / sweep_seconds:,.0f} events/s")
    without = (rates[0] + rates[2]) / 2
    row("ingest without the sweep, events/s (before / after)", f"{without:,.0f}", f"{rates[0]:,.0f} / {rates[2]:,.0f}")
    row("ingest during the sweep, events/s", f"{rates[1]:,.0f}", f"{counts[1]:,} events in {sweep_seconds:.1f}s")
    row("  ratio during / without (target >= 0.80)", f"{rates[1] / without:.2f}",
        "(noisy when the sweep lasts only seconds)" if sweep_seconds < 10 else "")
    left = Event.objects.filter(datasource=datasource, timestamp__lt=run.cutoff).count()
    row("events past retention left", f"{left:,}", "(must be 0)")


if __name__ == "__main__":
    main()
