"""Soak with accounting: concurrent producers post single events and batches, each event with a
unique event_id, to POST /api/v2/events/post_event of a live gunicorn; at the end the events
stored must be exactly the events acknowledged (2xx), with no duplicates and no 5xx.

    make soak                                   # 120 s, 8 producers, on a scratch database
    .venv/bin/python -m bench.soak --seconds 600 --producers 16 [--restart-postgres-at 60] [--instances 2]
    .venv/bin/python -m bench.soak --stop-postgres-for 20   # PostgreSQL stopped, the spool takes over

With --stop-postgres-for the producers never retry (Barchart's client, beacons): every request
must be answered 2xx and the events stored must equal the acknowledged ones (issue 13).

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
import shlex
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


def restart_postgres(acc: Accounting, database_url: str) -> None:
    """Restart the PostgreSQL cluster behind database_url (root only); marks the fault window."""
    cluster = postgres_cluster(database_url)
    acc.fault_started_at = time.time()
    subprocess.run(cluster["restart"], check=True, capture_output=True, timeout=60)
    while not _pg_ready(database_url):
        time.sleep(0.1)
    acc.fault_ended_at = time.time()


def soak(*, port: int | None = None, ports: list[int] | None = None, token: str, seconds: float, producers: int = 8,
         fault_at: float | None = None, database_url: str = "") -> Accounting:
    """Run producers for `seconds`, spread round-robin over the servers on `ports` (or `port`);
    with fault_at, restart the PostgreSQL cluster behind database_url that many seconds in."""
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
        restart_postgres(acc, database_url)
    time.sleep(max(0.0, seconds - (time.time() - started)))
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return acc


# --- PostgreSQL stopped for a while, producers that never retry (issue 13) ---------------------

# (name, path, body builder): every family's ingest endpoint; each event carries a unique marker
# (event_id, or the first context value for Barchart, whose events have no id).
FAMILIES = ("ksense", "barchart", "jitsu", "jitsu-s2s")
MARKER_SQL = "SELECT COALESCE(event_id, payload->'context'->>0) FROM events_event WHERE datasource_id = %s"


def _family_request(family: str, token: str, markers: list[str]) -> tuple[str, bytes, dict]:
    now_ms = int(time.time() * 1000)
    json_headers = {"Content-Type": "application/json"}
    if family == "ksense":
        events = [{"event_id": m, "type": "outage", "user_id": {"internal_id": m[-3:]}} for m in markers]
        body = orjson.dumps(events[0] if len(events) == 1 else events)
        return URL_PATH, body, {**json_headers, "X-KSense-Tok": token}
    if family == "barchart":  # the real client: no credentials, the datasource open to unauthenticated posts
        events = [{"customer": "BARCHART", "product": "WATCHLIST", "type": "OUTAGE", "timestamp": now_ms,
                   "context": [m, "AAPL"]} for m in markers]
        return "/events", orjson.dumps({"events": events}), json_headers
    path = "/api/v1/event" if family == "jitsu" else "/api/v1/s2s/event"
    events = [{"event_id": m, "event_type": "outage", "user": {"anonymous_id": m[-3:]}} for m in markers]
    return f"{path}?token={token}", orjson.dumps(events[0] if len(events) == 1 else events), \
        {"Content-Type": "text/plain"}


@dataclass
class OutageAccounting:
    sent: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    # events of requests that got no answer (a killed worker): they may or may not be stored
    unanswered: set[str] = field(default_factory=set)
    requests: Counter = field(default_factory=Counter)  # (family, status or "connection error")
    lost: Counter = field(default_factory=Counter)  # events dropped by a non-retrying client, per family
    sent_during_outage: int = 0
    acknowledged_during_outage: int = 0
    outage_started_at: float | None = None
    outage_ended_at: float | None = None  # PostgreSQL accepts connections again
    lock: threading.Lock = field(default_factory=threading.Lock)

    def in_outage(self, at: float) -> bool:
        return self.outage_started_at is not None and at >= self.outage_started_at and (
            self.outage_ended_at is None or at <= self.outage_ended_at)

    @property
    def non_2xx(self) -> int:
        return sum(n for (_family, status), n in self.requests.items() if not (isinstance(status, int)
                                                                              and 200 <= status < 300))


def _outage_producer(port: int, token: str, family: str, index: int, stop: threading.Event,
                     acc: OutageAccounting, run: str, pause: float) -> None:
    """Posts a batch (1-20 events) every `pause` seconds and never retries: a non-2xx answer or a
    broken connection loses the batch, as with Barchart's EventBatcher, beacons and scripts."""
    rng = random.Random(f"{family}-{index}")
    n = 0
    while not stop.is_set():
        size = 1 if rng.random() < 0.4 else rng.randint(2, 20)
        markers = [f"{run}-{family}-{index}-{n + i}" for i in range(size)]
        n += size
        path, body, headers = _family_request(family, token, markers)
        started = time.time()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = "connection error"
        finally:
            connection.close()
        with acc.lock:
            acc.sent.update(markers)
            acc.requests[(family, status)] += 1
            during = acc.in_outage(started)
            if during:
                acc.sent_during_outage += size
            if isinstance(status, int) and 200 <= status < 300:
                acc.acknowledged.update(markers)
                if during:
                    acc.acknowledged_during_outage += size
            else:
                acc.lost[family] += size
                if status == "connection error":
                    acc.unanswered.update(markers)
        time.sleep(pause)


