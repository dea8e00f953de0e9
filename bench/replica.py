"""Replica benchmark: report exports from the read replica vs from the primary, while ingest runs.

    .venv/bin/python -m bench.replica --database-url postgres://postgres@127.0.0.1:PORT/eventsite_bench \\
        [--rows 1000000] [--seconds 30]

Loads N Barchart events, builds a streaming replica of the database's cluster (bench/pgreplica.py:
pg_basebackup -R, a second server on a free loopback port; needs root or postgres and a
`host replication all 127.0.0.1/32 trust` line), then runs three windows of the same length
against a live gunicorn (production settings, 2 workers x 4 threads) fed by the soak's producers:

  A. ingest alone
  B. ingest while a worker process exports the N events again and again from the primary
  C. the same with DATABASE_REPLICA_URL set, so the exports read the replica

and prints the ingest rate of B and C as a ratio of A (ingest kept), and the export rate in each.
The base backup copies the WHOLE cluster of --database-url: point it at a cluster that holds
little else (a private one), not at a shared server with other large databases.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from bench.common import DEFAULT_DB_URL, ROOT, bench_env, manage, recreate_database, row

EXPORT_LOOP = """
import sys, time, django
django.setup()
from django.db import connections
from reports.models import ReportJob
from reports.services import report_job_run
seconds, replica = float(sys.argv[1]), sys.argv[2] == "replica"
if replica:
    connections["replica"].force_debug_cursor = True
rows = exports = 0
began = time.perf_counter()
while time.perf_counter() - began < seconds:
    job = ReportJob.objects.create(customer="TGAM", product="WATCHLIST")
    assert report_job_run(job_id=str(job.pk)) == "COMPLETE"
    job.refresh_from_db()
    rows += job.rows
    exports += 1
elapsed = time.perf_counter() - began
on_replica = sum("events_event" in q["sql"] for q in connections["replica"].queries) if replica else 0
print(rows, exports, elapsed, on_replica)
"""


def ingest_window(port: int, token: str, seconds: float, producers: int, during=None):
    """Events/s acknowledged by the server over `seconds`, optionally while `during()` runs."""
    from bench.soak import soak

    result = {}
    if during is not None:
        worker = threading.Thread(target=lambda: result.update(export=during()), daemon=True)
        worker.start()
    acc = soak(port=port, token=token, seconds=seconds, producers=producers)
    if during is not None:
        worker.join()
    return len(acc.acknowledged) / seconds, acc, result.get("export")


def export_loop(database_url: str, seconds: float, replica_url: str | None) -> tuple[float, int, int]:
    env = bench_env(database_url)
    if replica_url:
        env["DATABASE_REPLICA_URL"] = replica_url
    with tempfile.TemporaryDirectory() as var_dir:
        env["EVENTSITE_VAR_DIR"] = var_dir
        result = subprocess.run([sys.executable, "-c", EXPORT_LOOP, str(seconds), "replica" if replica_url else "-"],
                                cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    rows, exports, elapsed, on_replica = result.stdout.split()
    return int(rows) / float(elapsed), int(exports), int(on_replica)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--producers", type=int, default=4)
    args = parser.parse_args()
    print(f"bench.replica {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} ({os.cpu_count()} cores), "
          f"{args.rows:,} events, {args.seconds:.0f} s windows")
    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "bench")
    token = manage(args.database_url, "issue_token", "bench", "--scope", "ingest").split()[-1]
    os.environ.update(bench_env(args.database_url))
    import django

    django.setup()
    from bench.export import barchart_rows
    from bench.load import load_rows
    from bench.pgreplica import StreamingReplica
    from bench.soak import live_gunicorn
    from events.models import DataSource

    seconds = load_rows(DataSource.objects.get(slug="bench").pk, barchart_rows, args.rows)
    print(f"  loaded {args.rows:,} events in {seconds:.0f}s")
    began = time.perf_counter()
    replica = StreamingReplica.create()
    try:
        print(f"  streaming replica on port {replica.port} built in {time.perf_counter() - began:.0f}s")
        parsed = urlparse(args.database_url)
        replica_url = parsed._replace(netloc=f"{parsed.username or 'postgres'}@127.0.0.1:{replica.port}").geturl()
        with tempfile.TemporaryDirectory() as tmp, live_gunicorn(database_url=args.database_url,
                                                                 log_dir=Path(tmp)) as (port, _process):
            alone, _, _ = ingest_window(port, token, args.seconds, args.producers)
            primary, _, (primary_rate, primary_exports, _) = ingest_window(
                port, token, args.seconds, args.producers,
                during=lambda: export_loop(args.database_url, args.seconds, None))
            on_replica, _, (replica_rate, replica_exports, replica_queries) = ingest_window(
                port, token, args.seconds, args.producers,
                during=lambda: export_loop(args.database_url, args.seconds, replica_url))
        row("ingest alone: events/s", f"{alone:,.0f}")
        row("ingest while exporting from the primary: events/s", f"{primary:,.0f}", f"ratio {primary / alone:.2f}")
        row("ingest while exporting from the replica: events/s", f"{on_replica:,.0f}",
            f"ratio {on_replica / alone:.2f}")
        row("export from the primary (under ingest): rows/s", f"{primary_rate:,.0f}", f"{primary_exports} exports")
        row("export from the replica (under ingest): rows/s", f"{replica_rate:,.0f}",
            f"{replica_exports} exports, {replica_queries} event queries on the replica")
    finally:
        replica.destroy()


if __name__ == "__main__":
    main()
