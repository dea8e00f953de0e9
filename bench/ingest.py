"""Ingest benchmark: eventsite over HTTP against the ceilings of the same machine, same run.

    .venv/bin/python -m bench.ingest [--seconds 5] [--runs 3] [--grown-rows 10000000]

Ceilings:
(a) raw COPY: the very rows post_event would write (same COPY text, same table and indexes),
    COPY'd in 100-row transactions, each committed (durable, like an ack), by 1 to 4 parallel
    connections (separate processes); the best is the batch ceiling, 1 connection is shown too.
(b) pgbench: a single-row committed INSERT into the events table, --connections clients.
(c) GET /service/version on the same gunicorn (no I/O): the web stack's own ceiling.
eventsite: gunicorn started as the Procfile does, loaded by wrk on 127.0.0.1: single events and
100-event batches via post_event (and POST /events), each run --runs times (best and median kept),
with how the two workers split wrk's keep-alive connections in each run (see the README: with one
shared listening socket they often went 8/0; eventsite.gunicorn_conf now sets reuse_port).
Then (optionally) the table is grown to --grown-rows events and batched ingest is re-measured.
Prints figures only; asserts nothing.
"""

import argparse
import glob
import io
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import orjson

from bench.common import (
    DEFAULT_DB_URL,
    bench_env,
    connections_by_worker,
    gunicorn,
    manage,
    recreate_database,
    row,
    worker_pids,
    wrk,
)

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


def copy_texts(datasource_id: int, total_rows: int) -> list[str]:
    """The COPY text of total_rows sample events, in 100-row batches, as post_event writes them."""
    from django.utils import timezone

    from events.parsing import IngestLimits, ksense_rows
    from events.services import copy_lines

    limits = IngestLimits.from_settings()
    now = timezone.now()
    texts = []
    for start in range(0, total_rows, BATCH):
        rows = ksense_rows([sample_event(i) for i in range(start, start + BATCH)], limits=limits, now=now)
        texts.append(copy_lines(datasource_id, 0, uuid.uuid4(), now, rows))
    return texts


def _copy_worker(database_url: str, texts: list[str], start, results) -> None:
    import psycopg2

    from events.services import COPY_SQL

    parsed = urlparse(database_url)
    connection = psycopg2.connect(host=parsed.hostname, port=parsed.port or 5432,
                                  user=parsed.username or "postgres", dbname=parsed.path.lstrip("/"))
    start.wait()
    began = time.perf_counter()
    with connection.cursor() as cursor:
        for text in texts:
            cursor.copy_expert(COPY_SQL, io.StringIO(text))
            connection.commit()
    results.put((began, time.perf_counter()))
    connection.close()


def raw_copy_rate(database_url: str, texts: list[str], parallel: int) -> float:
    """Rows/s of committed 100-row COPYs by `parallel` connections in separate processes."""
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    shares = [texts[n::parallel] for n in range(parallel)]
    workers = [context.Process(target=_copy_worker, args=(database_url, share, start, results)) for share in shares]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # every worker connected
    start.set()
    spans = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = max(end for _, end in spans) - min(began for began, _ in spans)
    return len(texts) * BATCH / elapsed


_PGBENCH_INSERT = """\\set n random(1, 1000000)
INSERT INTO events_event (datasource_id, epoch, batch, sequence, received_at, timestamp, type, payload)
VALUES ({datasource_id}, 0, gen_random_uuid(), 0, now(), now(), 'pv', ('{{"type": "pv", "n": ' || :n || '}}')::jsonb);
"""


