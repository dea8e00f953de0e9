"""Ingest benchmark: eventsite over HTTP against the raw PostgreSQL COPY ceiling, same run.

    .venv/bin/python -m bench.ingest [--seconds 10] [--grown-rows 10000000]

(a) raw: the very rows post_event would write (same COPY text, same table and indexes),
    COPY'd from Python in 100-row transactions, each committed (durable, like an ack).
(b) eventsite: gunicorn started as the Procfile does, loaded by wrk on 127.0.0.1:
    100-event batches via post_event (and POST /events when present), single events, and a
    trivial Django view under the same server settings.
Then (optionally) the table is grown to --grown-rows events and batched ingest is re-measured.
Prints figures only; asserts nothing.
"""

import argparse
import io
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson

from bench.common import DEFAULT_DB_URL, bench_env, gunicorn, manage, recreate_database, row, wrk

BATCH = 100


def sample_event(i: int) -> dict:
    return {
        "type": "pv" if i % 3 else "click",
        "time_utc": (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=i)).isoformat(),
        "user_id": {"email": f"user{i % 5000}@example.com", "internal_id": f"u-{i % 5000}"},
        "event_data": {"page": f"/products/{i % 977}", "referrer": "https://example.com/", "ms": i % 1000},
        "labels": ["web", "bench"],
    }


def setup_django(database_url: str) -> None:
    os.environ.update(bench_env(database_url))
    import django

    django.setup()


