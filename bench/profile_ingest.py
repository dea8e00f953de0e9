"""Where an ingest request's time goes: gunicorn started the production way, loaded by wrk, observed
from outside. Not part of `make bench` (it needs py-spy, which is not in the project's venv, and
pg_stat_statements, which needs shared_preload_libraries: use a private cluster, see the README).

    .venv/bin/python -m bench.profile_ingest --out DIR [--py-spy /tmp/pyspy/bin/py-spy] [--seconds 10]

For each load (GET /service/version, single events, 100-event batches via post_event), while wrk
runs it records:
- which gunicorn worker holds each of wrk's keep-alive connections (`ss`), and each worker's CPU
  seconds (/proc): how evenly the two workers share the load;
- CPU seconds of the gunicorn workers, of the PostgreSQL server and of wrk, and of the machine;
- pg_stat_statements (reset before the load) and sampled wait events of pg_stat_activity, if the
  database has the extension (created here if the server preloads it);
- with --py-spy: the workers' stacks, on-CPU samples and then wall-clock samples (--idle), as raw
  collapsed stacks, summarised by bench.profile_summary.
Prints figures only; asserts nothing.
"""

import argparse
import collections
import json
import os
import platform
import re
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import orjson
import psycopg2

from bench.common import (
    DEFAULT_DB_URL,
    connections_by_worker,
    gunicorn,
    manage,
    recreate_database,
    row,
    worker_pids,
    wrk,
)
from bench.ingest import BATCH, sample_event

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def children(pid: int) -> list[int]:
    return worker_pids(pid)