def pgbench_insert_rate(database_url: str, datasource_id: int, seconds: int, clients: int) -> float:
    """Committed single-row INSERTs per second into the events table (pgbench, `clients` connections)."""
    parsed = urlparse(database_url)
    pgbench = shutil.which("pgbench") or sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))[-1]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "insert.sql"
        script.write_text(_PGBENCH_INSERT.format(datasource_id=datasource_id))
        output = subprocess.run(
            [pgbench, "-n", "-h", parsed.hostname, "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres",
             "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), "-f", str(script),
             parsed.path.lstrip("/")], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([\d.]+)", output).group(1))


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


def repeated(runs: int, measure) -> dict:
    """measure() runs times: the best and the median requests/s, and the best run's latencies."""
    results = [measure() for _ in range(runs)]
    best = max(results, key=lambda result: result["rps"])
    return {**best, "median_rps": statistics.median(result["rps"] for result in results),
            "splits": [result.get("split", "") for result in results]}


def split_wrk(master: int, port: int):
    """wrk, also telling how the gunicorn workers split its keep-alive connections (e.g. "5/3",
    busiest first), counted one second into the run."""
    def run(url: str, **kwargs) -> dict:
        result: dict = {}
        load = threading.Thread(target=lambda: result.update(wrk(url, **kwargs)))
        load.start()
        time.sleep(1)
        held = sorted(connections_by_worker(port, worker_pids(master)).values(), reverse=True)
        load.join()
        return {**result, "split": "/".join(map(str, held))}

    return run


def measure_http(base: str, token: str, *, seconds: int, connections: int, runs: int, master: int) -> dict[str, dict]:
    import requests

    wrk = split_wrk(master, int(base.rsplit(":", 1)[1]))
    headers = {"X-KSense-Tok": token}
    batch_body = orjson.dumps([sample_event(i) for i in range(BATCH)])
    single_body = orjson.dumps(sample_event(7))
    # Warm-up, not counted: every worker loads the app and opens its connection on first use.
    wrk(f"{base}/service/version", seconds=3, connections=connections)
    wrk(f"{base}/api/v2/events/post_event", body=single_body, headers=headers, seconds=3, connections=connections)
    results = {}
    results["version"] = repeated(runs, lambda: wrk(f"{base}/service/version", seconds=seconds,
                                                    connections=connections))
    results["single"] = repeated(runs, lambda: wrk(f"{base}/api/v2/events/post_event", body=single_body,
                                                   headers=headers, seconds=seconds, connections=connections))
    results["trivial"] = repeated(runs, lambda: wrk(f"{base}/bench/trivial", body=single_body, headers=headers,
                                                    seconds=seconds, connections=connections))
    results["batch"] = repeated(runs, lambda: wrk(f"{base}/api/v2/events/post_event", body=batch_body,
                                                  headers=headers, seconds=seconds, connections=connections))
    probe = requests.post(f"{base}/events", data=barchart_batch(),
                          headers={**headers, "Content-Type": "application/json"})
    if probe.status_code == 200:
        results["barchart"] = repeated(runs, lambda: wrk(f"{base}/events", body=barchart_batch(), headers=headers,
                                                         seconds=seconds, connections=connections))
    return results


def latency(result: dict, per_request: int = 1) -> str:
    return (f"median run {result['median_rps'] * per_request:,.0f}/s, p50 {result['p50_ms']:.1f} ms, "
            f"p99 {result['p99_ms']:.1f} ms, non-2xx {result['non_2xx']}, "
            f"connections per worker {' '.join(result['splits'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--seconds", type=int, default=5, help="duration of each wrk and pgbench run")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per figure (best and median kept)")
    parser.add_argument("--raw-rows", type=int, default=100_000)
    parser.add_argument("--grown-rows", type=int, default=0, help="re-measure after growing to N events (0: skip)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    print(f"bench.ingest {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} "
          f"({os.cpu_count()} cores, Python {platform.python_version()}), load average "
          f"{' '.join(f'{load:.1f}' for load in os.getloadavg())}")
    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "bench")
    token = manage(args.database_url, "issue_token", "bench", "--scope", "ingest")
    setup_django(args.database_url)
    from django.db import connections

    from events.models import DataSource

    datasource_id = DataSource.objects.get(slug="bench").pk
    texts = copy_texts(datasource_id, args.raw_rows)
    connections.close_all()  # the COPY workers fork: no shared socket

    print(f"ceilings: raw COPY of {args.raw_rows:,} rows in {BATCH}-row committed transactions; pgbench "
          f"{args.connections} clients x {args.seconds}s:")
    copy_rates = {}
    for parallel in (1, 2, 3, 4):
        copy_rates[parallel] = raw_copy_rate(args.database_url, texts, parallel)
        truncate_events()
        row(f"raw COPY, {parallel} connection(s): rows/s", f"{copy_rates[parallel]:,.0f}")
    copy_ceiling = max(copy_rates.values())
    pgbench = pgbench_insert_rate(args.database_url, datasource_id, args.seconds, args.connections)
    truncate_events()
    row("pgbench single-row committed INSERT: rows/s", f"{pgbench:,.0f}")

    print(f"eventsite: gunicorn {args.workers} workers x {args.threads} threads, wrk {args.connections} connections, "
          f"{args.runs} x {args.seconds}s per figure:")
    with gunicorn(args.database_url, workers=args.workers, threads=args.threads) as (base, process):
        empty = measure_http(base, token, seconds=args.seconds, connections=args.connections, runs=args.runs,
                             master=process.pid)
    row("GET /service/version (no I/O): requests/s", f"{empty['version']['rps']:,.0f}", latency(empty["version"]))
    row("trivial Django POST view: requests/s", f"{empty['trivial']['rps']:,.0f}", latency(empty["trivial"]))
    row("post_event, single events: requests/s", f"{empty['single']['rps']:,.0f}", latency(empty["single"]))
    batch_rate = empty["batch"]["rps"] * BATCH
    row("post_event, 100-event batches: events/s", f"{batch_rate:,.0f}", latency(empty["batch"], BATCH))
    if "barchart" in empty:
        row("POST /events, 100-event batches: events/s", f"{empty['barchart']['rps'] * BATCH:,.0f}",
            latency(empty["barchart"], BATCH))
    row("events stored during the HTTP runs", f"{stored_events():,}")

    single = empty["single"]["rps"]
    print("ratios (best runs):")
    row("single events / GET /service/version (target >= 0.6)", f"{single / empty['version']['rps']:.2f}")
    row("single events / pgbench single-row INSERT (target >= 0.4)", f"{single / pgbench:.2f}")
    row("single events / trivial Django view", f"{single / empty['trivial']['rps']:.2f}")
    best_parallel = max(copy_rates, key=copy_rates.get)
    row(f"batches / raw COPY, best of 1-4 connections: {best_parallel} (target >= 0.8)",
        f"{batch_rate / copy_ceiling:.2f}")
    row("batches / raw COPY, 1 connection", f"{batch_rate / copy_rates[1]:.2f}")
    if "barchart" in empty:
        row("POST /events batches / raw COPY, best of 1-4 connections",
            f"{empty['barchart']['rps'] * BATCH / copy_ceiling:.2f}")

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
