"""Soak with accounting: concurrent producers post single events and batches, each event with a
unique event_id, to POST /api/v2/events/post_event of a live gunicorn; at the end the events
stored must be exactly the events acknowledged (2xx), with no duplicates and no 5xx.

    make soak                                   # 120 s, 8 producers, on a scratch database
    .venv/bin/python -m bench.soak --seconds 600 --producers 16 [--restart-postgres-at 60] [--instances 2]

The driver (`soak`) is also what tests/test_soak.py and tests/test_faults.py run for ~30 s.
A producer whose request fails (503, connection error) retries the same body after a short
pause, as a real client would: any request that was committed but not acknowledged is then
re-posted with the same event_ids, which must replace rather than duplicate.
"""

import argparse
import contextlib
import http.client
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(18500, 18600)  # this project's reliability port range, loopback only
URL_PATH = "/api/v2/events/post_event"
MAX_BATCH = 50


@dataclass
class Accounting:
    requests: int = 0
    acknowledged: set[str] = field(default_factory=set)  # event_ids answered with 2xx
    sent: set[str] = field(default_factory=set)  # every event_id ever posted
    statuses: Counter = field(default_factory=Counter)
    bad_503s: list[str] = field(default_factory=list)  # 503s without JSON or Retry-After
    connection_errors: int = 0
    last_failure_at: float | None = None
    first_failure_at: float | None = None
    fault_started_at: float | None = None
    fault_ended_at: float | None = None  # the database accepts connections again
    first_success_after_fault: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500 and status != 503)

    @property
    def recovery_seconds(self) -> float | None:
        if self.fault_ended_at is None or self.first_success_after_fault is None:
            return None
        return max(0.0, self.first_success_after_fault - self.fault_ended_at)

    def figures(self, stored: int, distinct: int) -> dict:
        return {
            "requests": self.requests,
            "events acknowledged (2xx)": len(self.acknowledged),
            "events stored": stored,
            "distinct event_ids stored": distinct,
            "events sent, never acknowledged": len(self.sent - self.acknowledged),
            "statuses": dict(sorted(self.statuses.items())),
            "503s seen": self.statuses.get(503, 0),
            "503s without JSON + Retry-After": len(self.bad_503s),
            "connection errors": self.connection_errors,
            "outage seen by clients (s)": (
                round(self.last_failure_at - self.first_failure_at, 2) if self.first_failure_at else 0.0
            ),
            "recovery after database back (s)": (
                round(self.recovery_seconds, 2) if self.recovery_seconds is not None else None
            ),
        }


def _event(event_id: str, n: int) -> dict:
    return {
        "event_id": event_id,
        "type": "soak",
        "time_utc": datetime.now(UTC).isoformat(),
        "user_id": {"internal_id": f"u-{n % 997}"},
        "event_data": {"n": n, "page": f"/p/{n % 113}"},
    }


def _producer(port: int, token: str, index: int, stop: threading.Event, acc: Accounting, run: str) -> None:
    rng = random.Random(index)
    connection = None
    n = 0
    while not stop.is_set():
        size = 1 if rng.random() < 0.5 else rng.randint(2, MAX_BATCH)
        ids = [f"{run}-{index}-{n + i}" for i in range(size)]
        events = [_event(event_id, n + i) for i, event_id in enumerate(ids)]
        n += size
        body = orjson.dumps(events[0] if size == 1 else events)
        with acc.lock:
            acc.sent.update(ids)
        # Retry the same body until acknowledged or the run ends.
        while not stop.is_set():
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request(
                    "POST", URL_PATH, body=body, headers={"Content-Type": "application/json", "X-KSense-Tok": token}
                )
                response = connection.getresponse()
                payload = response.read()
                status = response.status
                retry_after = response.getheader("Retry-After")
                content_type = response.getheader("Content-Type")
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
                status = None
            now = time.time()
            with acc.lock:
                acc.requests += 1
                if status is None:
                    acc.connection_errors += 1
                else:
                    acc.statuses[status] += 1
                if status is not None and 200 <= status < 300:
                    acc.acknowledged.update(ids)
                    if acc.fault_ended_at is not None and acc.first_success_after_fault is None:
                        acc.first_success_after_fault = now
                    break
                acc.first_failure_at = acc.first_failure_at or now
                acc.last_failure_at = now
                if status == 503:
                    ok_json = content_type == "application/json" and payload.startswith(b"{")
                    if not (ok_json and retry_after and retry_after.isdigit()):
                        acc.bad_503s.append(f"{content_type} {retry_after} {payload[:80]!r}")
            if status is not None and 400 <= status < 500:
                break  # a client error would repeat forever; the tests assert there are none
            time.sleep(0.2)
    if connection is not None:
        connection.close()


