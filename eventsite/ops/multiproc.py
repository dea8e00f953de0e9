"""prometheus_client's multiprocess mode: every gunicorn worker and Celery process writes its
figures into files of one directory, and /metrics adds them up.

configure() must run before prometheus_client is imported (the library picks its value class
at import): eventsite.settings, eventsite.celery and eventsite.gunicorn_conf call it first thing.
It is on when METRICS_TOKEN is set (or PROMETHEUS_MULTIPROC_DIR explicitly); otherwise the
figures stay in process memory and nothing touches the disk.
"""

import os
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def default_dir() -> Path:
    base = os.environ.get("EVENTSITE_VAR_DIR") or str(Path(__file__).resolve().parent.parent.parent / "var")
    return Path(base) / "prometheus"


def configure() -> Path | None:
    if not os.environ.get(ENV):
        if not os.environ.get("METRICS_TOKEN"):
            return None
        os.environ[ENV] = str(default_dir())
    path = Path(os.environ[ENV])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_files(path: Path | None = None) -> int:
    """At start-up: drop the files of processes that no longer run (an earlier run's).

    Web and worker processes share the directory and start in any order, so a starting process
    must not wipe the live files of the others; files are named <kind>_<pid>.db.
    """
    path = path or configure()
    if path is None:
        return 0
    removed = 0
    for file in path.glob("*.db"):
        try:
            pid = int(file.stem.rsplit("_", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            file.unlink(missing_ok=True)
            removed += 1
    return removed


def mark_process_dead(pid: int) -> None:
    """A worker exited: its live gauges stop counting (its counters stay in the sums)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
