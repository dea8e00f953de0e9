"""Shared plumbing for the benchmark scripts: a scratch PostgreSQL database, a gunicorn server
started the production way, wrk as the load generator, and figure printing.

Everything runs on 127.0.0.1. Nothing here is imported by the product or the test suite.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/eventsite_bench"


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="bench.settings",
        SECRET_KEY="bench-" + "x" * 60,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        ACCESS_LOG="",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def recreate_database(database_url: str) -> None:
    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(
        host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres", dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=bench_env(database_url), check=True
    )


def manage(database_url: str, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=bench_env(database_url), check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(database_url: str, *, workers: int = 2, threads: int = 1, **extra_env: str):
    """gunicorn as the Procfile runs it, on a free loopback port; yields the base URL."""
    port = free_port()
    env = bench_env(
        database_url, PORT=str(port), HOST="127.0.0.1", WEB_CONCURRENCY=str(workers), WEB_THREADS=str(threads),
        **extra_env,
    )
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "eventsite.wsgi", "-c", "python:eventsite.gunicorn_conf"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        # With reuse_port the port answers as soon as one worker listens: wait for the others too.
        while len(worker_pids(process.pid)) < workers and time.monotonic() < deadline + 30:
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def worker_pids(master: int) -> list[int]:
    """The child processes of a gunicorn master (its workers)."""
    try:
        return [int(child) for child in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    except FileNotFoundError:
        return []


def connections_by_worker(port: int, workers: list[int]) -> dict[int, int]:
    """How many established connections to the server's port each worker holds."""
    output = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                            capture_output=True, text=True).stdout
    counts = dict.fromkeys(workers, 0)
    for pid in re.findall(r"pid=(\d+)", output):
        if int(pid) in counts:
            counts[int(pid)] += 1
    return counts


def process_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(FileNotFoundError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    for one in pids:
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


_LUA_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{headers}
local f = io.open("{body_file}", "rb")
wrk.body = f:read("*a")
f:close()
"""


def wrk(url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None,
        seconds: int = 10, threads: int = 2, connections: int = 8) -> dict[str, float]:
    """Run wrk against url (POSTing body if given); return requests/s, p50/p99 ms, non-2xx count."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
        if body is not None:
            body_file = Path(tmp) / "body.json"
            body_file.write_bytes(body)
            header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
            script = Path(tmp) / "post.lua"
            script.write_text(_LUA_POST.format(headers=header_lines, body_file=body_file))
            args += ["-s", str(script)]
        output = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> dict[str, float]:
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", output, re.MULTILINE)
        figures[f"p{pct}_ms"] = _ms(match.group(1)) if match else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["non_2xx"] = int(errors.group(1)) if errors else 0
    socket_errors = re.search(r"Socket errors:.*", output)
    figures["socket_errors"] = socket_errors.group(0) if socket_errors else ""
    return figures


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<64} {value:>12}  {note}")