def _postmaster_opts(data_directory: str) -> list[str]:
    return shlex.split(Path(data_directory, "postmaster.opts").read_text())


def postgres_cluster(database_url: str) -> dict:
    """How to stop and start the cluster behind database_url (as root): pg_ctlcluster for a Debian
    cluster (the machine's, in CI), else pg_ctl as the data directory's owner with the options
    the server was started with (a private development cluster)."""
    import psycopg2

    with psycopg2.connect(database_url) as db, db.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        data_directory = cursor.fetchone()[0]
    owner = Path(data_directory).owner()
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False).stdout
    for line in clusters.splitlines():
        version, name, _port, _status, _owner, directory, *_ = line.split()
        if directory.rstrip("/") == data_directory.rstrip("/"):
            ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name]
            return {"stop": [*ctl, "stop", "-m", "fast"], "start": [*ctl, "start"], "restart": [*ctl, "restart"],
                    "url": database_url}
    opts = _postmaster_opts(data_directory)
    pg_ctl = str(Path(opts[0]).parent / "pg_ctl")
    options = " ".join(shlex.quote(arg) for arg in opts[1:] if arg not in ("-D", data_directory))
    as_owner = ["runuser", "-u", owner, "--"] if os.geteuid() == 0 and owner != "root" else []
    log = Path(data_directory).parent / "outage-test.log"
    return {
        "stop": [*as_owner, pg_ctl, "-D", data_directory, "-m", "fast", "-w", "stop"],
        "start": [*as_owner, pg_ctl, "-D", data_directory, "-o", options, "-l", str(log), "-w", "start"],
        "restart": [*as_owner, pg_ctl, "-D", data_directory, "-m", "fast", "-l", str(log), "-w", "restart"],
        "url": database_url,
    }


