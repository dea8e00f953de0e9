"""/healthz (liveness, no I/O) and /readyz (readiness: database, task broker, object storage, spool).

Each readiness check runs in its own thread and the answer waits at most READYZ_TIMEOUT_SECONDS
(1.5 s by default) for all of them, so a blackholed dependency makes /readyz answer 503 in time
instead of hanging the load balancer's probe. A check still running from an earlier probe is not
started again (one thread per check and process at most); it reports "timeout" until it ends.
Answers carry no version, host name or error text: only each check's status and timing.
"""

import importlib.util
import threading
import time
from collections.abc import Callable

import orjson
from django.conf import settings
from django.db import connections
from django.http import HttpResponse

OK, FAILED, TIMEOUT = "ok", "failed", "timeout"


def _json(data: dict, status: int = 200) -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def healthz(request) -> HttpResponse:
    return _json({"status": "ok"})


def check_database() -> dict:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # A lock-bound or overloaded server must not hold the probe thread for long.
                cursor.execute("SET statement_timeout = 1000")
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # This thread is the probe's own: its connection is closed, never pooled.
        connection.close()
    return {}


def check_broker() -> dict:
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
        return {}
    from pathlib import Path

    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    if not folder.is_dir():
        raise OSError("the broker folder is missing")
    return {}


def check_storage() -> dict:
    from reports import storage

    storage.check()
    return {}


def spool_status() -> dict | None:
    """The ingest spool's state, when this build has one (events.spool.spool_status)."""
    if importlib.util.find_spec("events.spool") is None:
        return None
    from events import spool

    status = getattr(spool, "spool_status", None)
    return status() if status is not None else None


def check_spool() -> dict:
    status = spool_status() or {}
    # The spool exists so that ingest goes on when the database does not: a full spool (or an
    # old one) is reported, and fails readiness only when the spool can take nothing more.
    details = {key: status.get(key) for key in ("records", "bytes", "oldest_record_age_seconds") if key in status}
    if status.get("max_bytes") and status.get("bytes", 0) >= status["max_bytes"]:
        raise OSError("the spool is full")
    if status.get("warning"):
        details["warning"] = True
    return details


def checks() -> dict[str, Callable[[], dict]]:
    registered = {"database": check_database, "broker": check_broker, "storage": check_storage}
    if importlib.util.find_spec("events.spool") is not None:
        registered["spool"] = check_spool
    return registered


_running: dict[str, threading.Thread] = {}
_running_lock = threading.Lock()


def _run(name: str, check: Callable[[], dict], results: dict) -> None:
    started = time.perf_counter()
    try:
        details = check()
        results[name] = {"status": OK, **details}
    except Exception:  # noqa: BLE001 - any failure of a dependency makes the instance not ready
        results[name] = {"status": FAILED}
    results[name]["seconds"] = round(time.perf_counter() - started, 4)


def run_checks(timeout: float | None = None) -> dict[str, dict]:
    timeout = settings.READYZ_TIMEOUT_SECONDS if timeout is None else timeout
    results: dict[str, dict] = {}
    started: dict[str, threading.Thread] = {}
    for name, check in checks().items():
        with _running_lock:
            previous = _running.get(name)
            if previous is not None and previous.is_alive():
                results[name] = {"status": TIMEOUT, "seconds": None}
                continue
            thread = threading.Thread(target=_run, args=(name, check, results), name=f"readyz-{name}", daemon=True)
            _running[name] = thread
        thread.start()
        started[name] = thread
    deadline = time.monotonic() + timeout
    for thread in started.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    for name in started:
        if name not in results:
            results[name] = {"status": TIMEOUT, "seconds": round(timeout, 4)}
    return {name: results[name] for name in checks() if name in results}


def readyz(request) -> HttpResponse:
    results = run_checks()
    failed = sorted(name for name, result in results.items() if result["status"] != OK)
    body = {"status": "ok" if not failed else "unavailable", "checks": results}
    if failed:
        body["failed"] = failed
    return _json(body, status=503 if failed else 200)
