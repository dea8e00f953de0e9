"""Summarise py-spy raw (collapsed) stacks of the gunicorn workers into the shares of issue 16.

    .venv/bin/python -m bench.profile_summary DIR/single-cpu.txt [DIR/single-wall.txt ...]

Each sample is given to the innermost frame that belongs to a known part (walking from the leaf
towards the root): a C call (orjson, psycopg2) shows as the Python line that makes it, so a leaf
line that calls orjson counts as orjson. `*-gil.txt` files (py-spy --gil) count the samples of the
thread holding the GIL (a worker process runs Python on one core at a time: this is its capacity);
`*-wall.txt` files (with --idle) count every thread's time, waiting included, and also show the
request threads' time alone (the gunicorn main loop and idle pool threads left out).
"""

import collections
import re
import sys
from functools import cache
from pathlib import Path

from bench.common import ROOT

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+):(?P<line>\d+)\)$")
PARTS = (
    "Django request handling (handler, middleware, request/response objects)",
    "our parsing and validation (events/parsing, identities, body decoding)",
    "token check and rate limit",
    "orjson (loads and dumps)",
    "ingest service: group commit (SQL text, params, grouping)",
    "psycopg2 and Django's DB layer (incl. waiting for PostgreSQL)",
    "group-commit waiting (for another request's statement)",
    "metrics and spool bookkeeping",
    "gunicorn / gthread (HTTP parsing, response writing, event loop)",
    "idle (waiting for a request or connection; background threads)",
    "other",
)


@cache
def source_line(file: str, line: int) -> str:
    for base in (ROOT, *(Path(p) for p in sys.path if p)):
        path = base / file
        if path.is_file():
            lines = path.read_text(errors="replace").splitlines()
            return lines[line - 1] if 0 < line <= len(lines) else ""
    return ""


def part_of(frames: list[tuple[str, str, int]]) -> str:
    files = [file for _, file, _ in frames]
    leaf_func, leaf_file, _ = frames[-1]
    if leaf_file.endswith("threading.py") and leaf_func.split(".")[-1] in ("wait", "_wait_for_tstate_lock"):
        if any(file.endswith("events/groupcommit.py") for file in files):
            return PARTS[6]
    if not any("django/core/handlers/wsgi.py" in file for file in files):
        if any(file.startswith("gunicorn/") for file in files) and not leaf_file.endswith(
                ("selectors.py", "queue.py", "threading.py", "concurrent/futures/thread.py", "arbiter.py")):
            return PARTS[8]
        return PARTS[9]  # waiting for work, or a background thread (the spool's drain, the arbiter)
    for _func, file, line in reversed(frames):
        if "orjson." in source_line(file, line):
            return PARTS[3]
        if file.startswith(("django/db/", "psycopg2/")):
            return PARTS[5]
        if file.startswith(("prometheus_client/", "eventsite/lib/metrics.py", "events/spool.py")):
            return PARTS[7]
        if file.startswith(("events/parsing.py", "events/identities.py", "eventsite/lib/jsonbody.py")):
            return PARTS[1]
        if file.startswith(("eventsite/http/auth.py", "eventsite/http/ratelimit.py", "tokens/")):
            return PARTS[2]
        if file.startswith(("events/groupcommit.py", "events/services.py")):
            return PARTS[4]
        if file.startswith(("django/", "whitenoise/", "eventsite/")):
            return PARTS[0]
        if file.startswith("gunicorn/"):
            return PARTS[8]
    return PARTS[10]


def parse(path: Path):
    for text in path.read_text().splitlines():
        stack, _, count = text.rpartition(" ")
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame)
            if match:
                frames.append((match["func"], match["file"], int(match["line"])))
        if frames:
            yield frames, int(count)


def summarise(path: Path) -> dict[str, int]:
    shares: collections.Counter = collections.Counter()
    for frames, count in parse(path):
        shares[part_of(frames)] += count
    return shares


def table(title: str, shares: dict[str, int], leave_out: tuple[str, ...] = ()) -> None:
    total = sum(count for part, count in shares.items() if part not in leave_out)
    print(f"{title} ({total:,} samples)")
    for part in PARTS:
        if part not in leave_out and shares.get(part):
            print(f"  {part:<72} {shares[part] / total:6.1%}")


def main() -> None:
    for name in sys.argv[1:]:
        path = Path(name)
        shares = summarise(path)
        if path.stem.endswith("-wall"):
            table(f"{path.name}: every worker thread, waiting included", shares)
            table(f"{path.name}: request threads only", shares, leave_out=(PARTS[8], PARTS[9]))
        else:
            table(f"{path.name}: samples holding the GIL (py-spy --gil)", shares)
        print()


if __name__ == "__main__":
    main()
