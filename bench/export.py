"""Export benchmark: a report of N events by eventsite's worker code against a raw
`COPY (SELECT ...) TO STDOUT` of the same rows, in the same run; peak RSS of the worker.

    .venv/bin/python -m bench.export [--rows 1000000]
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

from bench.common import DEFAULT_DB_URL, ROOT, bench_env, manage, recreate_database, row

CUSTOMER, PRODUCT, TYPE = "TGAM", "WATCHLIST", "WATCHLIST-SYMBOL-ADDED"


def barchart_rows(first: int, count: int):
    from events.parsing import IngestLimits
    from events.parsing import barchart_rows as parse

    limits = IngestLimits(max_events=count, max_event_bytes=65536, max_depth=32)
    events = [{"customer": CUSTOMER, "product": PRODUCT, "type": TYPE, "timestamp": 1_764_000_000_000 + i,
               "context": [f"user-{i % 50_000}", f"00000000-0000-0000-0000-{i % 10**12:012d}", "AAPL|NYSE"],
               "version": "6.0.0"} for i in range(first, first + count)]
    return parse({"events": events}, limits=limits)


def raw_copy_seconds() -> float:
    from django.db import connection

    query = (f"SELECT floor(extract(epoch FROM timestamp) * 1000)::bigint, type, payload->'context'->>0, "
             f"payload->'context'->>1, payload->'context'->>2 FROM events_event WHERE customer = '{CUSTOMER}' "
             f"AND product = '{PRODUCT}' ORDER BY timestamp, id")
    with tempfile.TemporaryFile("w+") as sink, connection.cursor() as cursor:
        began = time.perf_counter()
        cursor.cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, DELIMITER '|')", sink)
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"bench.export {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} ({os.cpu_count()} cores)")
    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "bench")
    os.environ.update(bench_env(args.database_url))
    import django

    django.setup()
    from events.models import DataSource
    from reports.models import ReportJob

    seconds = __import__("bench.load", fromlist=["load_rows"]).load_rows(
        DataSource.objects.get(slug="bench").pk, barchart_rows, args.rows)
    print(f"  loaded {args.rows:,} events in {seconds:.0f}s")
    raw = min(raw_copy_seconds() for _ in range(2))  # the second run has a warm cache, like the worker's
    row("raw COPY (SELECT ...) TO STDOUT: rows/s", f"{args.rows / raw:,.0f}")

    job = ReportJob.objects.create(customer=CUSTOMER, product=PRODUCT)
    with tempfile.TemporaryDirectory() as var_dir:
        # The export in a process of its own, as a worker runs it, so its peak RSS is its own.
        code = ("import resource, time, django; django.setup(); from reports.services import report_job_run; "
                f"t = time.perf_counter(); status = report_job_run(job_id='{job.pk}'); "
                "print(status, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                                env={**bench_env(args.database_url), "EVENTSITE_VAR_DIR": var_dir})
    status, export_seconds, rss_kb = result.stdout.split()
    job.refresh_from_db()
    rate = job.rows / float(export_seconds)
    row("eventsite report (worker code, local file): rows/s", f"{rate:,.0f}",
        f"{status}, {job.rows:,} rows, {job.bytes / 1e6:,.0f} MB")
    row("  ratio to raw COPY (target >= 0.90)", f"{rate / (args.rows / raw):.2f}")
    row("  worker peak RSS, MB (target < 200 at 10M rows)", f"{int(rss_kb) / 1024:,.0f}")


if __name__ == "__main__":
    main()