def restart_postgres(acc: Accounting) -> None:
    """Restart the machine's PostgreSQL cluster (root only); marks the fault window."""
    version = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True, check=True).stdout.split()[0]
    acc.fault_started_at = time.time()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True, capture_output=True, timeout=60,
    )
    for _ in range(100):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"], check=False).returncode == 0:
            break
        time.sleep(0.1)
    acc.fault_ended_at = time.time()


def soak(*, port: int | None = None, ports: list[int] | None = None, token: str, seconds: float, producers: int = 8,
         fault_at: float | None = None) -> Accounting:
    """Run producers for `seconds`, spread round-robin over the servers on `ports` (or `port`);
    with fault_at, restart PostgreSQL that many seconds in."""
    ports = ports or [port]
    acc = Accounting()
    stop = threading.Event()
    run = uuid.uuid4().hex[:8]
    threads = [
        threading.Thread(target=_producer, args=(ports[i % len(ports)], token, i, stop, acc, run), daemon=True)
        for i in range(producers)
    ]
    for thread in threads:
        thread.start()
    started = time.time()
    if fault_at is not None:
        time.sleep(fault_at)
        restart_postgres(acc)
    time.sleep(max(0.0, seconds - (time.time() - started)))
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return acc


def free_port(*, from_the_top: bool = False) -> int:
    """A port of PORTS where nothing listens now (bound to check, then released)."""
    for port in reversed(PORTS) if from_the_top else PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@contextlib.contextmanager
def live_gunicorn(*, database_url: str | None, log_dir: Path, **extra_env: str):
    """gunicorn started the production way (Procfile command, eventsite.settings, no EVENTSITE_TESTING)
    on 127.0.0.1; yields (port, process). Its access log is log_dir/access.log, errors log_dir/error.log.
    database_url=None runs the embedded default (SQLite under EVENTSITE_VAR_DIR, log_dir/var unless given)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTSITE_TESTING", "DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",  # plain http on loopback; production sits behind TLS
        SECURE_COOKIES="false",
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        WEB_THREADS="4",
        ACCESS_LOG=str(log_dir / "access.log"),
        LOG_LEVEL="WARNING",
        EVENTSITE_VAR_DIR=str(log_dir / "var"),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra_env)
    error_log = open(log_dir / "error.log", "ab")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "eventsite.wsgi", "-c", "python:eventsite.gunicorn_conf"],
        cwd=ROOT, env=env, stdout=error_log, stderr=error_log, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {(log_dir / 'error.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start within 30 s")
            time.sleep(0.2)
        yield port, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        error_log.close()


def print_figures(title: str, figures: dict) -> None:
    print(f"\n{title}")
    for label, value in figures.items():
        print(f"  {label:<40} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/eventsite_soak")
    parser.add_argument("--restart-postgres-at", type=float, default=None, help="seconds into the run (root only)")
    parser.add_argument("--instances", type=int, default=1,
                        help="gunicorn instances on different ports, sharing PostgreSQL and Redis; producers spread")
    args = parser.parse_args()

    import tempfile

    import psycopg2

    from bench.common import manage, recreate_database

    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "soak")
    token = manage(args.database_url, "issue_token", "soak", "--scope", "ingest").split()[-1]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as servers:
        ports = []
        for n in range(args.instances):
            log_dir = Path(tmp) / f"instance-{n}"
            log_dir.mkdir()
            ports.append(servers.enter_context(live_gunicorn(database_url=args.database_url, log_dir=log_dir))[0])
        acc = soak(ports=ports, token=token, seconds=args.seconds, producers=args.producers,
                   fault_at=args.restart_postgres_at)
    with psycopg2.connect(args.database_url) as db, db.cursor() as cursor:
        cursor.execute("SELECT event_id FROM events_event")
        stored_ids = [row[0] for row in cursor.fetchall()]
    stored = set(stored_ids)
    figures = acc.figures(len(stored_ids), len(stored))
    print_figures(f"soak: {args.seconds:.0f} s, {args.producers} producers, {args.instances} gunicorn instance(s) "
                  f"of 2 workers x 4 threads", figures)
    ok = (
        len(stored_ids) == len(stored)  # no duplicates
        and acc.acknowledged <= stored  # every acknowledged event is stored
        and stored <= acc.sent
        and acc.server_errors == 0
        and not acc.bad_503s
    )
    if args.restart_postgres_at is None:
        ok = ok and stored == acc.acknowledged and not acc.statuses.get(503) and not acc.connection_errors
    print("  result:", "OK" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