def pids_named(pattern: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if re.search(pattern, (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def postgres_pids(database_url: str) -> list[int]:
    """The server processes of the benchmark's PostgreSQL (its postmaster's children)."""
    with connect(database_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    parent = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return [parent, *children(parent)]


def postgres_cpu(before: dict[int, float]) -> float:
    """CPU seconds the server processes used since `before` (a process that ended meanwhile is left out)."""
    after = {pid: cpu_seconds(pid) for pid in before}
    return sum(after[pid] - before[pid] for pid in before if after[pid] >= before[pid] and after[pid])


def machine_cpu() -> tuple[float, float]:
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / CLK_TCK, sum(fields) / CLK_TCK


def connect(database_url: str):
    parsed = urlparse(database_url)
    conn = psycopg2.connect(host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres",
                            dbname=parsed.path.lstrip("/"))
    conn.autocommit = True
    return conn


class WaitSampler(threading.Thread):
    """pg_stat_activity's wait events of the benchmark database's client backends, 20 times a second."""

    def __init__(self, database_url: str):
        super().__init__(daemon=True)
        self.conn = connect(database_url)
        self.counts: collections.Counter = collections.Counter()
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with self.conn.cursor() as cursor:
            while not self.stop.wait(0.05):
                cursor.execute(
                    "SELECT state, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '') FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                self.samples += 1
                for state, kind, event in cursor.fetchall():
                    self.counts[f"{state}: {kind} {event}".strip()] += 1
        self.conn.close()


def statements(database_url: str, reset: bool = False) -> list[dict]:
    with connect(database_url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if not cursor.fetchone()[0]:
            try:
                cursor.execute("CREATE EXTENSION pg_stat_statements")
            except psycopg2.Error:
                return []
        if reset:
            cursor.execute("SELECT pg_stat_statements_reset()")
            return []
        cursor.execute(
            "SELECT regexp_replace(query, '\\(\\$[0-9]+.*\\)(, \\(\\$.*\\))', '(...) x N', 's'), calls, "
            "total_exec_time, rows, wal_bytes FROM pg_stat_statements WHERE dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        grouped: dict[str, dict] = {}
        for query, calls, total, rows_, wal in cursor.fetchall():
            key = re.sub(r"\s+", " ", query)[:160]
            entry = grouped.setdefault(key, {"query": key, "calls": 0, "total_ms": 0.0, "rows": 0, "wal_bytes": 0})
            entry["calls"] += calls
            entry["total_ms"] += total
            entry["rows"] += rows_
            entry["wal_bytes"] += int(wal)
    return sorted(grouped.values(), key=lambda entry: -entry["total_ms"])


def observe(*, name: str, url: str, body: bytes | None, headers: dict, seconds: int, port: int, master: int,
            database_url: str, out: Path, py_spy: str | None, connections: int) -> dict:
    workers = children(master)
    pg = postgres_pids(database_url)
    statements(database_url, reset=True)
    sampler = WaitSampler(database_url)
    wrk_seconds = seconds * (2 if py_spy else 1)
    result: dict = {}
    load = threading.Thread(target=lambda: result.update(
        wrk(url, body=body, headers=headers, seconds=wrk_seconds, connections=connections)))
    before_workers = {pid: cpu_seconds(pid) for pid in workers}
    before_pg = {pid: cpu_seconds(pid) for pid in pg}
    busy_before, total_before = machine_cpu()
    load.start()
    sampler.start()
    time.sleep(1)
    held = connections_by_worker(port, workers)
    wrk_pids = pids_named(r"^wrk ")
    if py_spy:
        for mode, extra in (("gil", ["--gil"]), ("wall", ["--idle"])):
            subprocess.run([py_spy, "record", "--pid", str(master), "--subprocesses", "--nonblocking", "--rate", "100",
                            "--format", "raw", "--duration", str(seconds - 1), "-o", str(out / f"{name}-{mode}.txt"),
                            *extra], capture_output=True, check=False)
    else:
        time.sleep(wrk_seconds - 2)
    wrk_cpu = sum(cpu_seconds(pid) for pid in wrk_pids)  # since it started, about 1 s before the others
    load.join()
    sampler.stop.set()
    sampler.join()
    busy_after, total_after = machine_cpu()
    worker_cpu = {pid: cpu_seconds(pid) - before_workers[pid] for pid in workers}
    figures = {
        "name": name, "wrk": result, "seconds": wrk_seconds, "connections_held": held,
        "worker_cpu_s": worker_cpu, "postgres_cpu_s": postgres_cpu(before_pg),
        "wrk_cpu_s": wrk_cpu, "machine_busy_s": busy_after - busy_before,
        "machine_total_s": total_after - total_before, "load_average": os.getloadavg(),
        "waits": {key: count / max(sampler.samples, 1) for key, count in sampler.counts.most_common(12)},
        "statements": statements(database_url)[:12],
    }
    (out / f"{name}.json").write_text(json.dumps(figures, indent=1, default=str))
    return figures


def balance(*, base: str, master: int, path: str, body: bytes | None, headers: dict, runs: int, seconds: int,
            connections: int) -> list[tuple[list[int], float]]:
    """runs wrk runs of `seconds`, each opening its own keep-alive connections: how many each worker
    took (sorted, busiest first) and the requests/s of the run."""
    port = int(base.rsplit(":", 1)[1])
    workers = children(master)
    results = []
    for _ in range(runs):
        result: dict = {}
        load = threading.Thread(target=lambda into=result: into.update(
            wrk(f"{base}{path}", body=body, headers=headers, seconds=seconds, connections=connections)))
        load.start()
        time.sleep(min(1.0, seconds / 2))
        held = sorted(connections_by_worker(port, workers).values(), reverse=True)
        load.join()
        results.append((held, result["rps"]))
        row(f"connections held by each worker, {path}", "/".join(map(str, held)), f"{result['rps']:,.0f} requests/s")
    return results


def report(figures: dict, per_request: int) -> None:
    result = figures["wrk"]
    print(f"{figures['name']}: {result['rps'] * per_request:,.0f}/s over {figures['seconds']}s, p50 "
          f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, non-2xx {result['non_2xx']}")
    held = figures["connections_held"]
    cpu = figures["worker_cpu_s"]
    row("keep-alive connections held by each worker", " / ".join(str(held[pid]) for pid in held))
    row("CPU seconds of each worker", " / ".join(f"{cpu[pid]:.1f}" for pid in held))
    row("CPU s: workers / PostgreSQL / wrk / machine busy of total",
        f"{sum(cpu.values()):.1f} / {figures['postgres_cpu_s']:.1f} / {figures['wrk_cpu_s']:.1f} / "
        f"{figures['machine_busy_s']:.1f} of {figures['machine_total_s']:.1f}")
    for wait, share in figures["waits"].items():
        row(f"  backends in '{wait}' (mean count)", f"{share:.2f}")
    for statement in figures["statements"][:6]:
        calls = statement["calls"] or 1
        row(f"  {statement['query'][:62]}", f"{statement['total_ms']:,.0f} ms",
            f"{statement['calls']:,} calls, mean {statement['total_ms'] / calls:.3f} ms, "
            f"{statement['rows'] / calls:.1f} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    parser.add_argument("--out", type=Path, required=True, help="directory for the raw outputs")
    parser.add_argument("--py-spy", help="path of a py-spy executable (stacks are recorded only with it)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--loads", default="version,single,batch")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gunicorn server")
    parser.add_argument("--balance", type=int, default=0,
                        help="only count the connections each worker takes, over this many wrk runs per load")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"bench.profile_ingest {datetime.now(UTC):%Y-%m-%d %H:%M}Z on {platform.node()} "
          f"({os.cpu_count()} cores), load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "bench")
    token = manage(args.database_url, "issue_token", "bench", "--scope", "ingest")
    headers = {"X-KSense-Tok": token}
    loads = {
        "version": ("/service/version", None, 1),
        "single": ("/api/v2/events/post_event", orjson.dumps(sample_event(7)), 1),
        "batch": ("/api/v2/events/post_event", orjson.dumps([sample_event(i) for i in range(BATCH)]), BATCH),
    }
    extra_env = dict(item.split("=", 1) for item in args.env)
    with gunicorn(args.database_url, workers=2, threads=4, **extra_env) as (base, process):
        port = int(base.rsplit(":", 1)[1])
        wrk(f"{base}/service/version", seconds=3, connections=args.connections)  # every worker has booted
        for name in args.loads.split(","):
            path, body, per_request = loads[name]
            if args.balance:
                balance(base=base, master=process.pid, path=path, body=body, headers=headers, runs=args.balance,
                        seconds=args.seconds, connections=args.connections)
                continue
            wrk(f"{base}{path}", body=body, headers=headers, seconds=3, connections=args.connections)  # warm-up
            figures = observe(name=name, url=f"{base}{path}", body=body, headers=headers, seconds=args.seconds,
                              port=port, master=process.pid, database_url=args.database_url, out=args.out,
                              py_spy=args.py_spy, connections=args.connections)
            report(figures, per_request)


if __name__ == "__main__":
    main()