def _pg_ready(database_url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(database_url, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def stop_postgres_for(cluster: dict, seconds: float, acc: OutageAccounting, during=None) -> None:
    """Stop the cluster (not a restart: it is down for `seconds`), call during() meanwhile, start it."""
    with acc.lock:
        acc.outage_started_at = time.time()
    subprocess.run(cluster["stop"], check=True, capture_output=True, timeout=120)
    down_until = acc.outage_started_at + seconds
    if during is not None:
        during()
    time.sleep(max(0.0, down_until - time.time()))
    subprocess.run(cluster["start"], check=True, capture_output=True, timeout=120)
    while not _pg_ready(cluster["url"]):
        time.sleep(0.1)
    with acc.lock:
        acc.outage_ended_at = time.time()


def stored_markers(database_url: str, datasource_id: int) -> list[str]:
    import psycopg2

    with psycopg2.connect(database_url) as db, db.cursor() as cursor:
        cursor.execute(MARKER_SQL, [datasource_id])
        return [row[0] for row in cursor.fetchall()]


def wait_until_drained(database_url: str, datasource_id: int, acc: OutageAccounting, timeout: float = 180) -> float:
    """Seconds from PostgreSQL being back until every acknowledged event is stored (or timeout)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if acc.acknowledged <= set(stored_markers(database_url, datasource_id)):
            break
        time.sleep(0.25)
    return round(time.time() - acc.outage_ended_at, 2)


def outage_soak(*, port: int, token: str, database_url: str, datasource_id: int, seconds: float,
                stop_for: float, stop_at: float = 5, producers_per_family: int = 2, pause: float = 0.1,
                during=None, after=None) -> tuple[OutageAccounting, dict]:
    """Non-retrying producers through every family for `seconds`; PostgreSQL is stopped `stop_at`
    seconds in for `stop_for` seconds. during()/after() run while it is down / once it is back.
    Returns the accounting and the figures (drain time included)."""
    acc = OutageAccounting()
    stop = threading.Event()
    run = uuid.uuid4().hex[:8]
    threads = [
        threading.Thread(target=_outage_producer, args=(port, token, family, i, stop, acc, run, pause), daemon=True)
        for family in FAMILIES for i in range(producers_per_family)
    ]
    cluster = postgres_cluster(database_url)
    for thread in threads:
        thread.start()
    # Every family must have been served once before the outage: only what the server verified
    # (tokens, the open Barchart datasource) is trusted while the database is away, and gunicorn's
    # workers may still be loading the application when the port opens.
    deadline = time.time() + 60
    while time.time() < deadline and not all(acc.requests.get((family, 200)) for family in FAMILIES):
        time.sleep(0.1)
    time.sleep(stop_at)
    stop_postgres_for(cluster, stop_for, acc, during=during)
    if after is not None:
        after()
    time.sleep(max(0.0, seconds - stop_at - stop_for))
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    drain_seconds = wait_until_drained(database_url, datasource_id, acc)
    stored = stored_markers(database_url, datasource_id)
    figures = {
        "requests": sum(acc.requests.values()),
        "requests not 2xx": acc.non_2xx,
        "answers": dict(sorted(Counter({f"{family} {status}": n for (family, status), n in acc.requests.items()})
                               .items())),
        "PostgreSQL stopped for (s)": round(acc.outage_ended_at - acc.outage_started_at, 1),
        "events sent during the outage": acc.sent_during_outage,
        "events acknowledged during the outage": acc.acknowledged_during_outage,
        "events sent": len(acc.sent),
        "events acknowledged (2xx)": len(acc.acknowledged),
        "events stored": len(stored),
        "distinct events stored": len(set(stored)),
        "events lost by non-retrying clients": dict(acc.lost) or 0,
        "drain: all acknowledged stored, s after PostgreSQL back": drain_seconds,
    }
    return acc, figures


def free_port(*, from_the_top: bool = False) -> int:
    """A port of PORTS where nothing listens now (bound to check, then released).

    The scan starts at a random place of its half of the range: processes started at the same
    moment (tests of several checkouts on one machine) would otherwise all pick the first port, and
    a server whose bind lost that race would be mistaken for the one that won it."""
    half = len(PORTS) // 2
    ports = list(reversed(PORTS))[:half] if from_the_top else list(PORTS)[:half]
    start = random.randrange(len(ports))
    for port in ports[start:] + ports[:start]:
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
        # Its own failed-auth counters in a shared Redis: one test's bad credentials (the fuzz
        # test sends hundreds) must not rate-limit the next server started in the same minute.
        # Servers that must share them (tests/test_instances.py) pass one prefix.
        CACHE_KEY_PREFIX=f"live-{secrets.token_hex(8)}",
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
        stop_process_group(process)
        error_log.close()


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM a server started with start_new_session, and SIGKILL it if it lingers past 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
    parser.add_argument(
        "--stop-postgres-for", type=float, default=None, metavar="SECONDS",
        help="stop the PostgreSQL cluster behind --database-url for SECONDS, 10 s into the run, with "
             "non-retrying producers through every family (root only; never on a shared cluster)",
    )
    args = parser.parse_args()
    if args.stop_postgres_for is not None:
        raise SystemExit(main_outage(args))

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
                   fault_at=args.restart_postgres_at, database_url=args.database_url)
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


def main_outage(args) -> int:
    """--stop-postgres-for: acknowledged must equal stored, every request 2xx, nothing lost."""
    import tempfile

    import psycopg2

    from bench.common import manage, recreate_database

    recreate_database(args.database_url)
    manage(args.database_url, "create_datasource", "soak")
    token = manage(args.database_url, "issue_token", "soak", "--scope", "ingest").split()[-1]
    with psycopg2.connect(args.database_url) as db, db.cursor() as cursor:
        # The Barchart producers post without credentials, as the real client does.
        cursor.execute("UPDATE events_datasource SET accepts_unauthenticated_events = true WHERE slug = 'soak' "
                       "RETURNING id")
        datasource_id = cursor.fetchone()[0]
    per_family = max(1, args.producers // len(FAMILIES))
    stop_at = 10.0
    seconds = max(args.seconds, stop_at + args.stop_postgres_for + 10)
    with tempfile.TemporaryDirectory() as tmp, live_gunicorn(database_url=args.database_url, log_dir=Path(tmp)) as (
        port, _process,
    ):
        acc, figures = outage_soak(port=port, token=token, database_url=args.database_url,
                                   datasource_id=datasource_id, seconds=seconds, stop_for=args.stop_postgres_for,
                                   stop_at=stop_at, producers_per_family=per_family)
        errors = [line for line in Path(tmp, "error.log").read_text().splitlines()
                  if " ERROR " in line and "Service Unavailable" not in line or "Traceback" in line or "Error:" in line]
    stored = stored_markers(args.database_url, datasource_id)
    print_figures(f"soak: {seconds:.0f} s, PostgreSQL stopped {args.stop_postgres_for:.0f} s from {stop_at:.0f} s, "
                  f"{per_family * len(FAMILIES)} non-retrying producers (kSense, Barchart, Jitsu x2)", figures)
    ok = len(stored) == len(set(stored)) and set(stored) == acc.acknowledged and acc.non_2xx == 0
    print("  result:", "OK (acknowledged == stored, every request 2xx)" if ok else "MISMATCH")
    for line in errors[:40]:  # what the server logged as errors (no 500 is expected)
        print("  server:", line[:300])
    return 0 if ok else 1


if __name__ == "__main__":
    main()