def raw_copy_rate(datasource_id: int, total_rows: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from events.parsing import IngestLimits, ksense_rows
    from events.services import COPY_SQL, copy_lines

    limits = IngestLimits.from_settings()
    now = timezone.now()
    texts = []
    for start in range(0, total_rows, BATCH):
        rows = ksense_rows([sample_event(i) for i in range(start, start + BATCH)], limits=limits, now=now)
        texts.append(copy_lines(datasource_id, 0, uuid.uuid4(), now, rows))
    connection.ensure_connection()
    began = time.perf_counter()
    for text in texts:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.cursor.copy_expert(COPY_SQL, io.StringIO(text))
    elapsed = time.perf_counter() - began
    return len(texts) * BATCH / elapsed


def grow_table(datasource_id: int, total_rows: int) -> float:
    """Load total_rows events with big COPYs (setup for the growth figure); returns seconds."""
    from django.utils import timezone

    from bench.load import load_rows
    from events.parsing import IngestLimits, ksense_rows

    def factory(first: int, count: int):
        limits = IngestLimits(max_events=count, max_event_bytes=65536, max_depth=32)
        return ksense_rows([sample_event(i) for i in range(first, first + count)], limits=limits, now=timezone.now())

    return load_rows(datasource_id, factory, total_rows)


def truncate_events() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE events_event")


def stored_events() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events_event")
        return cursor.fetchone()[0]


def barchart_batch() -> bytes:
    return orjson.dumps({
        "events": [
            {"customer": "BARCHART", "product": "PORTFOLIO", "type": "PORTFOLIO-APPLICATION-LOADED",
             "timestamp": 1_764_000_000_000 + i, "context": [f"user-{i % 5000}"], "version": "1.0.0"}
            for i in range(BATCH)
        ]
    })


def measure_http(base: str, token: str, seconds: int, connections: int) -> dict[str, dict]:
    import requests

    headers = {"X-KSense-Tok": token}
    batch_body = orjson.dumps([sample_event(i) for i in range(BATCH)])
    single_body = orjson.dumps(sample_event(7))
    results = {}
    results["batch"] = wrk(f"{base}/api/v2/events/post_event", body=batch_body, headers=headers,
                           seconds=seconds, connections=connections)
    results["single"] = wrk(f"{base}/api/v2/events/post_event", body=single_body, headers=headers,
                            seconds=seconds, connections=connections * 2)
    results["trivial"] = wrk(f"{base}/bench/trivial", body=single_body, headers=headers,
                             seconds=seconds, connections=connections * 2)
    probe = requests.post(f"{base}/events", data=barchart_batch(),
                          headers={**headers, "Content-Type": "application/json"})
    if probe.status_code == 200:
        results["barchart"] = wrk(f"{base}/events", body=barchart_batch(), headers=headers,
                                  seconds=seconds, connections=connections)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--raw-rows", type=int, default=100_000)
    parser.add_argument("--grown-rows", type=int, default=0, help="re-measure after growing to N events (0: skip)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    print(f"bench.ingest {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} "
          f"({os.cpu_count()} cores, Python {platform.python_version()})")
    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "bench")
    token = manage(args.database_url, "issue_token", "bench", "--scope", "ingest")
    setup_django(args.database_url)
    from events.models import DataSource

    datasource_id = DataSource.objects.get(slug="bench").pk

    raw = raw_copy_rate(datasource_id, args.raw_rows)
    truncate_events()
    print(f"(a) raw COPY, {BATCH} rows per committed transaction, one connection:")
    row("raw COPY rows/s", f"{raw:,.0f}")

    print(f"(b) eventsite: gunicorn {args.workers} workers x {args.threads} threads, wrk {args.seconds}s per run:")
    with gunicorn(args.database_url, workers=args.workers, threads=args.threads) as (base, _process):
        empty = measure_http(base, token, args.seconds, args.connections)
    batch_rate = empty["batch"]["rps"] * BATCH
    row("post_event, 100-event batches: events/s", f"{batch_rate:,.0f}",
        f"p50 {empty['batch']['p50_ms']:.1f} ms, p99 {empty['batch']['p99_ms']:.1f} ms, "
        f"non-2xx {empty['batch']['non_2xx']}")
    row("  ratio to raw COPY (target >= 0.50)", f"{batch_rate / raw:.2f}")
    if "barchart" in empty:
        rate = empty["barchart"]["rps"] * BATCH
        row("POST /events, 100-event batches: events/s", f"{rate:,.0f}",
            f"p50 {empty['barchart']['p50_ms']:.1f} ms, p99 {empty['barchart']['p99_ms']:.1f} ms, "
            f"non-2xx {empty['barchart']['non_2xx']}")
        row("  ratio to raw COPY (target >= 0.50)", f"{rate / raw:.2f}")
    row("post_event, single events: requests/s", f"{empty['single']['rps']:,.0f}",
        f"p50 {empty['single']['p50_ms']:.1f} ms, p99 {empty['single']['p99_ms']:.1f} ms, "
        f"non-2xx {empty['single']['non_2xx']}")
    row("trivial Django view: requests/s", f"{empty['trivial']['rps']:,.0f}",
        f"p50 {empty['trivial']['p50_ms']:.1f} ms, p99 {empty['trivial']['p99_ms']:.1f} ms")
    single_ratio = empty["single"]["rps"] / empty["trivial"]["rps"]
    row("  single-event ratio to trivial view (target >= 0.60)", f"{single_ratio:.2f}")
    row("events stored during the HTTP runs", f"{stored_events():,}")

    if args.grown_rows:
        truncate_events()
        seconds = grow_table(datasource_id, args.grown_rows)
        print(f"growth: table loaded to {args.grown_rows:,} events in {seconds:.0f}s, batched ingest again:")
        with gunicorn(args.database_url, workers=args.workers, threads=args.threads) as (base, _process):
            grown = wrk(f"{base}/api/v2/events/post_event", body=orjson.dumps([sample_event(i) for i in range(BATCH)]),
                        headers={"X-KSense-Tok": token}, seconds=args.seconds, connections=args.connections)
        grown_rate = grown["rps"] * BATCH
        row(f"post_event batches at {args.grown_rows:,} events: events/s", f"{grown_rate:,.0f}",
            f"p50 {grown['p50_ms']:.1f} ms, p99 {grown['p99_ms']:.1f} ms")
        row("  ratio to the empty table (target >= 0.80)", f"{grown_rate / batch_rate:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
